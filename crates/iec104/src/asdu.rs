//! Application service data units (IEC 60870-5-101 §7 with the IEC 60870-5-104 parameters:
//! common address 2 octets, information object address 3 octets, cause of transmission 2 octets
//! with originator address).
//!
//! [`Asdu::decode`] takes exactly one ASDU (the APCI layer has already cut it out of the APDU)
//! and never panics. Errors that happen after the data unit identifier was read carry an
//! [`AsduHeader`], so a controlled station can answer an unknown type or cause with the standard
//! negative confirmation (COT 44/45) mirroring the request ([`negative_reply`]).
//! [`Asdu::encode`] checks everything a peer would check (element kind against type id, object
//! count, consecutive addresses for SQ=1, the 249-octet limit) and appends to the caller's buffer.
//!
//! Not here: which cause is allowed with which type in which direction, and address lookups; those
//! are station decisions ([`Asdu::reply`] builds the answers).

use std::fmt;

use thiserror::Error;

use crate::time::{CP56_LEN, Cp56Time2a};

/// Largest ASDU in IEC 60870-5-104: an APDU holds at most 253 octets, 4 of them control field.
pub const ASDU_MAX_LEN: usize = 249;
/// Length of the data unit identifier: type, VSQ, COT (2), common address (2).
pub const HEADER_LEN: usize = 6;
/// Length of an information object address.
pub const IOA_LEN: usize = 3;
/// Largest information object address (24 bits).
pub const IOA_MAX: u32 = 0x00ff_ffff;
/// Largest number of objects the 7-bit VSQ count can announce.
pub const MAX_OBJECTS: usize = 127;
/// QOI of a station (general) interrogation.
pub const QOI_STATION: u8 = 20;

/// Type identification: which information elements the objects carry. Only the types the gateway
/// handles are listed; any other code decodes to [`AsduError::UnknownType`] (answered with COT 44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TypeId {
    /// M_SP_NA_1: single-point information.
    MSpNa1 = 1,
    /// M_DP_NA_1: double-point information.
    MDpNa1 = 3,
    /// M_ST_NA_1: step position information.
    MStNa1 = 5,
    /// M_BO_NA_1: bitstring of 32 bits.
    MBoNa1 = 7,
    /// M_ME_NA_1: measured value, normalized.
    MMeNa1 = 9,
    /// M_ME_NB_1: measured value, scaled.
    MMeNb1 = 11,
    /// M_ME_NC_1: measured value, short floating point.
    MMeNc1 = 13,
    /// M_IT_NA_1: integrated totals.
    MItNa1 = 15,
    /// M_SP_TB_1: single-point information with CP56Time2a.
    MSpTb1 = 30,
    /// M_DP_TB_1: double-point information with CP56Time2a.
    MDpTb1 = 31,
    /// M_ST_TB_1: step position information with CP56Time2a.
    MStTb1 = 32,
    /// M_BO_TB_1: bitstring of 32 bits with CP56Time2a.
    MBoTb1 = 33,
    /// M_ME_TD_1: measured value, normalized, with CP56Time2a.
    MMeTd1 = 34,
    /// M_ME_TE_1: measured value, scaled, with CP56Time2a.
    MMeTe1 = 35,
    /// M_ME_TF_1: measured value, short floating point, with CP56Time2a.
    MMeTf1 = 36,
    /// M_IT_TB_1: integrated totals with CP56Time2a.
    MItTb1 = 37,
    /// C_SC_NA_1: single command.
    CScNa1 = 45,
    /// C_DC_NA_1: double command.
    CDcNa1 = 46,
    /// C_RC_NA_1: regulating step command.
    CRcNa1 = 47,
    /// C_SE_NA_1: set-point command, normalized value.
    CSeNa1 = 48,
    /// C_SE_NB_1: set-point command, scaled value.
    CSeNb1 = 49,
    /// C_SE_NC_1: set-point command, short floating point value.
    CSeNc1 = 50,
    /// C_SC_TA_1: single command with CP56Time2a.
    CScTa1 = 58,
    /// C_DC_TA_1: double command with CP56Time2a.
    CDcTa1 = 59,
    /// C_RC_TA_1: regulating step command with CP56Time2a.
    CRcTa1 = 60,
    /// C_SE_TA_1: set-point command, normalized value, with CP56Time2a.
    CSeTa1 = 61,
    /// C_SE_TB_1: set-point command, scaled value, with CP56Time2a.
    CSeTb1 = 62,
    /// C_SE_TC_1: set-point command, short floating point value, with CP56Time2a.
    CSeTc1 = 63,
    /// M_EI_NA_1: end of initialization.
    MEiNa1 = 70,
    /// C_IC_NA_1: interrogation command.
    CIcNa1 = 100,
    /// C_CI_NA_1: counter interrogation command.
    CCiNa1 = 101,
    /// C_RD_NA_1: read command.
    CRdNa1 = 102,
    /// C_CS_NA_1: clock synchronization command.
    CCsNa1 = 103,
    /// C_TS_TA_1: test command with CP56Time2a.
    CTsTa1 = 107,
}

/// Returned by `TypeId::try_from` for a code this codec does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("type identification {0} is not supported")]
pub struct UnknownTypeId(pub u8);

impl TypeId {
    /// Every supported type, in code order (for tests, tables and fuzzers).
    pub const ALL: [TypeId; 34] = [
        TypeId::MSpNa1,
        TypeId::MDpNa1,
        TypeId::MStNa1,
        TypeId::MBoNa1,
        TypeId::MMeNa1,
        TypeId::MMeNb1,
        TypeId::MMeNc1,
        TypeId::MItNa1,
        TypeId::MSpTb1,
        TypeId::MDpTb1,
        TypeId::MStTb1,
        TypeId::MBoTb1,
        TypeId::MMeTd1,
        TypeId::MMeTe1,
        TypeId::MMeTf1,
        TypeId::MItTb1,
        TypeId::CScNa1,
        TypeId::CDcNa1,
        TypeId::CRcNa1,
        TypeId::CSeNa1,
        TypeId::CSeNb1,
        TypeId::CSeNc1,
        TypeId::CScTa1,
        TypeId::CDcTa1,
        TypeId::CRcTa1,
        TypeId::CSeTa1,
        TypeId::CSeTb1,
        TypeId::CSeTc1,
        TypeId::MEiNa1,
        TypeId::CIcNa1,
        TypeId::CCiNa1,
        TypeId::CRdNa1,
        TypeId::CCsNa1,
        TypeId::CTsTa1,
    ];

    /// The type code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The standard mnemonic (`M_SP_NA_1`), as logs and Wireshark show it.
    pub fn name(self) -> &'static str {
        use TypeId::*;
        match self {
            MSpNa1 => "M_SP_NA_1",
            MDpNa1 => "M_DP_NA_1",
            MStNa1 => "M_ST_NA_1",
            MBoNa1 => "M_BO_NA_1",
            MMeNa1 => "M_ME_NA_1",
            MMeNb1 => "M_ME_NB_1",
            MMeNc1 => "M_ME_NC_1",
            MItNa1 => "M_IT_NA_1",
            MSpTb1 => "M_SP_TB_1",
            MDpTb1 => "M_DP_TB_1",
            MStTb1 => "M_ST_TB_1",
            MBoTb1 => "M_BO_TB_1",
            MMeTd1 => "M_ME_TD_1",
            MMeTe1 => "M_ME_TE_1",
            MMeTf1 => "M_ME_TF_1",
            MItTb1 => "M_IT_TB_1",
            CScNa1 => "C_SC_NA_1",
            CDcNa1 => "C_DC_NA_1",
            CRcNa1 => "C_RC_NA_1",
            CSeNa1 => "C_SE_NA_1",
            CSeNb1 => "C_SE_NB_1",
            CSeNc1 => "C_SE_NC_1",
            CScTa1 => "C_SC_TA_1",
            CDcTa1 => "C_DC_TA_1",
            CRcTa1 => "C_RC_TA_1",
            CSeTa1 => "C_SE_TA_1",
            CSeTb1 => "C_SE_TB_1",
            CSeTc1 => "C_SE_TC_1",
            MEiNa1 => "M_EI_NA_1",
            CIcNa1 => "C_IC_NA_1",
            CCiNa1 => "C_CI_NA_1",
            CRdNa1 => "C_RD_NA_1",
            CCsNa1 => "C_CS_NA_1",
            CTsTa1 => "C_TS_TA_1",
        }
    }

    /// Control direction (process commands 45..=63 and system commands 100..=107): what a
    /// controlled station accepts and a controlling station sends.
    pub fn is_command(self) -> bool {
        self.code() >= 45 && self != TypeId::MEiNa1
    }

    /// Process commands with select/execute semantics (single, double, regulating step,
    /// set-points), the ones that must go through command signing and select-before-operate.
    pub fn is_process_command(self) -> bool {
        (45..=63).contains(&self.code())
    }

    /// Monitor direction: process information and end of initialization.
    pub fn is_monitor(self) -> bool {
        !self.is_command()
    }

    /// Status information (single/double point, step position, bitstring), with or without time.
    pub fn is_monitor_status(self) -> bool {
        use TypeId::*;
        matches!(self, MSpNa1 | MDpNa1 | MStNa1 | MBoNa1 | MSpTb1 | MDpTb1 | MStTb1 | MBoTb1)
    }

    /// Measured values (normalized, scaled, short float), with or without time.
    pub fn is_measurement(self) -> bool {
        use TypeId::*;
        matches!(self, MMeNa1 | MMeNb1 | MMeNc1 | MMeTd1 | MMeTe1 | MMeTf1)
    }

    /// Integrated totals (counters), answered to counter interrogation rather than to general
    /// interrogation.
    pub fn is_integrated_totals(self) -> bool {
        matches!(self, TypeId::MItNa1 | TypeId::MItTb1)
    }

    /// The type carries a CP56Time2a after its information element (the TB/TA types and
    /// C_TS_TA_1). C_CS_NA_1 carries time as its element, not as a tag, and answers false.
    pub fn has_time_tag(self) -> bool {
        self.without_time() != self || self == TypeId::CTsTa1
    }

    /// The untagged counterpart of a time-tagged type (M_SP_TB_1 → M_SP_NA_1); other types map
    /// to themselves. A server answering interrogation uses this: interrogated data is untagged.
    pub fn without_time(self) -> TypeId {
        use TypeId::*;
        match self {
            MSpTb1 => MSpNa1,
            MDpTb1 => MDpNa1,
            MStTb1 => MStNa1,
            MBoTb1 => MBoNa1,
            MMeTd1 => MMeNa1,
            MMeTe1 => MMeNb1,
            MMeTf1 => MMeNc1,
            MItTb1 => MItNa1,
            CScTa1 => CScNa1,
            CDcTa1 => CDcNa1,
            CRcTa1 => CRcNa1,
            CSeTa1 => CSeNa1,
            CSeTb1 => CSeNb1,
            CSeTc1 => CSeNc1,
            other => other,
        }
    }

    /// The time-tagged counterpart (M_SP_NA_1 → M_SP_TB_1), for spontaneous transmission; `None`
    /// for types without one (system commands, end of initialization).
    pub fn with_time(self) -> Option<TypeId> {
        use TypeId::*;
        Some(match self {
            MSpNa1 | MSpTb1 => MSpTb1,
            MDpNa1 | MDpTb1 => MDpTb1,
            MStNa1 | MStTb1 => MStTb1,
            MBoNa1 | MBoTb1 => MBoTb1,
            MMeNa1 | MMeTd1 => MMeTd1,
            MMeNb1 | MMeTe1 => MMeTe1,
            MMeNc1 | MMeTf1 => MMeTf1,
            MItNa1 | MItTb1 => MItTb1,
            CScNa1 | CScTa1 => CScTa1,
            CDcNa1 | CDcTa1 => CDcTa1,
            CRcNa1 | CRcTa1 => CRcTa1,
            CSeNa1 | CSeTa1 => CSeTa1,
            CSeNb1 | CSeTb1 => CSeTb1,
            CSeNc1 | CSeTc1 => CSeTc1,
            CTsTa1 => CTsTa1,
            MEiNa1 | CIcNa1 | CCiNa1 | CRdNa1 | CCsNa1 => return None,
        })
    }

    /// Octets of one information element of this type, time tag included, address excluded.
    pub fn element_len(self) -> usize {
        use TypeId::*;
        let base = match self.without_time() {
            MSpNa1 | MDpNa1 | MEiNa1 | CScNa1 | CDcNa1 | CRcNa1 | CIcNa1 | CCiNa1 => 1,
            MStNa1 => 2,
            MMeNa1 | MMeNb1 | CSeNa1 | CSeNb1 => 3,
            MBoNa1 | MMeNc1 | MItNa1 | CSeNc1 => 5,
            CRdNa1 => 0,
            CCsNa1 => CP56_LEN,
            CTsTa1 => 2,
            // without_time never returns a tagged type
            _ => 0,
        };
        if self.has_time_tag() { base + CP56_LEN } else { base }
    }

    /// How many objects of this type fit one ASDU (at most 127), with SQ=0 (`sequence` false,
    /// every object carries its address) or SQ=1 (one address, consecutive objects).
    pub fn max_objects(self, sequence: bool) -> usize {
        let room = ASDU_MAX_LEN - HEADER_LEN;
        let n = match (sequence, self.element_len()) {
            (true, 0) => MAX_OBJECTS,
            (true, len) => (room - IOA_LEN) / len,
            (false, len) => room / (IOA_LEN + len),
        };
        n.min(MAX_OBJECTS)
    }
}

impl TryFrom<u8> for TypeId {
    type Error = UnknownTypeId;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        use TypeId::*;
        Ok(match code {
            1 => MSpNa1,
            3 => MDpNa1,
            5 => MStNa1,
            7 => MBoNa1,
            9 => MMeNa1,
            11 => MMeNb1,
            13 => MMeNc1,
            15 => MItNa1,
            30 => MSpTb1,
            31 => MDpTb1,
            32 => MStTb1,
            33 => MBoTb1,
            34 => MMeTd1,
            35 => MMeTe1,
            36 => MMeTf1,
            37 => MItTb1,
            45 => CScNa1,
            46 => CDcNa1,
            47 => CRcNa1,
            48 => CSeNa1,
            49 => CSeNb1,
            50 => CSeNc1,
            58 => CScTa1,
            59 => CDcTa1,
            60 => CRcTa1,
            61 => CSeTa1,
            62 => CSeTb1,
            63 => CSeTc1,
            70 => MEiNa1,
            100 => CIcNa1,
            101 => CCiNa1,
            102 => CRdNa1,
            103 => CCsNa1,
            107 => CTsTa1,
            other => return Err(UnknownTypeId(other)),
        })
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.code())
    }
}

/// Cause of transmission (6 bits). Codes without a name decode as [`Cause::Other`] when they are
/// in the private range 48..=63; undefined codes (0, 14..=19, 42, 43) are rejected by
/// [`Asdu::decode`] with [`AsduError::UnknownCause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// 1: periodic, cyclic.
    Periodic,
    /// 2: background scan.
    Background,
    /// 3: spontaneous.
    Spontaneous,
    /// 4: initialized.
    Initialized,
    /// 5: request or requested.
    Request,
    /// 6: activation.
    Activation,
    /// 7: activation confirmation.
    ActivationCon,
    /// 8: deactivation.
    Deactivation,
    /// 9: deactivation confirmation.
    DeactivationCon,
    /// 10: activation termination.
    ActivationTerm,
    /// 11: return information caused by a remote command.
    ReturnRemote,
    /// 12: return information caused by a local command.
    ReturnLocal,
    /// 13: file transfer.
    File,
    /// 20: interrogated by station interrogation.
    Interrogated,
    /// 21..=36: interrogated by group 1..=16 interrogation (the field is the group number).
    InterrogatedGroup(u8),
    /// 37: requested by general counter request.
    CounterInterrogated,
    /// 38..=41: requested by group 1..=4 counter request (the field is the group number).
    CounterGroup(u8),
    /// 44: unknown type identification.
    UnknownType,
    /// 45: unknown cause of transmission.
    UnknownCause,
    /// 46: unknown common address of ASDU.
    UnknownCommonAddress,
    /// 47: unknown information object address.
    UnknownObjectAddress,
    /// Any other code (private range 48..=63 when decoded).
    Other(u8),
}

impl Cause {
    /// Maps a 6-bit code to a cause; total, unnamed codes become [`Cause::Other`].
    pub fn from_code(code: u8) -> Cause {
        use Cause::*;
        match code {
            1 => Periodic,
            2 => Background,
            3 => Spontaneous,
            4 => Initialized,
            5 => Request,
            6 => Activation,
            7 => ActivationCon,
            8 => Deactivation,
            9 => DeactivationCon,
            10 => ActivationTerm,
            11 => ReturnRemote,
            12 => ReturnLocal,
            13 => File,
            20 => Interrogated,
            21..=36 => InterrogatedGroup(code - 20),
            37 => CounterInterrogated,
            38..=41 => CounterGroup(code - 37),
            44 => UnknownType,
            45 => UnknownCause,
            46 => UnknownCommonAddress,
            47 => UnknownObjectAddress,
            other => Other(other),
        }
    }

    /// The code on the wire, or `None` when the cause cannot be encoded (group out of range,
    /// `Other` above 63 or 0).
    pub fn code(self) -> Option<u8> {
        use Cause::*;
        Some(match self {
            Periodic => 1,
            Background => 2,
            Spontaneous => 3,
            Initialized => 4,
            Request => 5,
            Activation => 6,
            ActivationCon => 7,
            Deactivation => 8,
            DeactivationCon => 9,
            ActivationTerm => 10,
            ReturnRemote => 11,
            ReturnLocal => 12,
            File => 13,
            Interrogated => 20,
            InterrogatedGroup(g @ 1..=16) => 20 + g,
            CounterInterrogated => 37,
            CounterGroup(g @ 1..=4) => 37 + g,
            UnknownType => 44,
            UnknownCause => 45,
            UnknownCommonAddress => 46,
            UnknownObjectAddress => 47,
            Other(c @ 1..=63) => c,
            InterrogatedGroup(_) | CounterGroup(_) | Other(_) => return None,
        })
    }

    /// Whether [`Asdu::decode`] accepts this cause code: named, or in the private range.
    pub fn is_defined_code(code: u8) -> bool {
        matches!(code, 1..=13 | 20..=41 | 44..=63)
    }

    /// The cause for a group interrogation QOI (21..=36) or station QOI (20), the cause the
    /// answering data carries.
    pub fn for_qoi(qoi: u8) -> Option<Cause> {
        match qoi {
            20 => Some(Cause::Interrogated),
            21..=36 => Some(Cause::InterrogatedGroup(qoi - 20)),
            _ => None,
        }
    }
}

/// Cause of transmission field (2 octets in IEC 60870-5-104).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cot {
    /// The cause proper (6 bits).
    pub cause: Cause,
    /// P/N: negative confirmation of an activation.
    pub negative: bool,
    /// T: test, the ASDU was generated under test and must not drive the process.
    pub test: bool,
    /// Originator address: which controlling station a confirmation goes back to (0 = default).
    pub originator: u8,
}

impl Cot {
    /// A positive, non-test COT with originator 0: the usual case.
    pub fn new(cause: Cause) -> Cot {
        Cot { cause, negative: false, test: false, originator: 0 }
    }

    fn to_bytes(self) -> Option<[u8; 2]> {
        let code = self.cause.code()?;
        Some([code | (u8::from(self.negative) << 6) | (u8::from(self.test) << 7), self.originator])
    }

    fn from_bytes(b0: u8, b1: u8) -> Cot {
        Cot { cause: Cause::from_code(b0 & 0x3f), negative: b0 & 0x40 != 0, test: b0 & 0x80 != 0, originator: b1 }
    }
}

/// Quality descriptor (QDS, and the quality bits of SIQ/DIQ). OV does not exist in SIQ/DIQ: it is
/// always false when decoding those and ignored when encoding them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qds {
    /// OV: the value overflowed its representable range.
    pub overflow: bool,
    /// BL: blocked for transmission by a local lock.
    pub blocked: bool,
    /// SB: substituted by an operator or automatic source.
    pub substituted: bool,
    /// NT: not topical, the last update failed.
    pub not_topical: bool,
    /// IV: invalid.
    pub invalid: bool,
}

impl Qds {
    /// All bits clear: a good value.
    pub const GOOD: Qds = Qds { overflow: false, blocked: false, substituted: false, not_topical: false, invalid: false };

    /// The QDS octet (reserved bits 1..=3 zero).
    pub fn bits(self) -> u8 {
        u8::from(self.overflow)
            | (u8::from(self.blocked) << 4)
            | (u8::from(self.substituted) << 5)
            | (u8::from(self.not_topical) << 6)
            | (u8::from(self.invalid) << 7)
    }

    /// Reads a QDS octet; reserved bits are dropped.
    pub fn from_bits(b: u8) -> Qds {
        Qds {
            overflow: b & 0x01 != 0,
            blocked: b & 0x10 != 0,
            substituted: b & 0x20 != 0,
            not_topical: b & 0x40 != 0,
            invalid: b & 0x80 != 0,
        }
    }

    fn point_bits(self) -> u8 {
        self.bits() & 0xf0
    }

    fn from_point_bits(b: u8) -> Qds {
        Qds { overflow: false, ..Qds::from_bits(b & 0xf0) }
    }
}

/// Two-bit state of a double point (DPI) and of a double command (DCS). For commands, 0 and 3
/// are "not permitted"; they decode so that a station can refuse them with a negative reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoublePointValue {
    /// 0: intermediate state (or not permitted in a command).
    Intermediate,
    /// 1: determined OFF.
    Off,
    /// 2: determined ON.
    On,
    /// 3: indeterminate state (or not permitted in a command).
    Indeterminate,
}

impl DoublePointValue {
    fn from_bits(b: u8) -> Self {
        match b & 0x03 {
            0 => Self::Intermediate,
            1 => Self::Off,
            2 => Self::On,
            _ => Self::Indeterminate,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::Intermediate => 0,
            Self::Off => 1,
            Self::On => 2,
            Self::Indeterminate => 3,
        }
    }
}

/// Regulating step command state (RCS). 0 and 3 are not permitted but decode, as for
/// [`DoublePointValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepCommand {
    /// 0: not permitted.
    NotPermitted0,
    /// 1: next step lower.
    Lower,
    /// 2: next step higher.
    Higher,
    /// 3: not permitted.
    NotPermitted3,
}

impl StepCommand {
    fn from_bits(b: u8) -> Self {
        match b & 0x03 {
            0 => Self::NotPermitted0,
            1 => Self::Lower,
            2 => Self::Higher,
            _ => Self::NotPermitted3,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::NotPermitted0 => 0,
            Self::Lower => 1,
            Self::Higher => 2,
            Self::NotPermitted3 => 3,
        }
    }
}

/// Binary counter reading (BCR) of integrated totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Bcr {
    /// The counter reading.
    pub value: i32,
    /// Sequence number 0..=31, incremented at each freeze so a receiver can see a lost reading.
    pub sequence: u8,
    /// CY: the counter overflowed in the period.
    pub carry: bool,
    /// CA: the counter was adjusted in the period.
    pub adjusted: bool,
    /// IV: the reading is invalid.
    pub invalid: bool,
}

/// Cause of initialization (COI) of end of initialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Coi {
    /// 0 local power switch on, 1 local manual reset, 2 remote reset, 3..=127 other (7 bits).
    pub cause: u8,
    /// BI: initialization after a change of local parameters.
    pub after_parameter_change: bool,
}

/// Qualifier of counter interrogation command (QCC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qcc {
    /// RQT (6 bits): 1..=4 counter group, 5 general counter request.
    pub request: u8,
    /// FRZ (2 bits): 0 read, 1 freeze without reset, 2 freeze with reset, 3 reset.
    pub freeze: u8,
}

/// One information element, with its time tag when the type has one. The variant names the
/// element kind; whether the time is `Some` must match the type id (checked by the encoder).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Element {
    /// SIQ (M_SP_NA_1 / M_SP_TB_1).
    SinglePoint {
        /// SPI: on.
        value: bool,
        /// Quality (no OV).
        quality: Qds,
        /// Time tag for M_SP_TB_1.
        time: Option<Cp56Time2a>,
    },
    /// DIQ (M_DP_NA_1 / M_DP_TB_1).
    DoublePoint {
        /// DPI.
        value: DoublePointValue,
        /// Quality (no OV).
        quality: Qds,
        /// Time tag for M_DP_TB_1.
        time: Option<Cp56Time2a>,
    },
    /// VTI + QDS (M_ST_NA_1 / M_ST_TB_1).
    StepPosition {
        /// Position −64..=63.
        value: i8,
        /// The equipment is in transient state.
        transient: bool,
        /// Quality.
        quality: Qds,
        /// Time tag for M_ST_TB_1.
        time: Option<Cp56Time2a>,
    },
    /// BSI + QDS (M_BO_NA_1 / M_BO_TB_1).
    Bitstring {
        /// The 32 bits, bit 0 first on the wire (little endian).
        value: u32,
        /// Quality.
        quality: Qds,
        /// Time tag for M_BO_TB_1.
        time: Option<Cp56Time2a>,
    },
    /// NVA + QDS (M_ME_NA_1 / M_ME_TD_1). The value is the raw fixed-point fraction: value/32768.
    Normalized {
        /// Raw normalized value; see [`normalized_to_f32`].
        value: i16,
        /// Quality.
        quality: Qds,
        /// Time tag for M_ME_TD_1.
        time: Option<Cp56Time2a>,
    },
    /// SVA + QDS (M_ME_NB_1 / M_ME_TE_1).
    Scaled {
        /// Scaled value.
        value: i16,
        /// Quality.
        quality: Qds,
        /// Time tag for M_ME_TE_1.
        time: Option<Cp56Time2a>,
    },
    /// IEEE 754 single + QDS (M_ME_NC_1 / M_ME_TF_1).
    ShortFloat {
        /// The value.
        value: f32,
        /// Quality.
        quality: Qds,
        /// Time tag for M_ME_TF_1.
        time: Option<Cp56Time2a>,
    },
    /// BCR (M_IT_NA_1 / M_IT_TB_1).
    IntegratedTotals {
        /// Counter reading with its sequence and flags.
        counter: Bcr,
        /// Time tag for M_IT_TB_1.
        time: Option<Cp56Time2a>,
    },
    /// COI (M_EI_NA_1).
    EndOfInit {
        /// Cause of initialization.
        coi: Coi,
    },
    /// SCO (C_SC_NA_1 / C_SC_TA_1).
    SingleCommand {
        /// SCS: on.
        value: bool,
        /// QU (5 bits): 0 no additional definition, 1 short pulse, 2 long pulse, 3 persistent.
        qualifier: u8,
        /// S/E: select (true) or execute.
        select: bool,
        /// Time tag for C_SC_TA_1.
        time: Option<Cp56Time2a>,
    },
    /// DCO (C_DC_NA_1 / C_DC_TA_1).
    DoubleCommand {
        /// DCS (Off/On; 0 and 3 not permitted).
        value: DoublePointValue,
        /// QU (5 bits).
        qualifier: u8,
        /// S/E: select (true) or execute.
        select: bool,
        /// Time tag for C_DC_TA_1.
        time: Option<Cp56Time2a>,
    },
    /// RCO (C_RC_NA_1 / C_RC_TA_1).
    RegulatingStep {
        /// RCS.
        value: StepCommand,
        /// QU (5 bits).
        qualifier: u8,
        /// S/E: select (true) or execute.
        select: bool,
        /// Time tag for C_RC_TA_1.
        time: Option<Cp56Time2a>,
    },
    /// NVA + QOS (C_SE_NA_1 / C_SE_TA_1).
    SetpointNormalized {
        /// Raw normalized value.
        value: i16,
        /// QL (7 bits), 0 = default.
        qualifier: u8,
        /// S/E: select (true) or execute.
        select: bool,
        /// Time tag for C_SE_TA_1.
        time: Option<Cp56Time2a>,
    },
    /// SVA + QOS (C_SE_NB_1 / C_SE_TB_1).
    SetpointScaled {
        /// Scaled value.
        value: i16,
        /// QL (7 bits).
        qualifier: u8,
        /// S/E: select (true) or execute.
        select: bool,
        /// Time tag for C_SE_TB_1.
        time: Option<Cp56Time2a>,
    },
    /// IEEE 754 single + QOS (C_SE_NC_1 / C_SE_TC_1).
    SetpointFloat {
        /// The value.
        value: f32,
        /// QL (7 bits).
        qualifier: u8,
        /// S/E: select (true) or execute.
        select: bool,
        /// Time tag for C_SE_TC_1.
        time: Option<Cp56Time2a>,
    },
    /// QOI (C_IC_NA_1): 20 station interrogation, 21..=36 group 1..=16.
    Interrogation {
        /// Qualifier of interrogation.
        qoi: u8,
    },
    /// QCC (C_CI_NA_1).
    CounterInterrogation {
        /// Qualifier of counter interrogation.
        qcc: Qcc,
    },
    /// C_RD_NA_1: no element, the address says what to read.
    Read,
    /// C_CS_NA_1: the time to set.
    ClockSync {
        /// The time.
        time: Cp56Time2a,
    },
    /// C_TS_TA_1: test sequence counter and time, echoed by the controlled station.
    TestCommand {
        /// TSC.
        counter: u16,
        /// The time.
        time: Cp56Time2a,
    },
}

/// Converts a raw normalized value (NVA) to a fraction in −1.0..1.0.
pub fn normalized_to_f32(raw: i16) -> f32 {
    f32::from(raw) / 32768.0
}

/// Converts a fraction to a raw normalized value, saturating at the ends of the range (NaN → 0).
pub fn normalized_from_f32(v: f32) -> i16 {
    let scaled = (v * 32768.0).round();
    if scaled.is_nan() {
        0
    } else if scaled >= 32767.0 {
        i16::MAX
    } else if scaled <= -32768.0 {
        i16::MIN
    } else {
        // Integral (rounded), not NaN and strictly inside i16's range by the checks above, so
        // the cast is exact; std has no checked float-to-int conversion to use instead.
        #[allow(clippy::cast_possible_truncation)]
        let raw = scaled as i16;
        raw
    }
}

impl Element {
    /// The variant's name, for errors and logs.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Element::SinglePoint { .. } => "SinglePoint",
            Element::DoublePoint { .. } => "DoublePoint",
            Element::StepPosition { .. } => "StepPosition",
            Element::Bitstring { .. } => "Bitstring",
            Element::Normalized { .. } => "Normalized",
            Element::Scaled { .. } => "Scaled",
            Element::ShortFloat { .. } => "ShortFloat",
            Element::IntegratedTotals { .. } => "IntegratedTotals",
            Element::EndOfInit { .. } => "EndOfInit",
            Element::SingleCommand { .. } => "SingleCommand",
            Element::DoubleCommand { .. } => "DoubleCommand",
            Element::RegulatingStep { .. } => "RegulatingStep",
            Element::SetpointNormalized { .. } => "SetpointNormalized",
            Element::SetpointScaled { .. } => "SetpointScaled",
            Element::SetpointFloat { .. } => "SetpointFloat",
            Element::Interrogation { .. } => "Interrogation",
            Element::CounterInterrogation { .. } => "CounterInterrogation",
            Element::Read => "Read",
            Element::ClockSync { .. } => "ClockSync",
            Element::TestCommand { .. } => "TestCommand",
        }
    }

    /// The type id this element naturally encodes as: its untagged type when `time` is `None`,
    /// the tagged one otherwise. Used by the constructors that infer the type.
    pub fn type_id(&self) -> TypeId {
        use TypeId::*;
        let (plain, tagged) = match self {
            Element::SinglePoint { time, .. } => (MSpNa1, time.is_some()),
            Element::DoublePoint { time, .. } => (MDpNa1, time.is_some()),
            Element::StepPosition { time, .. } => (MStNa1, time.is_some()),
            Element::Bitstring { time, .. } => (MBoNa1, time.is_some()),
            Element::Normalized { time, .. } => (MMeNa1, time.is_some()),
            Element::Scaled { time, .. } => (MMeNb1, time.is_some()),
            Element::ShortFloat { time, .. } => (MMeNc1, time.is_some()),
            Element::IntegratedTotals { time, .. } => (MItNa1, time.is_some()),
            Element::SingleCommand { time, .. } => (CScNa1, time.is_some()),
            Element::DoubleCommand { time, .. } => (CDcNa1, time.is_some()),
            Element::RegulatingStep { time, .. } => (CRcNa1, time.is_some()),
            Element::SetpointNormalized { time, .. } => (CSeNa1, time.is_some()),
            Element::SetpointScaled { time, .. } => (CSeNb1, time.is_some()),
            Element::SetpointFloat { time, .. } => (CSeNc1, time.is_some()),
            Element::EndOfInit { .. } => (MEiNa1, false),
            Element::Interrogation { .. } => (CIcNa1, false),
            Element::CounterInterrogation { .. } => (CCiNa1, false),
            Element::Read => (CRdNa1, false),
            Element::ClockSync { .. } => (CCsNa1, false),
            Element::TestCommand { .. } => (CTsTa1, false),
        };
        if tagged { plain.with_time().unwrap_or(plain) } else { plain }
    }

    /// The time tag of a TB/TA element (`None` for untagged elements and for the system
    /// commands, whose time is payload rather than tag).
    pub fn time(&self) -> Option<Cp56Time2a> {
        match *self {
            Element::SinglePoint { time, .. }
            | Element::DoublePoint { time, .. }
            | Element::StepPosition { time, .. }
            | Element::Bitstring { time, .. }
            | Element::Normalized { time, .. }
            | Element::Scaled { time, .. }
            | Element::ShortFloat { time, .. }
            | Element::IntegratedTotals { time, .. }
            | Element::SingleCommand { time, .. }
            | Element::DoubleCommand { time, .. }
            | Element::RegulatingStep { time, .. }
            | Element::SetpointNormalized { time, .. }
            | Element::SetpointScaled { time, .. }
            | Element::SetpointFloat { time, .. } => time,
            _ => None,
        }
    }

    fn time_slot(&mut self) -> Option<&mut Option<Cp56Time2a>> {
        match self {
            Element::SinglePoint { time, .. }
            | Element::DoublePoint { time, .. }
            | Element::StepPosition { time, .. }
            | Element::Bitstring { time, .. }
            | Element::Normalized { time, .. }
            | Element::Scaled { time, .. }
            | Element::ShortFloat { time, .. }
            | Element::IntegratedTotals { time, .. }
            | Element::SingleCommand { time, .. }
            | Element::DoubleCommand { time, .. }
            | Element::RegulatingStep { time, .. }
            | Element::SetpointNormalized { time, .. }
            | Element::SetpointScaled { time, .. }
            | Element::SetpointFloat { time, .. } => Some(time),
            _ => None,
        }
    }

    /// The same element without its time tag, as interrogation answers carry it.
    pub fn without_time(&self) -> Element {
        let mut e = *self;
        if let Some(slot) = e.time_slot() {
            *slot = None;
        }
        e
    }

    /// The same element tagged with `time`, for spontaneous transmission; elements that have no
    /// tagged form are returned unchanged.
    pub fn with_time(&self, time: Cp56Time2a) -> Element {
        let mut e = *self;
        if let Some(slot) = e.time_slot() {
            *slot = Some(time);
        }
        e
    }

    /// S/E of a process command (`None` for other elements): whether it only selects, which
    /// decides select-before-operate on both sides of a link.
    pub fn select(&self) -> Option<bool> {
        match *self {
            Element::SingleCommand { select, .. }
            | Element::DoubleCommand { select, .. }
            | Element::RegulatingStep { select, .. }
            | Element::SetpointNormalized { select, .. }
            | Element::SetpointScaled { select, .. }
            | Element::SetpointFloat { select, .. } => Some(select),
            _ => None,
        }
    }

    /// The quality descriptor of monitor-direction values (`None` for commands and for integrated
    /// totals, whose IV lives in the [`Bcr`]).
    pub fn quality(&self) -> Option<Qds> {
        match *self {
            Element::SinglePoint { quality, .. }
            | Element::DoublePoint { quality, .. }
            | Element::StepPosition { quality, .. }
            | Element::Bitstring { quality, .. }
            | Element::Normalized { quality, .. }
            | Element::Scaled { quality, .. }
            | Element::ShortFloat { quality, .. } => Some(quality),
            _ => None,
        }
    }
}

/// One information object: address and element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InformationObject {
    /// Information object address (24 bits; 0 is "irrelevant", used by system commands).
    pub ioa: u32,
    /// The element.
    pub element: Element,
}

impl InformationObject {
    /// Pairs an address with an element.
    pub fn new(ioa: u32, element: Element) -> Self {
        Self { ioa, element }
    }
}

/// An application service data unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Asdu {
    /// Type identification; every element must be of this type.
    pub type_id: TypeId,
    /// SQ: objects have consecutive addresses and only the first is sent.
    pub sequence: bool,
    /// Cause of transmission.
    pub cot: Cot,
    /// Common address of ASDU (station address; 0xFFFF is global).
    pub common_address: u16,
    /// The objects, 1..=127 of them.
    pub objects: Vec<InformationObject>,
}

/// The data unit identifier of an ASDU as read from the wire, kept raw where it could not be
/// understood, so that a station can still answer or log an ASDU it cannot decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsduHeader {
    /// Type code, supported or not.
    pub type_code: u8,
    /// SQ bit.
    pub sequence: bool,
    /// Number of objects announced by VSQ.
    pub count: u8,
    /// Cause of transmission (an undefined cause appears as [`Cause::Other`]).
    pub cot: Cot,
    /// Common address.
    pub common_address: u16,
    /// Address of the first object, when the ASDU is long enough to hold one.
    pub first_ioa: Option<u32>,
}

impl AsduHeader {
    /// Reads the data unit identifier (and first IOA) of an ASDU without decoding the objects.
    pub fn peek(bytes: &[u8]) -> Result<AsduHeader, AsduError> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN).and_then(|s| s.try_into().ok()).ok_or(AsduError::Truncated {
            field: "data unit identifier",
            offset: 0,
            needed: HEADER_LEN,
            available: bytes.len(),
        })?;
        Ok(AsduHeader {
            type_code: h[0],
            sequence: h[1] & 0x80 != 0,
            count: h[1] & 0x7f,
            cot: Cot::from_bytes(h[2], h[3]),
            common_address: u16::from_le_bytes([h[4], h[5]]),
            first_ioa: bytes.get(HEADER_LEN..HEADER_LEN + IOA_LEN).map(read_ioa),
        })
    }
}

/// Why bytes are not a valid ASDU. Every variant after the header carries the header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsduError {
    /// Too few octets for the data unit identifier.
    #[error("ASDU truncated in {field} at offset {offset}: needs {needed} octets, {available} available")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Octets needed from the start of the ASDU.
        needed: usize,
        /// Octets present.
        available: usize,
    },
    /// Type code not supported (answer: COT 44, negative).
    #[error("unknown type identification {} at offset 0", header.type_code)]
    UnknownType {
        /// The header as read.
        header: AsduHeader,
    },
    /// Undefined cause of transmission (answer: COT 45, negative).
    #[error("undefined cause of transmission {:?} at offset 2 for type {}", header.cot.cause, header.type_code)]
    UnknownCause {
        /// The header as read.
        header: AsduHeader,
    },
    /// VSQ announces zero objects.
    #[error("VSQ at offset 1 announces no information objects (type {})", header.type_code)]
    NoObjects {
        /// The header as read.
        header: AsduHeader,
    },
    /// The length does not match count × element size for the type (truncated or trailing bytes).
    #[error(
        "ASDU of type {} with {} objects (SQ={}) must be {expected} octets, is {actual}",
        header.type_code, header.count, u8::from(header.sequence)
    )]
    LengthMismatch {
        /// The header as read.
        header: AsduHeader,
        /// Length the header implies.
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// More octets than fit one APDU (249), whatever the header says: such an ASDU could never
    /// be sent on in an APDU, nor re-encoded.
    #[error("ASDU of type {} is {length} octets, at most 249 fit an APDU", header.type_code)]
    TooLong {
        /// The header as read.
        header: AsduHeader,
        /// Octets received.
        length: usize,
    },
    /// SQ=1 with a first address so high that later objects pass 2^24 − 1.
    #[error("SQ=1 sequence starting at IOA {first} with {} objects passes the 24-bit address space (offset 6)", header.count)]
    IoaOverflow {
        /// The header as read.
        header: AsduHeader,
        /// First address.
        first: u32,
    },
}

impl AsduError {
    /// The header, when it had been read before the error.
    pub fn header(&self) -> Option<&AsduHeader> {
        match self {
            AsduError::Truncated { .. } => None,
            AsduError::UnknownType { header }
            | AsduError::UnknownCause { header }
            | AsduError::NoObjects { header }
            | AsduError::LengthMismatch { header, .. }
            | AsduError::TooLong { header, .. }
            | AsduError::IoaOverflow { header, .. } => Some(header),
        }
    }

    /// The cause a controlled station answers this error with (44 or 45), when the standard
    /// defines one. Other errors are protocol violations: log and drop.
    pub fn negative_cause(&self) -> Option<Cause> {
        match self {
            AsduError::UnknownType { .. } => Some(Cause::UnknownType),
            AsduError::UnknownCause { .. } => Some(Cause::UnknownCause),
            _ => None,
        }
    }
}

/// Why an [`Asdu`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsduEncodeError {
    /// No objects: VSQ count 0 is not allowed.
    #[error("an ASDU needs at least one information object")]
    NoObjects,
    /// More objects than the 7-bit count can announce.
    #[error("{count} information objects, at most 127 fit the VSQ")]
    TooManyObjects {
        /// Objects given.
        count: usize,
    },
    /// The encoded ASDU would pass 249 octets (APDU limit 253).
    #[error("ASDU would be {length} octets, at most 249 fit an APDU (split it; see TypeId::max_objects)")]
    TooLong {
        /// Length it would have.
        length: usize,
    },
    /// The element kind (or presence of its time tag) does not match the type id.
    #[error("object {index}: element {element} (time tag present: {has_time}) does not belong in {type_id}")]
    ElementMismatch {
        /// Object index.
        index: usize,
        /// The ASDU's type.
        type_id: TypeId,
        /// The element's kind.
        element: &'static str,
        /// Whether the element carries a time tag.
        has_time: bool,
    },
    /// SQ=1 but addresses are not first, first+1, ...
    #[error("object {index}: SQ=1 needs IOA {expected}, found {found}")]
    NonConsecutiveIoa {
        /// Object index.
        index: usize,
        /// Address required.
        expected: u32,
        /// Address given.
        found: u32,
    },
    /// Address does not fit 24 bits.
    #[error("object {index}: IOA {ioa} does not fit 24 bits")]
    IoaOutOfRange {
        /// Object index.
        index: usize,
        /// Address given.
        ioa: u32,
    },
    /// A field value does not fit its bits.
    #[error("object {index}: {field} = {value} is outside 0..={max}")]
    FieldOutOfRange {
        /// Object index.
        index: usize,
        /// Field name.
        field: &'static str,
        /// Value given.
        value: i64,
        /// Largest value allowed (for step positions the range is −64..=63).
        max: i64,
    },
    /// [`negative_reply`] was given fewer octets than a data unit identifier.
    #[error("request of {length} octets is shorter than the 6-octet data unit identifier")]
    RequestTooShort {
        /// Octets given.
        length: usize,
    },
    /// The cause has no code (group number out of range, or `Other(0)` / above 63).
    #[error("cause {cause:?} cannot be encoded")]
    InvalidCause {
        /// The cause given.
        cause: Cause,
    },
}

fn read_ioa(b: &[u8]) -> u32 {
    match b {
        [a, b, c, ..] => u32::from_le_bytes([*a, *b, *c, 0]),
        _ => 0,
    }
}

/// Copies a request ASDU into `out` as the negative confirmation that mirrors it: the same octets
/// with the cause replaced by `cause` (44 unknown type, 45 unknown cause, 46 unknown common
/// address, 47 unknown object address) and P/N set; T and the originator are kept. This is what a
/// controlled station sends for a request it cannot decode, so it works on raw bytes.
pub fn negative_reply(request: &[u8], cause: Cause, out: &mut Vec<u8>) -> Result<(), AsduEncodeError> {
    let code = cause.code().ok_or(AsduEncodeError::InvalidCause { cause })?;
    if request.len() < HEADER_LEN {
        return Err(AsduEncodeError::RequestTooShort { length: request.len() });
    }
    if request.len() > ASDU_MAX_LEN {
        return Err(AsduEncodeError::TooLong { length: request.len() });
    }
    let start = out.len();
    out.extend_from_slice(request);
    if let Some(b) = out.get_mut(start + 2) {
        *b = (*b & 0x80) | 0x40 | code;
    }
    Ok(())
}

impl Asdu {
    /// An SQ=0 ASDU: each object carries its own address.
    pub fn single(type_id: TypeId, cot: Cot, common_address: u16, objects: Vec<InformationObject>) -> Asdu {
        Asdu { type_id, sequence: false, cot, common_address, objects }
    }

    /// An SQ=1 ASDU: elements for consecutive addresses from `first_ioa`.
    pub fn sequence(type_id: TypeId, cot: Cot, common_address: u16, first_ioa: u32, elements: impl IntoIterator<Item = Element>) -> Asdu {
        let objects = elements
            .into_iter()
            .enumerate()
            .map(|(i, element)| {
                let ioa = u32::try_from(i).ok().and_then(|i| first_ioa.checked_add(i)).unwrap_or(u32::MAX);
                InformationObject { ioa, element }
            })
            .collect();
        Asdu { type_id, sequence: true, cot, common_address, objects }
    }

    /// Packs any number of objects of one type into as few SQ=0 ASDUs as fit (for interrogation
    /// answers and bursts of spontaneous data). Returns no ASDU for no objects.
    pub fn packed(type_id: TypeId, cot: Cot, common_address: u16, objects: impl IntoIterator<Item = InformationObject>) -> Vec<Asdu> {
        let max = type_id.max_objects(false).max(1);
        let mut out = Vec::new();
        let mut current = Vec::with_capacity(max);
        for o in objects {
            current.push(o);
            if current.len() == max {
                out.push(Asdu::single(type_id, cot, common_address, std::mem::take(&mut current)));
            }
        }
        if !current.is_empty() {
            out.push(Asdu::single(type_id, cot, common_address, current));
        }
        out
    }

    /// Packs objects of one type, in the order given, into as few ASDUs as fit: a run of
    /// consecutive addresses goes out as one SQ=1 ASDU (one address for the run), other objects
    /// share SQ=0 ASDUs. The order is kept, so successive values of one address arrive in order.
    pub fn pack(type_id: TypeId, cot: Cot, common_address: u16, objects: impl IntoIterator<Item = InformationObject>) -> Vec<Asdu> {
        let (max_sq0, max_sq1) = (type_id.max_objects(false).max(1), type_id.max_objects(true).max(1));
        let mut out = Vec::new();
        let mut current: Vec<InformationObject> = Vec::new();
        let mut sequence = false;
        let mut flush = |current: &mut Vec<InformationObject>, sequence: bool| {
            if !current.is_empty() {
                out.push(Asdu { type_id, sequence, cot, common_address, objects: std::mem::take(current) });
            }
        };
        for o in objects {
            let follows = current.last().is_some_and(|last| last.ioa.checked_add(1) == Some(o.ioa));
            match (current.len(), sequence, follows) {
                (0, ..) => {}
                // A second object continuing the address: the ASDU becomes a sequence.
                (1, _, true) => sequence = true,
                (n, true, true) if n < max_sq1 => {}
                (n, false, false) if n < max_sq0 => {}
                // The sequence breaks (or is full), or a packed ASDU is full.
                (_, true, _) | (_, false, _) => {
                    flush(&mut current, sequence);
                    sequence = false;
                }
            }
            current.push(o);
        }
        flush(&mut current, sequence);
        out
    }

    /// The same ASDU with another cause and P/N: the activation confirmation (`ActivationCon`),
    /// termination (`ActivationTerm`) or a negative answer (`UnknownObjectAddress`, negative).
    /// T and the originator are kept, as the standard requires for mirrored answers.
    pub fn reply(&self, cause: Cause, negative: bool) -> Asdu {
        let mut a = self.clone();
        a.cot.cause = cause;
        a.cot.negative = negative;
        a
    }

    /// The data unit identifier of this ASDU.
    pub fn header(&self) -> AsduHeader {
        AsduHeader {
            type_code: self.type_id.code(),
            sequence: self.sequence,
            count: u8::try_from(self.objects.len()).unwrap_or(u8::MAX),
            cot: self.cot,
            common_address: self.common_address,
            first_ioa: self.objects.first().map(|o| o.ioa),
        }
    }

    /// Octets [`Asdu::encode`] will write (whether or not the ASDU is valid).
    pub fn encoded_len(&self) -> usize {
        let n = self.objects.len();
        let elen = self.type_id.element_len();
        if self.sequence { HEADER_LEN + if n == 0 { 0 } else { IOA_LEN + n * elen } } else { HEADER_LEN + n * (IOA_LEN + elen) }
    }

    /// Decodes exactly one ASDU.
    pub fn decode(bytes: &[u8]) -> Result<Asdu, AsduError> {
        let header = AsduHeader::peek(bytes)?;
        let type_id = TypeId::try_from(header.type_code).map_err(|_| AsduError::UnknownType { header })?;
        let cause_code = bytes.get(2).map_or(0, |b| b & 0x3f);
        if !Cause::is_defined_code(cause_code) {
            return Err(AsduError::UnknownCause { header });
        }
        let count = usize::from(header.count);
        if count == 0 {
            return Err(AsduError::NoObjects { header });
        }
        if bytes.len() > ASDU_MAX_LEN {
            return Err(AsduError::TooLong { header, length: bytes.len() });
        }
        let elen = type_id.element_len();
        let expected = HEADER_LEN + if header.sequence { IOA_LEN + count * elen } else { count * (IOA_LEN + elen) };
        if bytes.len() != expected {
            return Err(AsduError::LengthMismatch { header, expected, actual: bytes.len() });
        }
        let mut objects = Vec::with_capacity(count);
        let mut r = Reader { bytes, pos: HEADER_LEN, header };
        if header.sequence {
            let first = read_ioa(r.take(IOA_LEN)?);
            // count <= 127, so the last address is first + 126 at most.
            let last = first + u32::from(header.count) - 1;
            if last > IOA_MAX {
                return Err(AsduError::IoaOverflow { header, first });
            }
            for ioa in first..=last {
                let element = decode_element(type_id, &mut r)?;
                objects.push(InformationObject { ioa, element });
            }
        } else {
            for _ in 0..count {
                let ioa = read_ioa(r.take(IOA_LEN)?);
                let element = decode_element(type_id, &mut r)?;
                objects.push(InformationObject { ioa, element });
            }
        }
        Ok(Asdu { type_id, sequence: header.sequence, cot: header.cot, common_address: header.common_address, objects })
    }

    /// Appends the encoded ASDU to `out`. On error `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), AsduEncodeError> {
        let start = out.len();
        let result = self.encode_unchecked_len(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Encodes into a new vector (convenience for tests and one-off frames).
    pub fn to_bytes(&self) -> Result<Vec<u8>, AsduEncodeError> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v)?;
        Ok(v)
    }

    fn encode_unchecked_len(&self, out: &mut Vec<u8>) -> Result<(), AsduEncodeError> {
        let n = self.objects.len();
        if n == 0 {
            return Err(AsduEncodeError::NoObjects);
        }
        let count = u8::try_from(n).ok().filter(|c| usize::from(*c) <= MAX_OBJECTS).ok_or(AsduEncodeError::TooManyObjects { count: n })?;
        let length = self.encoded_len();
        if length > ASDU_MAX_LEN {
            return Err(AsduEncodeError::TooLong { length });
        }
        let cot = self.cot.to_bytes().ok_or(AsduEncodeError::InvalidCause { cause: self.cot.cause })?;
        out.reserve(length);
        out.push(self.type_id.code());
        out.push(count | (u8::from(self.sequence) << 7));
        out.extend_from_slice(&cot);
        out.extend_from_slice(&self.common_address.to_le_bytes());
        let mut first = 0;
        for (index, obj) in self.objects.iter().enumerate() {
            if obj.ioa > IOA_MAX {
                return Err(AsduEncodeError::IoaOutOfRange { index, ioa: obj.ioa });
            }
            if !self.sequence || index == 0 {
                out.extend_from_slice(&obj.ioa.to_le_bytes()[..IOA_LEN]);
                first = obj.ioa;
            } else {
                // index < 127 and first <= IOA_MAX, so this cannot overflow u32.
                let expected = first + u32::try_from(index).unwrap_or(0);
                if obj.ioa != expected {
                    return Err(AsduEncodeError::NonConsecutiveIoa { index, expected, found: obj.ioa });
                }
            }
            encode_element(self.type_id, &obj.element, index, out)?;
        }
        Ok(())
    }
}

/// Cursor over the ASDU octets. The length check in `decode` makes every `take` succeed, but
/// the reader still returns errors instead of panicking, so a wrong table entry cannot crash.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    header: AsduHeader,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AsduError> {
        let end = self.pos + n;
        let s = self.bytes.get(self.pos..end).ok_or(AsduError::LengthMismatch {
            header: self.header,
            expected: end,
            actual: self.bytes.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, AsduError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AsduError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn time(&mut self) -> Result<Cp56Time2a, AsduError> {
        let a: [u8; CP56_LEN] = self.array()?;
        // Seven octets always decode.
        Ok(Cp56Time2a::decode(&a).unwrap_or_default())
    }

    fn tag(&mut self, type_id: TypeId) -> Result<Option<Cp56Time2a>, AsduError> {
        if type_id.has_time_tag() { self.time().map(Some) } else { Ok(None) }
    }
}

fn decode_element(type_id: TypeId, r: &mut Reader<'_>) -> Result<Element, AsduError> {
    use TypeId::*;
    Ok(match type_id.without_time() {
        MSpNa1 => {
            let b = r.u8()?;
            Element::SinglePoint { value: b & 1 != 0, quality: Qds::from_point_bits(b), time: r.tag(type_id)? }
        }
        MDpNa1 => {
            let b = r.u8()?;
            Element::DoublePoint { value: DoublePointValue::from_bits(b), quality: Qds::from_point_bits(b), time: r.tag(type_id)? }
        }
        MStNa1 => {
            let [vti, qds] = r.array()?;
            // Sign-extend the 7-bit two's-complement value.
            let value = i8::from_le_bytes([vti << 1]) >> 1;
            Element::StepPosition { value, transient: vti & 0x80 != 0, quality: Qds::from_bits(qds), time: r.tag(type_id)? }
        }
        MBoNa1 => {
            let [a, b, c, d, q] = r.array()?;
            Element::Bitstring { value: u32::from_le_bytes([a, b, c, d]), quality: Qds::from_bits(q), time: r.tag(type_id)? }
        }
        MMeNa1 => {
            let [a, b, q] = r.array()?;
            Element::Normalized { value: i16::from_le_bytes([a, b]), quality: Qds::from_bits(q), time: r.tag(type_id)? }
        }
        MMeNb1 => {
            let [a, b, q] = r.array()?;
            Element::Scaled { value: i16::from_le_bytes([a, b]), quality: Qds::from_bits(q), time: r.tag(type_id)? }
        }
        MMeNc1 => {
            let [a, b, c, d, q] = r.array()?;
            Element::ShortFloat { value: f32::from_le_bytes([a, b, c, d]), quality: Qds::from_bits(q), time: r.tag(type_id)? }
        }
        MItNa1 => {
            let [a, b, c, d, s] = r.array()?;
            Element::IntegratedTotals {
                counter: Bcr {
                    value: i32::from_le_bytes([a, b, c, d]),
                    sequence: s & 0x1f,
                    carry: s & 0x20 != 0,
                    adjusted: s & 0x40 != 0,
                    invalid: s & 0x80 != 0,
                },
                time: r.tag(type_id)?,
            }
        }
        MEiNa1 => {
            let b = r.u8()?;
            Element::EndOfInit { coi: Coi { cause: b & 0x7f, after_parameter_change: b & 0x80 != 0 } }
        }
        CScNa1 => {
            let b = r.u8()?;
            Element::SingleCommand { value: b & 1 != 0, qualifier: (b >> 2) & 0x1f, select: b & 0x80 != 0, time: r.tag(type_id)? }
        }
        CDcNa1 => {
            let b = r.u8()?;
            Element::DoubleCommand {
                value: DoublePointValue::from_bits(b),
                qualifier: (b >> 2) & 0x1f,
                select: b & 0x80 != 0,
                time: r.tag(type_id)?,
            }
        }
        CRcNa1 => {
            let b = r.u8()?;
            Element::RegulatingStep {
                value: StepCommand::from_bits(b),
                qualifier: (b >> 2) & 0x1f,
                select: b & 0x80 != 0,
                time: r.tag(type_id)?,
            }
        }
        CSeNa1 => {
            let [a, b, q] = r.array()?;
            Element::SetpointNormalized {
                value: i16::from_le_bytes([a, b]),
                qualifier: q & 0x7f,
                select: q & 0x80 != 0,
                time: r.tag(type_id)?,
            }
        }
        CSeNb1 => {
            let [a, b, q] = r.array()?;
            Element::SetpointScaled { value: i16::from_le_bytes([a, b]), qualifier: q & 0x7f, select: q & 0x80 != 0, time: r.tag(type_id)? }
        }
        CSeNc1 => {
            let [a, b, c, d, q] = r.array()?;
            Element::SetpointFloat {
                value: f32::from_le_bytes([a, b, c, d]),
                qualifier: q & 0x7f,
                select: q & 0x80 != 0,
                time: r.tag(type_id)?,
            }
        }
        CIcNa1 => Element::Interrogation { qoi: r.u8()? },
        CCiNa1 => {
            let b = r.u8()?;
            Element::CounterInterrogation { qcc: Qcc { request: b & 0x3f, freeze: b >> 6 } }
        }
        CRdNa1 => Element::Read,
        CCsNa1 => Element::ClockSync { time: r.time()? },
        CTsTa1 => {
            let [a, b] = r.array()?;
            Element::TestCommand { counter: u16::from_le_bytes([a, b]), time: r.time()? }
        }
        // without_time() only yields the untagged types matched above.
        _ => return Err(AsduError::UnknownType { header: r.header }),
    })
}

fn check(index: usize, field: &'static str, value: u8, max: u8) -> Result<u8, AsduEncodeError> {
    if value <= max { Ok(value) } else { Err(AsduEncodeError::FieldOutOfRange { index, field, value: value.into(), max: max.into() }) }
}

fn encode_element(type_id: TypeId, e: &Element, index: usize, out: &mut Vec<u8>) -> Result<(), AsduEncodeError> {
    use TypeId::*;
    let plain = type_id.without_time();
    let mismatch = || AsduEncodeError::ElementMismatch { index, type_id, element: e.kind_name(), has_time: e.time().is_some() };
    let select_bit = |s: bool| u8::from(s) << 7;
    // The tag must be present exactly for tagged types; C_TS_TA_1 carries its time as payload.
    let tag = e.time();
    if type_id != CTsTa1 && type_id.has_time_tag() != tag.is_some() {
        return Err(mismatch());
    }
    match (plain, *e) {
        (MSpNa1, Element::SinglePoint { value, quality, .. }) => out.push(u8::from(value) | quality.point_bits()),
        (MDpNa1, Element::DoublePoint { value, quality, .. }) => out.push(value.bits() | quality.point_bits()),
        (MStNa1, Element::StepPosition { value, transient, quality, .. }) => {
            if !(-64..=63).contains(&value) {
                return Err(AsduEncodeError::FieldOutOfRange { index, field: "step position", value: value.into(), max: 63 });
            }
            out.push((value.to_le_bytes()[0] & 0x7f) | (u8::from(transient) << 7));
            out.push(quality.bits());
        }
        (MBoNa1, Element::Bitstring { value, quality, .. }) => {
            out.extend_from_slice(&value.to_le_bytes());
            out.push(quality.bits());
        }
        (MMeNa1, Element::Normalized { value, quality, .. }) | (MMeNb1, Element::Scaled { value, quality, .. }) => {
            out.extend_from_slice(&value.to_le_bytes());
            out.push(quality.bits());
        }
        (MMeNc1, Element::ShortFloat { value, quality, .. }) => {
            out.extend_from_slice(&value.to_le_bytes());
            out.push(quality.bits());
        }
        (MItNa1, Element::IntegratedTotals { counter, .. }) => {
            out.extend_from_slice(&counter.value.to_le_bytes());
            out.push(
                check(index, "BCR sequence", counter.sequence, 31)?
                    | (u8::from(counter.carry) << 5)
                    | (u8::from(counter.adjusted) << 6)
                    | (u8::from(counter.invalid) << 7),
            );
        }
        (MEiNa1, Element::EndOfInit { coi }) => {
            out.push(check(index, "COI", coi.cause, 127)? | (u8::from(coi.after_parameter_change) << 7));
        }
        (CScNa1, Element::SingleCommand { value, qualifier, select, .. }) => {
            out.push(u8::from(value) | (check(index, "QU", qualifier, 31)? << 2) | select_bit(select));
        }
        (CDcNa1, Element::DoubleCommand { value, qualifier, select, .. }) => {
            out.push(value.bits() | (check(index, "QU", qualifier, 31)? << 2) | select_bit(select));
        }
        (CRcNa1, Element::RegulatingStep { value, qualifier, select, .. }) => {
            out.push(value.bits() | (check(index, "QU", qualifier, 31)? << 2) | select_bit(select));
        }
        (CSeNa1, Element::SetpointNormalized { value, qualifier, select, .. })
        | (CSeNb1, Element::SetpointScaled { value, qualifier, select, .. }) => {
            out.extend_from_slice(&value.to_le_bytes());
            out.push(check(index, "QL", qualifier, 127)? | select_bit(select));
        }
        (CSeNc1, Element::SetpointFloat { value, qualifier, select, .. }) => {
            out.extend_from_slice(&value.to_le_bytes());
            out.push(check(index, "QL", qualifier, 127)? | select_bit(select));
        }
        (CIcNa1, Element::Interrogation { qoi }) => out.push(qoi),
        (CCiNa1, Element::CounterInterrogation { qcc }) => {
            out.push(check(index, "QCC RQT", qcc.request, 63)? | (check(index, "QCC FRZ", qcc.freeze, 3)? << 6));
        }
        (CRdNa1, Element::Read) => {}
        (CCsNa1, Element::ClockSync { time }) => time.encode(out),
        (CTsTa1, Element::TestCommand { counter, time }) => {
            out.extend_from_slice(&counter.to_le_bytes());
            time.encode(out);
        }
        _ => return Err(mismatch()),
    }
    if let Some(t) = tag {
        t.encode(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_makes_sequences_of_consecutive_addresses_and_keeps_the_order() {
        let f = |ioa: u32| InformationObject::new(ioa, Element::ShortFloat { value: ioa as f32, quality: Qds::default(), time: None });
        let ioas = |a: &Asdu| a.objects.iter().map(|o| o.ioa).collect::<Vec<_>>();
        let packed = Asdu::pack(TypeId::MMeNc1, Cot::new(Cause::Spontaneous), 1, [1, 5, 6, 7, 9, 20].map(f));
        let shape: Vec<(bool, Vec<u32>)> = packed.iter().map(|a| (a.sequence, ioas(a))).collect();
        assert_eq!(shape, vec![(false, vec![1, 5]), (true, vec![6, 7]), (false, vec![9, 20])]);
        // A long run fills SQ=1 ASDUs to the APDU limit and every byte string decodes back.
        let run = Asdu::pack(TypeId::MMeNc1, Cot::new(Cause::Spontaneous), 1, (100..400).map(f));
        assert!(run.iter().all(|a| a.sequence && a.encoded_len() <= ASDU_MAX_LEN));
        assert_eq!(run.iter().map(|a| a.objects.len()).sum::<usize>(), 300);
        assert_eq!(run[0].objects.len(), TypeId::MMeNc1.max_objects(true));
        for a in &run {
            assert_eq!(&Asdu::decode(&a.to_bytes().unwrap()).unwrap(), a);
        }
        assert!(Asdu::pack(TypeId::MMeNc1, Cot::new(Cause::Spontaneous), 1, []).is_empty());
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// 2009-08-13 10:21:33.456, Thursday: 0xb0 0x82 | 21 | 10 | 4<<5|13 | 8 | 9.
    fn t() -> Cp56Time2a {
        Cp56Time2a { milliseconds: 33_456, minute: 21, hour: 10, day_of_month: 13, day_of_week: 4, month: 8, year: 9, ..Default::default() }
    }
    const T: &str = "b0 82 15 0a 8d 08 09";

    fn one(type_id: TypeId, cause: Cause, ioa: u32, element: Element) -> Asdu {
        Asdu::single(type_id, Cot::new(cause), 0x0102, vec![InformationObject::new(ioa, element)])
    }

    /// Encodes, compares with the hand-assembled octets, decodes back and compares.
    fn golden(a: &Asdu, expected: &str) {
        let bytes = a.to_bytes().unwrap();
        assert_eq!(bytes, hex(expected), "{a:?}");
        assert_eq!(a.encoded_len(), bytes.len());
        assert_eq!(&Asdu::decode(&bytes).unwrap(), a);
    }

    const BAD: Qds = Qds { overflow: true, blocked: true, substituted: true, not_topical: true, invalid: true };

    #[test]
    fn monitor_status_types_match_standard_layout() {
        // type, VSQ, COT(cause, originator), CA lo hi, IOA lo mid hi, element, [time]
        golden(
            &one(
                TypeId::MSpNa1,
                Cause::Spontaneous,
                0x030201,
                Element::SinglePoint { value: true, quality: Qds { invalid: true, ..Qds::GOOD }, time: None },
            ),
            "01 01 03 00 02 01 01 02 03 81",
        );
        golden(
            &one(
                TypeId::MSpTb1,
                Cause::Spontaneous,
                1,
                Element::SinglePoint { value: false, quality: Qds { blocked: true, ..Qds::GOOD }, time: Some(t()) },
            ),
            &format!("1e 01 03 00 02 01 01 00 00 10 {T}"),
        );
        golden(
            &one(
                TypeId::MDpNa1,
                Cause::Interrogated,
                7,
                Element::DoublePoint { value: DoublePointValue::On, quality: Qds { not_topical: true, ..Qds::GOOD }, time: None },
            ),
            "03 01 14 00 02 01 07 00 00 42",
        );
        golden(
            &one(
                TypeId::MDpTb1,
                Cause::Spontaneous,
                7,
                Element::DoublePoint {
                    value: DoublePointValue::Indeterminate,
                    quality: Qds { substituted: true, ..Qds::GOOD },
                    time: Some(t()),
                },
            ),
            &format!("1f 01 03 00 02 01 07 00 00 23 {T}"),
        );
        golden(
            &one(
                TypeId::MStNa1,
                Cause::Spontaneous,
                9,
                Element::StepPosition { value: -1, transient: true, quality: Qds { overflow: true, ..Qds::GOOD }, time: None },
            ),
            "05 01 03 00 02 01 09 00 00 ff 01",
        );
        golden(
            &one(
                TypeId::MStTb1,
                Cause::Spontaneous,
                9,
                Element::StepPosition { value: 63, transient: false, quality: Qds::GOOD, time: Some(t()) },
            ),
            &format!("20 01 03 00 02 01 09 00 00 3f 00 {T}"),
        );
        golden(
            &one(TypeId::MBoNa1, Cause::Request, 9, Element::Bitstring { value: 0x1234_5678, quality: BAD, time: None }),
            "07 01 05 00 02 01 09 00 00 78 56 34 12 f1",
        );
        golden(
            &one(TypeId::MBoTb1, Cause::Spontaneous, 9, Element::Bitstring { value: 1, quality: Qds::GOOD, time: Some(t()) }),
            &format!("21 01 03 00 02 01 09 00 00 01 00 00 00 00 {T}"),
        );
        // SIQ/DIQ have no OV: it is dropped on encode.
        let a = one(TypeId::MSpNa1, Cause::Spontaneous, 1, Element::SinglePoint { value: false, quality: BAD, time: None });
        assert_eq!(a.to_bytes().unwrap(), hex("01 01 03 00 02 01 01 00 00 f0"));
    }

    #[test]
    fn measured_value_types_match_standard_layout() {
        golden(
            &one(TypeId::MMeNa1, Cause::Periodic, 0x10, Element::Normalized { value: -16384, quality: Qds::GOOD, time: None }),
            "09 01 01 00 02 01 10 00 00 00 c0 00",
        );
        golden(
            &one(
                TypeId::MMeTd1,
                Cause::Spontaneous,
                0x10,
                Element::Normalized { value: 16384, quality: Qds { invalid: true, ..Qds::GOOD }, time: Some(t()) },
            ),
            &format!("22 01 03 00 02 01 10 00 00 00 40 80 {T}"),
        );
        golden(
            &one(TypeId::MMeNb1, Cause::Background, 0x10, Element::Scaled { value: -2, quality: Qds::GOOD, time: None }),
            "0b 01 02 00 02 01 10 00 00 fe ff 00",
        );
        golden(
            &one(TypeId::MMeTe1, Cause::Spontaneous, 0x10, Element::Scaled { value: 1000, quality: Qds::GOOD, time: Some(t()) }),
            &format!("23 01 03 00 02 01 10 00 00 e8 03 00 {T}"),
        );
        // 1.5f32 = 0x3fc00000
        golden(
            &one(TypeId::MMeNc1, Cause::Spontaneous, 0x10, Element::ShortFloat { value: 1.5, quality: Qds::GOOD, time: None }),
            "0d 01 03 00 02 01 10 00 00 00 00 c0 3f 00",
        );
        golden(
            &one(
                TypeId::MMeTf1,
                Cause::Spontaneous,
                0x10,
                Element::ShortFloat { value: -2.0, quality: Qds { overflow: true, ..Qds::GOOD }, time: Some(t()) },
            ),
            &format!("24 01 03 00 02 01 10 00 00 00 00 00 c0 01 {T}"),
        );
        let bcr = Bcr { value: -2, sequence: 31, carry: true, adjusted: false, invalid: true };
        golden(
            &one(TypeId::MItNa1, Cause::CounterInterrogated, 0x20, Element::IntegratedTotals { counter: bcr, time: None }),
            "0f 01 25 00 02 01 20 00 00 fe ff ff ff bf",
        );
        golden(
            &one(
                TypeId::MItTb1,
                Cause::CounterGroup(4),
                0x20,
                Element::IntegratedTotals { counter: Bcr { value: 5, sequence: 1, adjusted: true, ..Bcr::default() }, time: Some(t()) },
            ),
            &format!("25 01 29 00 02 01 20 00 00 05 00 00 00 41 {T}"),
        );
        golden(
            &one(TypeId::MEiNa1, Cause::Initialized, 0, Element::EndOfInit { coi: Coi { cause: 2, after_parameter_change: true } }),
            "46 01 04 00 02 01 00 00 00 82",
        );
    }

    #[test]
    fn command_types_match_standard_layout() {
        // SCO: S/E | QU<<2 | SCS
        golden(
            &one(TypeId::CScNa1, Cause::Activation, 0x1195, Element::SingleCommand { value: true, qualifier: 0, select: true, time: None }),
            "2d 01 06 00 02 01 95 11 00 81",
        );
        golden(
            &one(
                TypeId::CScTa1,
                Cause::Activation,
                0x1195,
                Element::SingleCommand { value: false, qualifier: 1, select: false, time: Some(t()) },
            ),
            &format!("3a 01 06 00 02 01 95 11 00 04 {T}"),
        );
        golden(
            &one(
                TypeId::CDcNa1,
                Cause::Deactivation,
                5,
                Element::DoubleCommand { value: DoublePointValue::On, qualifier: 3, select: false, time: None },
            ),
            "2e 01 08 00 02 01 05 00 00 0e",
        );
        golden(
            &one(
                TypeId::CDcTa1,
                Cause::Activation,
                5,
                Element::DoubleCommand { value: DoublePointValue::Off, qualifier: 31, select: true, time: Some(t()) },
            ),
            &format!("3b 01 06 00 02 01 05 00 00 fd {T}"),
        );
        golden(
            &one(
                TypeId::CRcNa1,
                Cause::Activation,
                5,
                Element::RegulatingStep { value: StepCommand::Higher, qualifier: 2, select: false, time: None },
            ),
            "2f 01 06 00 02 01 05 00 00 0a",
        );
        golden(
            &one(
                TypeId::CRcTa1,
                Cause::Activation,
                5,
                Element::RegulatingStep { value: StepCommand::Lower, qualifier: 0, select: true, time: Some(t()) },
            ),
            &format!("3c 01 06 00 02 01 05 00 00 81 {T}"),
        );
        golden(
            &one(
                TypeId::CSeNa1,
                Cause::Activation,
                5,
                Element::SetpointNormalized { value: 0x1234, qualifier: 0, select: true, time: None },
            ),
            "30 01 06 00 02 01 05 00 00 34 12 80",
        );
        golden(
            &one(
                TypeId::CSeTa1,
                Cause::Activation,
                5,
                Element::SetpointNormalized { value: -1, qualifier: 127, select: false, time: Some(t()) },
            ),
            &format!("3d 01 06 00 02 01 05 00 00 ff ff 7f {T}"),
        );
        golden(
            &one(TypeId::CSeNb1, Cause::Activation, 5, Element::SetpointScaled { value: 300, qualifier: 1, select: false, time: None }),
            "31 01 06 00 02 01 05 00 00 2c 01 01",
        );
        golden(
            &one(
                TypeId::CSeTb1,
                Cause::Activation,
                5,
                Element::SetpointScaled { value: -300, qualifier: 0, select: true, time: Some(t()) },
            ),
            &format!("3e 01 06 00 02 01 05 00 00 d4 fe 80 {T}"),
        );
        golden(
            &one(TypeId::CSeNc1, Cause::Activation, 5, Element::SetpointFloat { value: 1.5, qualifier: 0, select: false, time: None }),
            "32 01 06 00 02 01 05 00 00 00 00 c0 3f 00",
        );
        golden(
            &one(
                TypeId::CSeTc1,
                Cause::ActivationCon,
                5,
                Element::SetpointFloat { value: 1.5, qualifier: 0, select: true, time: Some(t()) },
            ),
            &format!("3f 01 07 00 02 01 05 00 00 00 00 c0 3f 80 {T}"),
        );
    }

    #[test]
    fn system_command_types_match_standard_layout() {
        golden(&one(TypeId::CIcNa1, Cause::Activation, 0, Element::Interrogation { qoi: QOI_STATION }), "64 01 06 00 02 01 00 00 00 14");
        golden(
            &one(TypeId::CCiNa1, Cause::Activation, 0, Element::CounterInterrogation { qcc: Qcc { request: 5, freeze: 1 } }),
            "65 01 06 00 02 01 00 00 00 45",
        );
        golden(&one(TypeId::CRdNa1, Cause::Request, 0x0a0b0c, Element::Read), "66 01 05 00 02 01 0c 0b 0a");
        golden(&one(TypeId::CCsNa1, Cause::Activation, 0, Element::ClockSync { time: t() }), &format!("67 01 06 00 02 01 00 00 00 {T}"));
        golden(
            &one(TypeId::CTsTa1, Cause::Activation, 0, Element::TestCommand { counter: 0x1234, time: t() }),
            &format!("6b 01 06 00 02 01 00 00 00 34 12 {T}"),
        );
    }

    #[test]
    fn cot_bits_and_originator_round_trip() {
        let mut a =
            one(TypeId::CScNa1, Cause::ActivationCon, 1, Element::SingleCommand { value: true, qualifier: 0, select: false, time: None });
        a.cot = Cot { cause: Cause::ActivationCon, negative: true, test: true, originator: 3 };
        golden(&a, "2d 01 c7 03 02 01 01 00 00 01");
        a.cot = Cot { cause: Cause::InterrogatedGroup(16), negative: false, test: false, originator: 0 };
        golden(&a, "2d 01 24 00 02 01 01 00 00 01");
        a.cot.cause = Cause::Other(50);
        golden(&a, "2d 01 32 00 02 01 01 00 00 01");
        for code in 0..64u8 {
            let c = Cause::from_code(code);
            if code != 0 {
                assert_eq!(c.code(), Some(code), "{c:?}");
            }
        }
    }

    #[test]
    fn sequence_of_objects_carries_one_address() {
        let a = Asdu::sequence(
            TypeId::MMeNb1,
            Cot::new(Cause::Interrogated),
            1,
            0x000100,
            [1i16, 2, 3].map(|v| Element::Scaled { value: v, quality: Qds::GOOD, time: None }),
        );
        golden(&a, "0b 83 14 00 01 00 00 01 00 01 00 00 02 00 00 03 00 00");
        assert_eq!(a.objects[2].ioa, 0x102);
        let mut broken = a.clone();
        broken.objects[2].ioa = 0x200;
        assert_eq!(broken.to_bytes(), Err(AsduEncodeError::NonConsecutiveIoa { index: 2, expected: 0x102, found: 0x200 }));
    }

    #[test]
    fn several_objects_with_own_addresses() {
        let a = Asdu::single(
            TypeId::MSpNa1,
            Cot::new(Cause::Interrogated),
            1,
            vec![
                InformationObject::new(10, Element::SinglePoint { value: true, quality: Qds::GOOD, time: None }),
                InformationObject::new(5, Element::SinglePoint { value: false, quality: Qds::GOOD, time: None }),
            ],
        );
        golden(&a, "01 02 14 00 01 00 0a 00 00 01 05 00 00 00");
    }

    #[test]
    fn unknown_type_and_cause_keep_the_header_for_a_negative_reply() {
        let req = hex("88 01 06 05 02 01 0a 00 00 00");
        let err = Asdu::decode(&req).unwrap_err();
        let h = *err.header().unwrap();
        assert_eq!(
            h,
            AsduHeader {
                type_code: 0x88,
                sequence: false,
                count: 1,
                cot: Cot { cause: Cause::Activation, negative: false, test: false, originator: 5 },
                common_address: 0x0102,
                first_ioa: Some(10),
            }
        );
        assert_eq!(err.negative_cause(), Some(Cause::UnknownType));
        let mut out = vec![0xaa];
        negative_reply(&req, Cause::UnknownType, &mut out).unwrap();
        assert_eq!(out, hex("aa 88 01 6c 05 02 01 0a 00 00 00"));

        let req = hex("64 01 8e 00 02 01 00 00 00 14"); // cause 14 (reserved) with T set
        let err = Asdu::decode(&req).unwrap_err();
        assert!(matches!(err, AsduError::UnknownCause { .. }), "{err}");
        assert_eq!(err.negative_cause(), Some(Cause::UnknownCause));
        let mut out = Vec::new();
        negative_reply(&req, err.negative_cause().unwrap(), &mut out).unwrap();
        assert_eq!(out, hex("64 01 ed 00 02 01 00 00 00 14"));
        // And the reply decodes as a known type with a known cause.
        let reply = Asdu::decode(&out).unwrap();
        assert_eq!(reply.cot, Cot { cause: Cause::UnknownCause, negative: true, test: true, originator: 0 });
        assert_eq!(negative_reply(&req[..5], Cause::UnknownType, &mut out), Err(AsduEncodeError::RequestTooShort { length: 5 }));
    }

    #[test]
    fn reply_mirrors_a_command() {
        let cmd =
            one(TypeId::CScNa1, Cause::Activation, 0x1195, Element::SingleCommand { value: true, qualifier: 0, select: true, time: None });
        let con = cmd.reply(Cause::ActivationCon, false);
        assert_eq!(con.to_bytes().unwrap(), hex("2d 01 07 00 02 01 95 11 00 81"));
        let neg = cmd.reply(Cause::UnknownObjectAddress, true);
        assert_eq!(neg.to_bytes().unwrap(), hex("2d 01 6f 00 02 01 95 11 00 81"));
    }

    #[test]
    fn malformed_lengths_are_typed_errors() {
        assert!(matches!(Asdu::decode(&[]), Err(AsduError::Truncated { needed: 6, available: 0, .. })));
        assert!(matches!(Asdu::decode(&hex("01 01 03 00")), Err(AsduError::Truncated { available: 4, .. })));
        assert!(matches!(Asdu::decode(&hex("01 00 03 00 01 00")), Err(AsduError::NoObjects { .. })));
        assert_eq!(
            Asdu::decode(&hex("0d 01 03 00 01 00 01 00 00 00 00")),
            Err(AsduError::LengthMismatch {
                header: AsduHeader::peek(&hex("0d 01 03 00 01 00 01 00 00")).unwrap(),
                expected: 14,
                actual: 11
            })
        );
        assert!(matches!(
            Asdu::decode(&hex("01 01 03 00 01 00 01 00 00 00 ff")),
            Err(AsduError::LengthMismatch { expected: 10, actual: 11, .. })
        ));
        assert!(matches!(Asdu::decode(&hex("01 82 03 00 01 00 ff ff ff 00 00")), Err(AsduError::IoaOverflow { first: 0xff_ffff, .. })));
        // The error message names the field and offset.
        let msg = Asdu::decode(&hex("01 01")).unwrap_err().to_string();
        assert!(msg.contains("data unit identifier") && msg.contains("offset 0"), "{msg}");
    }

    #[test]
    fn encoder_refuses_inconsistent_asdus() {
        let sp = Element::SinglePoint { value: true, quality: Qds::GOOD, time: None };
        assert_eq!(Asdu::single(TypeId::MSpNa1, Cot::new(Cause::Spontaneous), 1, vec![]).to_bytes(), Err(AsduEncodeError::NoObjects));
        let mismatch = one(TypeId::MDpNa1, Cause::Spontaneous, 1, sp).to_bytes();
        assert!(matches!(
            mismatch,
            Err(AsduEncodeError::ElementMismatch { index: 0, type_id: TypeId::MDpNa1, element: "SinglePoint", has_time: false })
        ));
        // Time tag presence must match the type.
        assert!(matches!(
            one(TypeId::MSpTb1, Cause::Spontaneous, 1, sp).to_bytes(),
            Err(AsduEncodeError::ElementMismatch { has_time: false, .. })
        ));
        assert!(matches!(
            one(TypeId::MSpNa1, Cause::Spontaneous, 1, sp.with_time(t())).to_bytes(),
            Err(AsduEncodeError::ElementMismatch { has_time: true, .. })
        ));
        let objs = (0..128).map(|i| InformationObject::new(i, sp)).collect();
        assert_eq!(
            Asdu::single(TypeId::MSpNa1, Cot::new(Cause::Interrogated), 1, objs).to_bytes(),
            Err(AsduEncodeError::TooManyObjects { count: 128 })
        );
        let f = Element::ShortFloat { value: 0.0, quality: Qds::GOOD, time: Some(t()) };
        let objs: Vec<_> = (0..20).map(|i| InformationObject::new(i, f)).collect();
        assert_eq!(
            Asdu::single(TypeId::MMeTf1, Cot::new(Cause::Spontaneous), 1, objs).to_bytes(),
            Err(AsduEncodeError::TooLong { length: 6 + 20 * 15 })
        );
        assert_eq!(
            one(TypeId::MSpNa1, Cause::Spontaneous, 0x0100_0000, sp).to_bytes(),
            Err(AsduEncodeError::IoaOutOfRange { index: 0, ioa: 0x0100_0000 })
        );
        assert_eq!(
            one(TypeId::MSpNa1, Cause::InterrogatedGroup(17), 1, sp).to_bytes(),
            Err(AsduEncodeError::InvalidCause { cause: Cause::InterrogatedGroup(17) })
        );
        let sc = Element::SingleCommand { value: true, qualifier: 32, select: false, time: None };
        assert!(matches!(
            one(TypeId::CScNa1, Cause::Activation, 1, sc).to_bytes(),
            Err(AsduEncodeError::FieldOutOfRange { field: "QU", value: 32, .. })
        ));
        let st = Element::StepPosition { value: 64, transient: false, quality: Qds::GOOD, time: None };
        assert!(matches!(
            one(TypeId::MStNa1, Cause::Spontaneous, 1, st).to_bytes(),
            Err(AsduEncodeError::FieldOutOfRange { field: "step position", .. })
        ));
        // On error the caller's buffer is left untouched.
        let mut out = vec![1, 2, 3];
        assert!(one(TypeId::CScNa1, Cause::Activation, 1, sc).encode(&mut out).is_err());
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn max_objects_fill_but_do_not_overflow_an_asdu() {
        for ty in TypeId::ALL {
            assert_eq!(TypeId::try_from(ty.code()), Ok(ty));
            for seq in [false, true] {
                let n = ty.max_objects(seq);
                assert!((1..=MAX_OBJECTS).contains(&n), "{ty} {seq}");
                let len = |n: usize| HEADER_LEN + if seq { IOA_LEN + n * ty.element_len() } else { n * (IOA_LEN + ty.element_len()) };
                assert!(len(n) <= ASDU_MAX_LEN);
                assert!(n == MAX_OBJECTS || len(n + 1) > ASDU_MAX_LEN, "{ty} {seq}: {n}");
            }
        }
        assert_eq!(TypeId::MMeNc1.max_objects(false), 30);
        assert_eq!(TypeId::MSpNa1.max_objects(true), 127);
        assert_eq!(TypeId::MMeTf1.max_objects(false), 16);
        assert_eq!(TypeId::try_from(2), Err(UnknownTypeId(2)));
    }

    #[test]
    fn packed_splits_at_the_limit() {
        let f = Element::ShortFloat { value: 1.0, quality: Qds::GOOD, time: None };
        let asdus = Asdu::packed(TypeId::MMeNc1, Cot::new(Cause::Interrogated), 1, (0..65).map(|i| InformationObject::new(i, f)));
        assert_eq!(asdus.iter().map(|a| a.objects.len()).collect::<Vec<_>>(), vec![30, 30, 5]);
        for a in &asdus {
            assert!(a.to_bytes().unwrap().len() <= ASDU_MAX_LEN);
        }
    }

    #[test]
    fn time_mapping_between_spontaneous_and_interrogated_forms() {
        for ty in TypeId::ALL {
            let plain = ty.without_time();
            assert!(!plain.has_time_tag() || plain == TypeId::CTsTa1);
            if let Some(tagged) = ty.with_time() {
                assert_eq!(tagged.without_time(), plain, "{ty}");
                assert_eq!(tagged.element_len(), plain.element_len() + if plain == tagged { 0 } else { 7 });
            }
            assert_eq!(ty.is_command(), !ty.is_monitor());
        }
        let sp = Element::SinglePoint { value: true, quality: Qds::GOOD, time: None };
        assert_eq!(sp.type_id(), TypeId::MSpNa1);
        assert_eq!(sp.with_time(t()).type_id(), TypeId::MSpTb1);
        assert_eq!(sp.with_time(t()).without_time(), sp);
        assert_eq!(Element::Read.with_time(t()), Element::Read);
        assert!(TypeId::CSeNc1.is_process_command() && !TypeId::CIcNa1.is_process_command() && TypeId::CIcNa1.is_command());
        assert!(TypeId::MDpTb1.is_monitor_status() && TypeId::MMeTf1.is_measurement() && TypeId::MItTb1.is_integrated_totals());
        assert_eq!(Cause::for_qoi(20), Some(Cause::Interrogated));
        assert_eq!(Cause::for_qoi(36), Some(Cause::InterrogatedGroup(16)));
    }

    #[test]
    fn normalized_conversion_saturates() {
        assert_eq!(normalized_from_f32(0.5), 16384);
        assert_eq!(normalized_from_f32(2.0), i16::MAX);
        assert_eq!(normalized_from_f32(-2.0), i16::MIN);
        assert_eq!(normalized_from_f32(f32::NAN), 0);
        assert_eq!(normalized_to_f32(-32768), -1.0);
    }

    /// Found by the `asdu_decode` fuzz target: M_ME_NA_1, SQ=1, 96 objects is a consistent
    /// 297-octet ASDU that decoded although no APDU can carry it, and then could not re-encode.
    #[test]
    fn asdu_longer_than_an_apdu_allows_is_refused() {
        let bytes = hex("09e02900f81581048d1b1b211b1b1bfffff80083034100ffffffffffffffffffffffffffffffffffffffff5bffffffff
             ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
             ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
             ffffffffffffffffffffffffffffffffffffff0000000000000000ffffffffffffffffffffffffffffffffffffffffff
             ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
             ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
             ffffffffffff8d008d");
        assert_eq!(bytes.len(), 297);
        match Asdu::decode(&bytes) {
            Err(AsduError::TooLong { header, length: 297 }) => assert_eq!(header.count, 96),
            other => panic!("expected TooLong, got {other:?}"),
        }
    }
}
