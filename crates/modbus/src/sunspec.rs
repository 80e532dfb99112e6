//! SunSpec over Modbus, sans-IO: discovery of the model chain ([`Discovery`] says what to read
//! next and learns from the answers), a parser from a model's registers to typed readings
//! ([`parse_model`]) and the IEC 61850-7-420 names those readings are published under.
//!
//! Models covered: common (1), integer inverters (101–103, with scale factors), float inverters
//! (111–113), nameplate (120), immediate controls (123), storage (124) and integer meters
//! (201–204). Other models in a chain are found and skipped.
//!
//! Layouts follow the SunSpec Information Model Specification 1.x tables; offsets here count from
//! the first register after a model's ID and L.

use std::collections::HashMap;

use gridtrust_model::{PointId, PointIdError};

/// "SunS" at the base address marks a SunSpec device.
pub const MARKER: [u16; 2] = [0x5375, 0x6e53];
/// Where the marker may be, in the order SunSpec asks clients to try (protocol addresses, i.e.
/// 40000 is the register often written 40001).
pub const BASE_ADDRESSES: [u16; 3] = [40000, 0, 50000];
/// Model ID that ends the chain.
pub const END_MODEL: u16 = 0xffff;
/// Chains longer than this are treated as corrupt rather than walked for ever.
const MAX_MODELS: usize = 100;

/// Where one model's data sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelLocation {
    pub id: u16,
    /// Protocol address of the model's first data register (after ID and L).
    pub address: u16,
    /// L: data registers in the model.
    pub length: u16,
}

/// Why a device has no usable SunSpec map.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no SunS marker at any of the base addresses 40000, 0, 50000")]
    NoMarker,
    #[error("model chain runs past register 65535 (model {id} at {address} with length {length})")]
    ChainOverflow { id: u16, address: u32, length: u16 },
    #[error("model chain longer than {MAX_MODELS} models")]
    ChainTooLong,
    #[error("device refused to read the model header at {address}: {reason}")]
    HeaderUnreadable { address: u32, reason: String },
    #[error("read at {address} returned {got} registers, {wanted} asked")]
    ShortAnswer { address: u32, wanted: u16, got: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DiscoveryState {
    /// Reading marker + first header at `BASE_ADDRESSES[i]`.
    Probe(usize),
    /// Reading the header at this address.
    Walk(u32),
    Done(Result<(), DiscoveryError>),
}

/// The discovery state machine: ask [`Discovery::next_read`], perform that holding-register read,
/// and feed the answer or the failure back; no I/O and no clock inside.
#[derive(Clone, Debug)]
pub struct Discovery {
    state: DiscoveryState,
    base: Option<u16>,
    models: Vec<ModelLocation>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new()
    }
}

impl Discovery {
    /// Starts at the first base address.
    pub fn new() -> Self {
        Self { state: DiscoveryState::Probe(0), base: None, models: Vec::new() }
    }

    /// The holding-register read to perform next: (address, count), or `None` when finished.
    pub fn next_read(&self) -> Option<(u16, u16)> {
        match self.state {
            DiscoveryState::Probe(i) => BASE_ADDRESSES.get(i).map(|&a| (a, 4)),
            // Walk addresses are checked to leave room for the two header registers.
            DiscoveryState::Walk(a) => u16::try_from(a).ok().map(|a| (a, 2)),
            DiscoveryState::Done(_) => None,
        }
    }

    /// Feeds the registers answering [`Self::next_read`].
    pub fn on_registers(&mut self, registers: &[u16]) {
        match self.state {
            DiscoveryState::Probe(i) => match registers {
                [m0, m1, id, length, ..] if [*m0, *m1] == MARKER => {
                    let header = u32::from(BASE_ADDRESSES.get(i).copied().unwrap_or_default()) + 2;
                    self.base = BASE_ADDRESSES.get(i).copied();
                    self.on_header(header, *id, *length);
                }
                _ => self.on_probe_failed(i),
            },
            DiscoveryState::Walk(address) => match registers {
                [id, length, ..] => self.on_header(address, *id, *length),
                _ => self.state = DiscoveryState::Done(Err(DiscoveryError::ShortAnswer { address, wanted: 2, got: registers.len() })),
            },
            DiscoveryState::Done(_) => {}
        }
    }

    /// Feeds a failed read (exception or bad answer) with a reason for the report.
    pub fn on_failure(&mut self, reason: &str) {
        match self.state {
            DiscoveryState::Probe(i) => self.on_probe_failed(i),
            DiscoveryState::Walk(address) => {
                self.state = DiscoveryState::Done(Err(DiscoveryError::HeaderUnreadable { address, reason: reason.to_owned() }))
            }
            DiscoveryState::Done(_) => {}
        }
    }

    fn on_probe_failed(&mut self, i: usize) {
        self.state =
            if i + 1 < BASE_ADDRESSES.len() { DiscoveryState::Probe(i + 1) } else { DiscoveryState::Done(Err(DiscoveryError::NoMarker)) };
    }

    fn on_header(&mut self, address: u32, id: u16, length: u16) {
        if id == END_MODEL {
            self.state = DiscoveryState::Done(Ok(()));
            return;
        }
        let data = address + 2;
        let next = data + u32::from(length);
        // The next header needs two registers below 65536.
        let Ok(data_address) = u16::try_from(data) else {
            self.state = DiscoveryState::Done(Err(DiscoveryError::ChainOverflow { id, address, length }));
            return;
        };
        if next + 2 > 0x1_0000 {
            self.state = DiscoveryState::Done(Err(DiscoveryError::ChainOverflow { id, address, length }));
            return;
        }
        if self.models.len() >= MAX_MODELS {
            self.state = DiscoveryState::Done(Err(DiscoveryError::ChainTooLong));
            return;
        }
        self.models.push(ModelLocation { id, address: data_address, length });
        self.state = DiscoveryState::Walk(next);
    }

    /// The outcome once [`Self::next_read`] returns `None`: the base address and the models.
    pub fn result(&self) -> Option<Result<(u16, &[ModelLocation]), DiscoveryError>> {
        match &self.state {
            DiscoveryState::Done(Ok(())) => Some(Ok((self.base.unwrap_or_default(), &self.models))),
            DiscoveryState::Done(Err(e)) => Some(Err(e.clone())),
            _ => None,
        }
    }
}

/// SunSpec point types, each with its own "not implemented" pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U16,
    I16,
    /// Unsigned 32-bit accumulator; 0 means not accumulated.
    Acc32,
    F32,
    Enum16,
    Bitfield16,
    Bitfield32,
    /// Text over this many registers.
    Text(u16),
}

impl Kind {
    /// Registers a value of this kind spans.
    pub const fn registers(self) -> u16 {
        match self {
            Self::U16 | Self::I16 | Self::Enum16 | Self::Bitfield16 => 1,
            Self::Acc32 | Self::F32 | Self::Bitfield32 => 2,
            Self::Text(n) => n,
        }
    }
}

/// How a reading is published in the data model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr {
    /// A measurement or set point in engineering units (`Value::Float`).
    Analog,
    /// An enumerated state (`Value::Scaled`).
    Status,
    /// A bit string (`Value::Bitstring`).
    Bits,
    /// 0/1 enable (`Value::Single`).
    Flag,
    /// 0 disconnected / 1 connected, published as a switch position (`Value::Double`).
    Switch,
}

/// Where a field is published: logical-node class, its instance within the model (1-based) and
/// the data object / attribute path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointName {
    pub ln: &'static str,
    pub instance: u8,
    pub path: &'static str,
}

/// One point of a SunSpec model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The SunSpec point name.
    pub name: &'static str,
    pub offset: u16,
    pub kind: Kind,
    /// Offset of the scale-factor register, when the value is scaled.
    pub sf: Option<u16>,
    pub repr: Repr,
    /// Where it is published; `None` for fields parsed but not published (timers, per-phase
    /// energies, vendor events).
    pub point: Option<PointName>,
    /// Whether the edge may write it on a verified command.
    pub writable: bool,
}

const fn repr_of(kind: Kind) -> Repr {
    match kind {
        Kind::Enum16 => Repr::Status,
        Kind::Bitfield16 | Kind::Bitfield32 => Repr::Bits,
        _ => Repr::Analog,
    }
}

/// A published field.
const fn p(name: &'static str, offset: u16, kind: Kind, sf: Option<u16>, ln: &'static str, instance: u8, path: &'static str) -> Field {
    Field { name, offset, kind, sf, repr: repr_of(kind), point: Some(PointName { ln, instance, path }), writable: false }
}

/// A parsed, unpublished field.
const fn h(name: &'static str, offset: u16, kind: Kind, sf: Option<u16>) -> Field {
    Field { name, offset, kind, sf, repr: repr_of(kind), point: None, writable: false }
}

impl Field {
    const fn writable(mut self) -> Self {
        self.writable = true;
        self
    }
    const fn as_repr(mut self, repr: Repr) -> Self {
        self.repr = repr;
        self
    }
}

use Kind::{Acc32, Bitfield16, Bitfield32, Enum16, F32, I16, Text, U16};

/// A model layout.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelDef {
    pub name: &'static str,
    /// L of the model without optional padding.
    pub length: u16,
    pub fields: &'static [Field],
}

impl ModelDef {
    /// The field called `name` (SunSpec spelling).
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const COMMON: ModelDef = ModelDef {
    name: "common",
    length: 65,
    fields: &[
        h("Mn", 0, Text(16), None),
        h("Md", 16, Text(16), None),
        h("Opt", 32, Text(8), None),
        h("Vr", 40, Text(8), None),
        h("SN", 48, Text(16), None),
        h("DA", 64, U16, None),
    ],
};

const INVERTER_INT: ModelDef = ModelDef {
    name: "inverter (integer + scale factors)",
    length: 50,
    fields: &[
        p("A", 0, U16, Some(4), "MMXU", 1, "A.net.cVal.mag.f"),
        p("AphA", 1, U16, Some(4), "MMXU", 1, "A.phsA.cVal.mag.f"),
        p("AphB", 2, U16, Some(4), "MMXU", 1, "A.phsB.cVal.mag.f"),
        p("AphC", 3, U16, Some(4), "MMXU", 1, "A.phsC.cVal.mag.f"),
        p("PPVphAB", 5, U16, Some(11), "MMXU", 1, "PPV.phsAB.cVal.mag.f"),
        p("PPVphBC", 6, U16, Some(11), "MMXU", 1, "PPV.phsBC.cVal.mag.f"),
        p("PPVphCA", 7, U16, Some(11), "MMXU", 1, "PPV.phsCA.cVal.mag.f"),
        p("PhVphA", 8, U16, Some(11), "MMXU", 1, "PhV.phsA.cVal.mag.f"),
        p("PhVphB", 9, U16, Some(11), "MMXU", 1, "PhV.phsB.cVal.mag.f"),
        p("PhVphC", 10, U16, Some(11), "MMXU", 1, "PhV.phsC.cVal.mag.f"),
        p("W", 12, I16, Some(13), "MMXU", 1, "TotW.mag.f"),
        p("Hz", 14, U16, Some(15), "MMXU", 1, "Hz.mag.f"),
        p("VA", 16, I16, Some(17), "MMXU", 1, "TotVA.mag.f"),
        p("VAr", 18, I16, Some(19), "MMXU", 1, "TotVAr.mag.f"),
        p("PF", 20, I16, Some(21), "MMXU", 1, "TotPF.mag.f"),
        p("WH", 22, Acc32, Some(24), "MMTR", 1, "SupWh.actVal"),
        p("DCA", 25, U16, Some(26), "MMDC", 1, "Amp.mag.f"),
        p("DCV", 27, U16, Some(28), "MMDC", 1, "Vol.mag.f"),
        p("DCW", 29, I16, Some(30), "MMDC", 1, "Watt.mag.f"),
        p("TmpCab", 31, I16, Some(35), "STMP", 1, "Tmp.mag.f"),
        p("TmpSnk", 32, I16, Some(35), "STMP", 2, "Tmp.mag.f"),
        p("TmpTrns", 33, I16, Some(35), "STMP", 3, "Tmp.mag.f"),
        p("TmpOt", 34, I16, Some(35), "STMP", 4, "Tmp.mag.f"),
        p("St", 36, Enum16, None, "ZINV", 1, "InvSt.stVal"),
        p("StVnd", 37, Enum16, None, "ZINV", 1, "VndSt.stVal"),
        p("Evt1", 38, Bitfield32, None, "ZINV", 1, "Evt1.stVal"),
        p("Evt2", 40, Bitfield32, None, "ZINV", 1, "Evt2.stVal"),
        h("EvtVnd1", 42, Bitfield32, None),
        h("EvtVnd2", 44, Bitfield32, None),
        h("EvtVnd3", 46, Bitfield32, None),
        h("EvtVnd4", 48, Bitfield32, None),
    ],
};

const INVERTER_FLOAT: ModelDef = ModelDef {
    name: "inverter (float)",
    length: 60,
    fields: &[
        p("A", 0, F32, None, "MMXU", 1, "A.net.cVal.mag.f"),
        p("AphA", 2, F32, None, "MMXU", 1, "A.phsA.cVal.mag.f"),
        p("AphB", 4, F32, None, "MMXU", 1, "A.phsB.cVal.mag.f"),
        p("AphC", 6, F32, None, "MMXU", 1, "A.phsC.cVal.mag.f"),
        p("PPVphAB", 8, F32, None, "MMXU", 1, "PPV.phsAB.cVal.mag.f"),
        p("PPVphBC", 10, F32, None, "MMXU", 1, "PPV.phsBC.cVal.mag.f"),
        p("PPVphCA", 12, F32, None, "MMXU", 1, "PPV.phsCA.cVal.mag.f"),
        p("PhVphA", 14, F32, None, "MMXU", 1, "PhV.phsA.cVal.mag.f"),
        p("PhVphB", 16, F32, None, "MMXU", 1, "PhV.phsB.cVal.mag.f"),
        p("PhVphC", 18, F32, None, "MMXU", 1, "PhV.phsC.cVal.mag.f"),
        p("W", 20, F32, None, "MMXU", 1, "TotW.mag.f"),
        p("Hz", 22, F32, None, "MMXU", 1, "Hz.mag.f"),
        p("VA", 24, F32, None, "MMXU", 1, "TotVA.mag.f"),
        p("VAr", 26, F32, None, "MMXU", 1, "TotVAr.mag.f"),
        p("PF", 28, F32, None, "MMXU", 1, "TotPF.mag.f"),
        p("WH", 30, F32, None, "MMTR", 1, "SupWh.actVal"),
        p("DCA", 32, F32, None, "MMDC", 1, "Amp.mag.f"),
        p("DCV", 34, F32, None, "MMDC", 1, "Vol.mag.f"),
        p("DCW", 36, F32, None, "MMDC", 1, "Watt.mag.f"),
        p("TmpCab", 38, F32, None, "STMP", 1, "Tmp.mag.f"),
        p("TmpSnk", 40, F32, None, "STMP", 2, "Tmp.mag.f"),
        p("TmpTrns", 42, F32, None, "STMP", 3, "Tmp.mag.f"),
        p("TmpOt", 44, F32, None, "STMP", 4, "Tmp.mag.f"),
        p("St", 46, Enum16, None, "ZINV", 1, "InvSt.stVal"),
        p("StVnd", 47, Enum16, None, "ZINV", 1, "VndSt.stVal"),
        p("Evt1", 48, Bitfield32, None, "ZINV", 1, "Evt1.stVal"),
        p("Evt2", 50, Bitfield32, None, "ZINV", 1, "Evt2.stVal"),
        h("EvtVnd1", 52, Bitfield32, None),
        h("EvtVnd2", 54, Bitfield32, None),
        h("EvtVnd3", 56, Bitfield32, None),
        h("EvtVnd4", 58, Bitfield32, None),
    ],
};

const NAMEPLATE: ModelDef = ModelDef {
    name: "nameplate",
    length: 26,
    fields: &[
        p("DERTyp", 0, Enum16, None, "DRAT", 1, "DERTyp.stVal"),
        p("WRtg", 1, U16, Some(2), "DRAT", 1, "WRtg.mag.f"),
        p("VARtg", 3, U16, Some(4), "DRAT", 1, "VARtg.mag.f"),
        p("VArRtgQ1", 5, I16, Some(9), "DRAT", 1, "VArRtgQ1.mag.f"),
        p("VArRtgQ2", 6, I16, Some(9), "DRAT", 1, "VArRtgQ2.mag.f"),
        p("VArRtgQ3", 7, I16, Some(9), "DRAT", 1, "VArRtgQ3.mag.f"),
        p("VArRtgQ4", 8, I16, Some(9), "DRAT", 1, "VArRtgQ4.mag.f"),
        p("ARtg", 10, U16, Some(11), "DRAT", 1, "ARtg.mag.f"),
        h("PFRtgQ1", 12, I16, Some(16)),
        h("PFRtgQ2", 13, I16, Some(16)),
        h("PFRtgQ3", 14, I16, Some(16)),
        h("PFRtgQ4", 15, I16, Some(16)),
        p("WHRtg", 17, U16, Some(18), "DRAT", 1, "WHRtg.mag.f"),
        p("AhrRtg", 19, U16, Some(20), "DRAT", 1, "AhrRtg.mag.f"),
        p("MaxChaRte", 21, U16, Some(22), "DRAT", 1, "MaxChaRte.mag.f"),
        p("MaxDisChaRte", 23, U16, Some(24), "DRAT", 1, "MaxDisChaRte.mag.f"),
    ],
};

const CONTROLS: ModelDef = ModelDef {
    name: "immediate controls",
    length: 24,
    fields: &[
        h("Conn_WinTms", 0, U16, None),
        h("Conn_RvrtTms", 1, U16, None),
        p("Conn", 2, Enum16, None, "CSWI", 1, "Pos").as_repr(Repr::Switch).writable(),
        p("WMaxLimPct", 3, U16, Some(21), "DRCC", 1, "WMaxLimPct").writable(),
        h("WMaxLimPct_WinTms", 4, U16, None),
        h("WMaxLimPct_RvrtTms", 5, U16, None),
        h("WMaxLimPct_RmpTms", 6, U16, None),
        p("WMaxLim_Ena", 7, Enum16, None, "DRCC", 1, "WMaxLimEna").as_repr(Repr::Flag).writable(),
        p("OutPFSet", 8, I16, Some(22), "DRCC", 1, "OutPFSet").writable(),
        h("OutPFSet_WinTms", 9, U16, None),
        h("OutPFSet_RvrtTms", 10, U16, None),
        h("OutPFSet_RmpTms", 11, U16, None),
        p("OutPFSet_Ena", 12, Enum16, None, "DRCC", 1, "OutPFSetEna").as_repr(Repr::Flag).writable(),
        p("VArWMaxPct", 13, I16, Some(23), "DRCC", 1, "VArWMaxPct").writable(),
        p("VArMaxPct", 14, I16, Some(23), "DRCC", 1, "VArMaxPct").writable(),
        p("VArAvalPct", 15, I16, Some(23), "DRCC", 1, "VArAvalPct").writable(),
        h("VArPct_WinTms", 16, U16, None),
        h("VArPct_RvrtTms", 17, U16, None),
        h("VArPct_RmpTms", 18, U16, None),
        p("VArPct_Mod", 19, Enum16, None, "DRCC", 1, "VArPctMod").writable(),
        p("VArPct_Ena", 20, Enum16, None, "DRCC", 1, "VArPctEna").as_repr(Repr::Flag).writable(),
    ],
};

const STORAGE: ModelDef = ModelDef {
    name: "storage",
    length: 24,
    fields: &[
        p("WChaMax", 0, U16, Some(16), "DSTO", 1, "WChaMax.mag.f"),
        p("WChaGra", 1, U16, Some(17), "DSTO", 1, "WChaGra.mag.f"),
        p("WDisChaGra", 2, U16, Some(17), "DSTO", 1, "WDisChaGra.mag.f"),
        p("StorCtl_Mod", 3, Bitfield16, None, "DSTO", 1, "StorCtlMod.stVal"),
        p("VAChaMax", 4, U16, Some(18), "DSTO", 1, "VAChaMax.mag.f"),
        p("MinRsvPct", 5, U16, Some(19), "DSTO", 1, "MinRsvPct.mag.f"),
        p("ChaState", 6, U16, Some(20), "ZBAT", 1, "SoC.mag.f"),
        p("StorAval", 7, U16, Some(21), "ZBAT", 1, "AvlAhr.mag.f"),
        p("InBatV", 8, U16, Some(22), "ZBAT", 1, "Vol.mag.f"),
        p("ChaSt", 9, Enum16, None, "ZBAT", 1, "ChaSt.stVal"),
        p("OutWRte", 10, I16, Some(23), "DSTO", 1, "OutWRte.mag.f"),
        p("InWRte", 11, I16, Some(23), "DSTO", 1, "InWRte.mag.f"),
        h("InOutWRte_WinTms", 12, U16, None),
        h("InOutWRte_RvrtTms", 13, U16, None),
        h("InOutWRte_RmpTms", 14, U16, None),
        p("ChaGriSet", 15, Enum16, None, "DSTO", 1, "ChaGriSet.stVal"),
    ],
};

const METER: ModelDef = ModelDef {
    name: "meter (integer + scale factors)",
    length: 105,
    fields: &[
        p("A", 0, I16, Some(4), "MMXU", 1, "A.net.cVal.mag.f"),
        p("AphA", 1, I16, Some(4), "MMXU", 1, "A.phsA.cVal.mag.f"),
        p("AphB", 2, I16, Some(4), "MMXU", 1, "A.phsB.cVal.mag.f"),
        p("AphC", 3, I16, Some(4), "MMXU", 1, "A.phsC.cVal.mag.f"),
        p("PhV", 5, I16, Some(13), "MMXU", 1, "AvPhVPhs.mag.f"),
        p("PhVphA", 6, I16, Some(13), "MMXU", 1, "PhV.phsA.cVal.mag.f"),
        p("PhVphB", 7, I16, Some(13), "MMXU", 1, "PhV.phsB.cVal.mag.f"),
        p("PhVphC", 8, I16, Some(13), "MMXU", 1, "PhV.phsC.cVal.mag.f"),
        p("PPV", 9, I16, Some(13), "MMXU", 1, "AvPPVPhs.mag.f"),
        p("PPVphAB", 10, I16, Some(13), "MMXU", 1, "PPV.phsAB.cVal.mag.f"),
        p("PPVphBC", 11, I16, Some(13), "MMXU", 1, "PPV.phsBC.cVal.mag.f"),
        p("PPVphCA", 12, I16, Some(13), "MMXU", 1, "PPV.phsCA.cVal.mag.f"),
        p("Hz", 14, I16, Some(15), "MMXU", 1, "Hz.mag.f"),
        p("W", 16, I16, Some(20), "MMXU", 1, "TotW.mag.f"),
        p("WphA", 17, I16, Some(20), "MMXU", 1, "W.phsA.cVal.mag.f"),
        p("WphB", 18, I16, Some(20), "MMXU", 1, "W.phsB.cVal.mag.f"),
        p("WphC", 19, I16, Some(20), "MMXU", 1, "W.phsC.cVal.mag.f"),
        p("VA", 21, I16, Some(25), "MMXU", 1, "TotVA.mag.f"),
        p("VAphA", 22, I16, Some(25), "MMXU", 1, "VA.phsA.cVal.mag.f"),
        p("VAphB", 23, I16, Some(25), "MMXU", 1, "VA.phsB.cVal.mag.f"),
        p("VAphC", 24, I16, Some(25), "MMXU", 1, "VA.phsC.cVal.mag.f"),
        p("VAR", 26, I16, Some(30), "MMXU", 1, "TotVAr.mag.f"),
        p("VARphA", 27, I16, Some(30), "MMXU", 1, "VAr.phsA.cVal.mag.f"),
        p("VARphB", 28, I16, Some(30), "MMXU", 1, "VAr.phsB.cVal.mag.f"),
        p("VARphC", 29, I16, Some(30), "MMXU", 1, "VAr.phsC.cVal.mag.f"),
        p("PF", 31, I16, Some(35), "MMXU", 1, "TotPF.mag.f"),
        p("PFphA", 32, I16, Some(35), "MMXU", 1, "PF.phsA.cVal.mag.f"),
        p("PFphB", 33, I16, Some(35), "MMXU", 1, "PF.phsB.cVal.mag.f"),
        p("PFphC", 34, I16, Some(35), "MMXU", 1, "PF.phsC.cVal.mag.f"),
        p("TotWhExp", 36, Acc32, Some(52), "MMTR", 1, "SupWh.actVal"),
        h("TotWhExpPhA", 38, Acc32, Some(52)),
        h("TotWhExpPhB", 40, Acc32, Some(52)),
        h("TotWhExpPhC", 42, Acc32, Some(52)),
        p("TotWhImp", 44, Acc32, Some(52), "MMTR", 1, "DmdWh.actVal"),
        h("TotWhImpPhA", 46, Acc32, Some(52)),
        h("TotWhImpPhB", 48, Acc32, Some(52)),
        h("TotWhImpPhC", 50, Acc32, Some(52)),
        h("TotVAhExp", 53, Acc32, Some(69)),
        h("TotVAhImp", 61, Acc32, Some(69)),
        h("TotVArhImpQ1", 70, Acc32, Some(102)),
        h("TotVArhImpQ2", 78, Acc32, Some(102)),
        h("TotVArhExpQ3", 86, Acc32, Some(102)),
        h("TotVArhExpQ4", 94, Acc32, Some(102)),
        p("Evt", 103, Bitfield32, None, "MMTR", 1, "Evt.stVal"),
    ],
};

/// The layout of model `id`, when gridtrust knows it.
pub fn model_def(id: u16) -> Option<&'static ModelDef> {
    Some(match id {
        1 => &COMMON,
        101..=103 => &INVERTER_INT,
        111..=113 => &INVERTER_FLOAT,
        120 => &NAMEPLATE,
        123 => &CONTROLS,
        124 => &STORAGE,
        201..=204 => &METER,
        _ => return None,
    })
}

/// One field's reading.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// The device says the point (or its scale factor) is not implemented.
    NotImplemented,
    /// A scale factor outside SunSpec's -10..=10: the value cannot be trusted.
    BadScaleFactor(i16),
    /// Scaled to engineering units.
    Number(f64),
    Enum(u16),
    Bits(u32),
    Text(String),
}

/// Why registers cannot be parsed as a model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("model {0} is not one gridtrust parses")]
    UnknownModel(u16),
    #[error("model {id} ({name}) needs {needed} registers, {got} given")]
    TooShort { id: u16, name: &'static str, needed: u16, got: usize },
}

/// A parsed model: one reading per field of its layout, in layout order.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelValues {
    pub id: u16,
    pub def: &'static ModelDef,
    pub readings: Vec<Reading>,
}

impl ModelValues {
    /// The reading of the field called `name`.
    pub fn get(&self, name: &str) -> Option<&Reading> {
        self.def.fields.iter().position(|f| f.name == name).and_then(|i| self.readings.get(i))
    }

    /// The reading of `name` as a number, when it is one.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Reading::Number(n) => Some(*n),
            Reading::Enum(e) => Some(f64::from(*e)),
            _ => None,
        }
    }
}

const POW10: [f64; 21] =
    [1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// 10^sf for a scale-factor register, or why there is none.
pub fn scale_factor(raw: u16) -> Result<f64, Reading> {
    if raw == 0x8000 {
        return Err(Reading::NotImplemented);
    }
    let sf = i16::from_be_bytes(raw.to_be_bytes());
    usize::try_from(i32::from(sf) + 10).ok().and_then(|i| POW10.get(i).copied()).ok_or(Reading::BadScaleFactor(sf))
}

fn raw_reading(kind: Kind, regs: &[u16]) -> Reading {
    let word = |i: usize| regs.get(i).copied().unwrap_or_default();
    let dword = || u32::from(word(0)) << 16 | u32::from(word(1));
    match kind {
        U16 => match word(0) {
            0xffff => Reading::NotImplemented,
            v => Reading::Number(f64::from(v)),
        },
        I16 => match word(0) {
            0x8000 => Reading::NotImplemented,
            v => Reading::Number(f64::from(i16::from_be_bytes(v.to_be_bytes()))),
        },
        Acc32 => match dword() {
            0 => Reading::NotImplemented,
            v => Reading::Number(f64::from(v)),
        },
        F32 => match f32::from_bits(dword()) {
            v if v.is_nan() => Reading::NotImplemented,
            v => Reading::Number(f64::from(v)),
        },
        Enum16 => match word(0) {
            0xffff => Reading::NotImplemented,
            v => Reading::Enum(v),
        },
        Bitfield16 => match word(0) {
            0xffff => Reading::NotImplemented,
            v => Reading::Bits(u32::from(v)),
        },
        Bitfield32 => match dword() {
            0xffff_ffff => Reading::NotImplemented,
            v => Reading::Bits(v),
        },
        Text(_) if regs.iter().all(|&w| w == 0) => Reading::NotImplemented,
        Text(_) => Reading::Text(crate::registers::text(regs, crate::registers::Order::Abcd)),
    }
}

/// Reads one field out of a model's data registers (already checked to be long enough).
pub fn read_field(field: &Field, data: &[u16]) -> Reading {
    let at = usize::from(field.offset);
    let Some(regs) = data.get(at..at + usize::from(field.kind.registers())) else {
        return Reading::NotImplemented;
    };
    let reading = raw_reading(field.kind, regs);
    match (reading, field.sf) {
        (Reading::Number(v), Some(sf)) => match scale_factor(data.get(usize::from(sf)).copied().unwrap_or(0x8000)) {
            Ok(factor) => Reading::Number(v * factor),
            Err(why) => why,
        },
        (reading, _) => reading,
    }
}

/// Parses model `id` from its data registers (the `L` registers after ID and L). Longer blocks
/// (vendor padding) are accepted; shorter ones are an error.
pub fn parse_model(id: u16, data: &[u16]) -> Result<ModelValues, ParseError> {
    let def = model_def(id).ok_or(ParseError::UnknownModel(id))?;
    if data.len() < usize::from(def.length) {
        return Err(ParseError::TooShort { id, name: def.name, needed: def.length, got: data.len() });
    }
    Ok(ModelValues { id, def, readings: def.fields.iter().map(|f| read_field(f, data)).collect() })
}

/// Hands out logical-node instance numbers across the models of one device, so that an inverter
/// and a meter on the same device get `MMXU1` and `MMXU2`.
#[derive(Debug, Default)]
pub struct LnInstances {
    used: HashMap<&'static str, u32>,
}

impl LnInstances {
    /// The point ids of `def`'s published fields under logical device `ld` (one entry per field,
    /// `None` where unpublished), reserving the logical-node instances they use.
    pub fn point_ids(&mut self, ld: &str, def: &ModelDef) -> Result<Vec<Option<PointId>>, PointIdError> {
        let base = self.used.clone();
        def.fields
            .iter()
            .map(|f| {
                f.point
                    .map(|p| {
                        let instance = base.get(p.ln).copied().unwrap_or(0) + u32::from(p.instance);
                        let top = self.used.entry(p.ln).or_insert(0);
                        *top = (*top).max(instance);
                        PointId::new(format!("{ld}/{}{instance}.{}", p.ln, p.path))
                    })
                    .transpose()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn discovery_walks_the_chain_after_a_failed_first_base() {
        let mut d = Discovery::new();
        assert_eq!(d.next_read(), Some((40000, 4)));
        d.on_failure("illegal data address");
        assert_eq!(d.next_read(), Some((0, 4)));
        d.on_registers(&[0x5375, 0x6e53, 1, 66]);
        assert_eq!(d.next_read(), Some((70, 2)));
        d.on_registers(&[103, 50]);
        assert_eq!(d.next_read(), Some((122, 2)));
        d.on_registers(&[0xffff, 0]);
        assert_eq!(d.next_read(), None);
        let (base, models) = d.result().unwrap().unwrap();
        assert_eq!(base, 0);
        assert_eq!(models, [ModelLocation { id: 1, address: 4, length: 66 }, ModelLocation { id: 103, address: 72, length: 50 }]);
    }

    #[test]
    fn discovery_without_marker_or_with_a_runaway_chain_fails() {
        let mut d = Discovery::new();
        for _ in 0..3 {
            d.on_registers(&[1, 2, 3, 4]);
        }
        assert_eq!(d.result(), Some(Err(DiscoveryError::NoMarker)));
        let mut d = Discovery::new();
        d.on_registers(&[0x5375, 0x6e53, 1, 65000]);
        assert!(matches!(d.result(), Some(Err(DiscoveryError::ChainOverflow { id: 1, .. }))));
    }

    #[test]
    fn inverter_values_are_scaled_and_unimplemented_points_say_so() {
        let mut data = vec![0u16; 50];
        data[0] = 123; // A
        data[4] = (-1i16) as u16; // A_SF
        data[1] = 0xffff; // AphA not implemented
        data[12] = 4200; // W
        data[13] = 0; // W_SF
        data[14] = 5001; // Hz
        data[15] = (-2i16) as u16;
        data[16] = 100; // VA with VA_SF not implemented
        data[17] = 0x8000;
        data[18] = 5; // VAr with a scale factor out of range
        data[19] = 11;
        data[22] = 1;
        data[23] = 0; // WH = 65536
        data[24] = 1;
        data[36] = 4; // St MPPT
        let m = parse_model(103, &data).unwrap();
        assert_eq!(m.get("A"), Some(&Reading::Number(12.3)));
        assert_eq!(m.get("AphA"), Some(&Reading::NotImplemented));
        assert_eq!(m.get("W"), Some(&Reading::Number(4200.0)));
        assert!((m.number("Hz").unwrap() - 50.01).abs() < 1e-9);
        assert_eq!(m.get("VA"), Some(&Reading::NotImplemented));
        assert_eq!(m.get("VAr"), Some(&Reading::BadScaleFactor(11)));
        assert_eq!(m.get("WH"), Some(&Reading::Number(655_360.0)));
        assert_eq!(scale_factor(0x7fff), Err(Reading::BadScaleFactor(i16::MAX)), "no overflow at the extremes");
        assert_eq!(scale_factor(0x8001), Err(Reading::BadScaleFactor(i16::MIN + 1)));
        assert_eq!(m.get("St"), Some(&Reading::Enum(4)));
        assert_eq!(parse_model(103, &data[..49]), Err(ParseError::TooShort { id: 103, name: INVERTER_INT.name, needed: 50, got: 49 }));
        assert_eq!(parse_model(64110, &data), Err(ParseError::UnknownModel(64110)));
    }

    #[test]
    fn float_inverter_and_common_model() {
        let mut data = vec![0u16; 60];
        let w = 2500.5f32.to_bits();
        data[20] = (w >> 16) as u16;
        data[21] = (w & 0xffff) as u16;
        let nan = f32::NAN.to_bits();
        data[22] = (nan >> 16) as u16;
        data[23] = (nan & 0xffff) as u16;
        let m = parse_model(113, &data).unwrap();
        assert_eq!(m.get("W"), Some(&Reading::Number(2500.5)));
        assert_eq!(m.get("Hz"), Some(&Reading::NotImplemented));
        let mut common = vec![0u16; 66];
        common[0] = u16::from_be_bytes(*b"gr");
        common[1] = u16::from_be_bytes(*b"id");
        let m = parse_model(1, &common).unwrap();
        assert_eq!(m.get("Mn"), Some(&Reading::Text("grid".into())));
        assert_eq!(m.get("SN"), Some(&Reading::NotImplemented));
    }

    #[test]
    fn point_ids_are_valid_and_instances_do_not_collide() {
        let mut ln = LnInstances::default();
        let inverter = ln.point_ids("PV1", &INVERTER_INT).unwrap();
        let meter = ln.point_ids("PV1", &METER).unwrap();
        let controls = ln.point_ids("PV1", &CONTROLS).unwrap();
        let name = |ids: &[Option<PointId>], def: &ModelDef, f: &str| {
            ids[def.fields.iter().position(|x| x.name == f).unwrap()].clone().unwrap().to_string()
        };
        assert_eq!(name(&inverter, &INVERTER_INT, "W"), "PV1/MMXU1.TotW.mag.f");
        assert_eq!(name(&inverter, &INVERTER_INT, "TmpSnk"), "PV1/STMP2.Tmp.mag.f");
        assert_eq!(name(&meter, &METER, "W"), "PV1/MMXU2.TotW.mag.f");
        assert_eq!(name(&meter, &METER, "TotWhImp"), "PV1/MMTR2.DmdWh.actVal");
        assert_eq!(name(&controls, &CONTROLS, "WMaxLimPct"), "PV1/DRCC1.WMaxLimPct");
        assert_eq!(name(&controls, &CONTROLS, "Conn"), "PV1/CSWI1.Pos");
    }

    #[test]
    fn every_layout_stays_inside_its_length() {
        for id in [1, 103, 113, 120, 123, 124, 201] {
            let def = model_def(id).unwrap();
            for f in def.fields {
                assert!(f.offset + f.kind.registers() <= def.length, "{id} {}", f.name);
                assert!(f.sf.is_none_or(|s| s < def.length), "{id} {}", f.name);
            }
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics_on_arbitrary_registers(id in prop_oneof![Just(1u16), 101u16..=103, 111u16..=113, Just(120u16), Just(123u16), Just(124u16), 201u16..=204, any::<u16>()], data in proptest::collection::vec(any::<u16>(), 0..130)) {
            if let Ok(m) = parse_model(id, &data) {
                prop_assert_eq!(m.readings.len(), m.def.fields.len());
            }
        }

        #[test]
        fn discovery_never_panics_or_loops(answers in proptest::collection::vec(proptest::collection::vec(any::<u16>(), 0..5), 0..200)) {
            let mut d = Discovery::new();
            let mut steps = 0;
            for a in &answers {
                if d.next_read().is_none() { break; }
                if a.is_empty() { d.on_failure("x") } else { d.on_registers(a) }
                steps += 1;
            }
            prop_assert!(steps <= 3 + MAX_MODELS + 1);
        }
    }
}
