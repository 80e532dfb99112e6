//! IEC 62351-8 roles and the X.509 extension that carries them.
//!
//! # The extension
//!
//! IEC 62351-8 (clause 9.5, access token profile A: an X.509 identity certificate) defines a
//! non-critical extension, OID `1.2.840.10070.8.1` (`id-IEC62351 { 1 2 840 10070 }`, then
//! `{ 8 1 }`), whose value is `IECUserRoles ::= SEQUENCE OF ...`. The standard is not freely
//! available and we could not consult its ASN.1 module; the structure below is assembled from
//! public sources, and what we could not confirm is marked as ours:
//!
//! - OID, name, non-criticality and `IECUserRoles ::= SEQUENCE OF ...`: the OID registry record
//!   <https://oidref.com/1.2.840.10070.8.1> (from oid-info.com), quoting IEC TS 62351-8:2011
//!   clause 9.3, and clause 9.5.1.1 ("a non critical standard X509v3 extension").
//! - The fields (role id, area of responsibility, revision of the subject-to-role assignment,
//!   role definition, the optional operation and `statusChangeSequenceNumber`) and
//!   `RoleID ::= INTEGER (-32768..32767)`, 0..32767 reserved for IEC 62351, negative ids for
//!   private use, several roles per token: IEC TS 62351-8:2011 clauses 9.4.2-9.4.4, as
//!   reproduced in public excerpts of the standard.
//! - Field order, tags and the `userRole` sequence: the DER test vector of FreeIPA's
//!   `IECUserRoles` certificate profile (freeipa-pytests, test for bug 1254641:
//!   `30 27 30 25 | 30 04 02 02 00 FF | 0C 0A "Outstation" | 02 02 00 FF | 0C 0A "IEC62351-8" |
//!   0A 01 03`), which also shows an ENUMERATED after `roleDefinition` (we read it as
//!   `operation`), and an independent parser of these tokens (2022) that reads `userRole` as a
//!   list of role ids followed by `aor`, `revision`, `roleDefinition`, with the standard role
//!   names VIEWER 0, OPERATOR 1, ENGINEER 2, INSTALLER 3, SECADM 4, SECAUD 5, RBACMNT 6.
//! - Ours, not confirmed: the size bounds below, and reading a trailing INTEGER as
//!   `statusChangeSequenceNumber` (0..2^32-1). The token's validity period (clause 9.4.1) is,
//!   for a certificate, the certificate's own validity; none of the public encodings carries a
//!   separate one, so neither do we.
//!
//! ```text
//! IECUserRoles    ::= SEQUENCE SIZE (1..MAX) OF RoleInformation
//! RoleInformation ::= SEQUENCE {
//!     userRole                   SEQUENCE SIZE (1..MAX) OF RoleID,
//!     aor                        UTF8String,        -- area of responsibility
//!     revision                   INTEGER (0..255),  -- of the subject-to-role assignment
//!     roleDefinition             UTF8String,        -- which role-to-right mapping applies
//!     operation                  ENUMERATED OPTIONAL,
//!     statusChangeSequenceNumber INTEGER (0..4294967295) OPTIONAL }
//! RoleID          ::= INTEGER (-32768..32767)
//! ```
//!
//! What gridtrust writes: one `RoleInformation` with every role of the identity in `userRole`
//! (ascending, no duplicates), `aor` = [`DEFAULT_AOR`], `revision` 0, `roleDefinition` =
//! [`STANDARD_ROLE_DEFINITION`] (the standard's own role-to-right table), and neither optional
//! field. There is no separate role validity: the certificate's own validity bounds the roles.
//!
//! What gridtrust reads: exactly that grammar in DER (definite minimal lengths, minimal
//! integers, no trailing bytes), the two optional fields accepted and kept as numbers (their
//! enumeration names are in the standard only). Bounds we enforce because a role claim has no
//! business being large: at most [`MAX_ROLE_INFOS`] entries of at most [`MAX_ROLES_PER_INFO`]
//! roles, `aor` 1..=64 characters, `roleDefinition` 1..=128 characters. Role ids that are not
//! standard roles (private negative ids, reserved ids) decode but grant nothing here: they are
//! not [`Role`]s.

use std::fmt;
use std::str::FromStr;

/// The extension's OID, `1.2.840.10070.8.1`, as rcgen wants it.
pub const ROLE_EXTENSION_OID: &[u64] = &[1, 2, 840, 10070, 8, 1];

/// The extension's OID in dotted form, for messages and `pki show`.
pub const ROLE_EXTENSION_OID_STR: &str = "1.2.840.10070.8.1";

/// The area of responsibility gridtrust writes: the whole installation of one operator CA.
pub const DEFAULT_AOR: &str = "gridtrust";

/// The role definition gridtrust writes: roles mean what IEC 62351-8's standard table says.
pub const STANDARD_ROLE_DEFINITION: &str = "IEC62351-8";

/// At most this many `RoleInformation` entries are accepted in one extension.
pub const MAX_ROLE_INFOS: usize = 16;

/// At most this many role ids are accepted in one `RoleInformation`.
pub const MAX_ROLES_PER_INFO: usize = 64;

const AOR_MAX_CHARS: usize = 64;
const ROLE_DEFINITION_MAX_CHARS: usize = 128;

/// A standard IEC 62351-8 role. The discriminant is the role id carried in certificates.
///
/// Only the standard roles exist as values, so code that authorises on a `Role` can never be
/// handed a private or reserved id by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// May read values and reports, nothing else.
    Viewer = 0,
    /// May read and operate (commands, setpoints).
    Operator = 1,
    /// May read, change configuration and data sets.
    Engineer = 2,
    /// May install firmware and configuration.
    Installer = 3,
    /// Security administrator: keys, certificates, role assignments.
    SecAdm = 4,
    /// Security auditor: reads security logs.
    SecAud = 5,
    /// RBAC management: manages role-to-right mappings.
    RbacMnt = 6,
}

impl Role {
    /// Every standard role, in id order.
    pub const ALL: [Role; 7] = [Role::Viewer, Role::Operator, Role::Engineer, Role::Installer, Role::SecAdm, Role::SecAud, Role::RbacMnt];

    /// The roles that may operate equipment (commands, set points): OPERATOR and ENGINEER.
    /// The one list the hub's policy, the edge's gate, the API and the cc all decide by.
    pub const OPERATING: &'static [Role] = &[Role::Operator, Role::Engineer];

    /// The IEC 62351-8 role id.
    pub fn id(self) -> i16 {
        self as i16
    }

    /// The standard role with this id, if it is one.
    pub fn from_id(id: i16) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The role's name as IEC 62351-8 writes it (`VIEWER`, `SECADM`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Operator => "OPERATOR",
            Role::Engineer => "ENGINEER",
            Role::Installer => "INSTALLER",
            Role::SecAdm => "SECADM",
            Role::SecAud => "SECAUD",
            Role::RbacMnt => "RBACMNT",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A role name that is not one of the standard roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IEC 62351-8 role {0:?} (expected one of VIEWER, OPERATOR, ENGINEER, INSTALLER, SECADM, SECAUD, RBACMNT)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Case-insensitive, so `--role operator` works on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// One `RoleInformation` of the extension, as decoded: role ids as carried, not only standard
/// roles, so `pki show` can say what a foreign certificate claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleInformation {
    /// `userRole`: the role ids, as carried.
    pub role_ids: Vec<i16>,
    /// `aor`: the area of responsibility the roles apply to.
    pub aor: String,
    /// `revision`: the revision of the subject-to-role assignment.
    pub revision: u8,
    /// `roleDefinition`: which role-to-right mapping the ids refer to.
    pub role_definition: String,
    /// `operation`, if present (an ENUMERATED value; names are in the standard only).
    pub operation: Option<u32>,
    /// `statusChangeSequenceNumber`, if present.
    pub status_change_sequence_number: Option<u32>,
}

impl RoleInformation {
    /// What gridtrust writes for `roles`: standard definition, default area, revision 0.
    pub fn standard(roles: &[Role]) -> Self {
        let mut ids: Vec<i16> = roles.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        Self {
            role_ids: ids,
            aor: DEFAULT_AOR.to_owned(),
            revision: 0,
            role_definition: STANDARD_ROLE_DEFINITION.to_owned(),
            operation: None,
            status_change_sequence_number: None,
        }
    }
}

/// The decoded value of the IEC 62351-8 role extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRoles(pub Vec<RoleInformation>);

impl UserRoles {
    /// The extension gridtrust writes for an identity with `roles`.
    pub fn standard(roles: &[Role]) -> Self {
        Self(vec![RoleInformation::standard(roles)])
    }

    /// The standard roles claimed, ascending, without duplicates. Ids that are not standard
    /// roles are left out: they grant nothing in gridtrust.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.0.iter().flat_map(|i| i.role_ids.iter().filter_map(|id| Role::from_id(*id))).collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    /// Role ids carried that are not standard roles (private or reserved ids).
    pub fn other_role_ids(&self) -> Vec<i16> {
        let mut ids: Vec<i16> = self.0.iter().flat_map(|i| i.role_ids.iter().copied().filter(|id| Role::from_id(*id).is_none())).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The DER encoding (the extension's `extnValue` contents).
    ///
    /// Refuses what [`UserRoles::decode`] would refuse, so whatever we write we can read.
    pub fn encode(&self) -> Result<Vec<u8>, RoleExtensionError> {
        let invalid = |field| RoleExtensionError { offset: 0, field, problem: RoleProblem::Size };
        if self.0.is_empty() || self.0.len() > MAX_ROLE_INFOS {
            return Err(invalid("IECUserRoles"));
        }
        let mut infos = Vec::new();
        for info in &self.0 {
            if info.role_ids.is_empty() || info.role_ids.len() > MAX_ROLES_PER_INFO {
                return Err(invalid("userRole"));
            }
            if !char_count_in(&info.aor, AOR_MAX_CHARS) {
                return Err(invalid("aor"));
            }
            if !char_count_in(&info.role_definition, ROLE_DEFINITION_MAX_CHARS) {
                return Err(invalid("roleDefinition"));
            }
            let mut ids = Vec::new();
            for id in &info.role_ids {
                der::write_integer(&mut ids, TAG_INTEGER, i64::from(*id));
            }
            let mut body = Vec::new();
            der::write_tlv(&mut body, TAG_SEQUENCE, &ids);
            der::write_tlv(&mut body, TAG_UTF8STRING, info.aor.as_bytes());
            der::write_integer(&mut body, TAG_INTEGER, i64::from(info.revision));
            der::write_tlv(&mut body, TAG_UTF8STRING, info.role_definition.as_bytes());
            if let Some(op) = info.operation {
                der::write_integer(&mut body, TAG_ENUMERATED, i64::from(op));
            }
            if let Some(n) = info.status_change_sequence_number {
                der::write_integer(&mut body, TAG_INTEGER, i64::from(n));
            }
            der::write_tlv(&mut infos, TAG_SEQUENCE, &body);
        }
        let mut out = Vec::new();
        der::write_tlv(&mut out, TAG_SEQUENCE, &infos);
        Ok(out)
    }

    /// Decodes the extension value strictly (see the module documentation for the grammar and
    /// the bounds). Never panics, whatever the bytes.
    pub fn decode(input: &[u8]) -> Result<Self, RoleExtensionError> {
        let mut outer = der::Reader::new(input, 0);
        let (seq_off, seq) = outer.read(TAG_SEQUENCE, "IECUserRoles")?;
        outer.finish("IECUserRoles")?;
        let mut items = der::Reader::new(seq, seq_off);
        let mut infos = Vec::new();
        while !items.is_empty() {
            if infos.len() == MAX_ROLE_INFOS {
                return Err(items.error("IECUserRoles", RoleProblem::Size));
            }
            let (info_off, info) = items.read(TAG_SEQUENCE, "RoleInformation")?;
            infos.push(decode_info(info, info_off)?);
        }
        if infos.is_empty() {
            return Err(RoleExtensionError { offset: seq_off, field: "IECUserRoles", problem: RoleProblem::Size });
        }
        Ok(Self(infos))
    }
}

fn decode_info(input: &[u8], base: usize) -> Result<RoleInformation, RoleExtensionError> {
    let mut r = der::Reader::new(input, base);
    let (ids_off, ids) = r.read(TAG_SEQUENCE, "userRole")?;
    let mut ids_reader = der::Reader::new(ids, ids_off);
    let mut role_ids = Vec::new();
    while !ids_reader.is_empty() {
        if role_ids.len() == MAX_ROLES_PER_INFO {
            return Err(ids_reader.error("userRole", RoleProblem::Size));
        }
        let (off, value) = ids_reader.read_integer(TAG_INTEGER, "RoleID")?;
        let id = i16::try_from(value).map_err(|_| RoleExtensionError { offset: off, field: "RoleID", problem: RoleProblem::OutOfRange })?;
        role_ids.push(id);
    }
    if role_ids.is_empty() {
        return Err(RoleExtensionError { offset: ids_off, field: "userRole", problem: RoleProblem::Size });
    }
    let aor = r.read_utf8("aor", AOR_MAX_CHARS)?;
    let (rev_off, revision) = r.read_integer(TAG_INTEGER, "revision")?;
    let revision =
        u8::try_from(revision).map_err(|_| RoleExtensionError { offset: rev_off, field: "revision", problem: RoleProblem::OutOfRange })?;
    let role_definition = r.read_utf8("roleDefinition", ROLE_DEFINITION_MAX_CHARS)?;
    let mut operation = None;
    if r.peek_tag() == Some(TAG_ENUMERATED) {
        let (off, value) = r.read_integer(TAG_ENUMERATED, "operation")?;
        operation = Some(u32::try_from(value).map_err(|_| RoleExtensionError {
            offset: off,
            field: "operation",
            problem: RoleProblem::OutOfRange,
        })?);
    }
    let mut status_change_sequence_number = None;
    if r.peek_tag() == Some(TAG_INTEGER) {
        let (off, value) = r.read_integer(TAG_INTEGER, "statusChangeSequenceNumber")?;
        status_change_sequence_number = Some(u32::try_from(value).map_err(|_| RoleExtensionError {
            offset: off,
            field: "statusChangeSequenceNumber",
            problem: RoleProblem::OutOfRange,
        })?);
    }
    r.finish("RoleInformation")?;
    Ok(RoleInformation { role_ids, aor, revision, role_definition, operation, status_change_sequence_number })
}

fn char_count_in(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    n >= 1 && n <= max
}

const TAG_INTEGER: u8 = 0x02;
const TAG_ENUMERATED: u8 = 0x0a;
const TAG_UTF8STRING: u8 = 0x0c;
const TAG_SEQUENCE: u8 = 0x30;

/// Why the role extension did not decode: what, in which field, at which byte of the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IEC 62351-8 role extension: {problem} in {field} at byte {offset}")]
pub struct RoleExtensionError {
    /// Byte offset into the extension value where the problem starts.
    pub offset: usize,
    /// The ASN.1 field being read.
    pub field: &'static str,
    /// What was wrong.
    pub problem: RoleProblem,
}

/// The kinds of problem [`RoleExtensionError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoleProblem {
    /// The value ends inside an element.
    #[error("truncated element")]
    Truncated,
    /// A different element than the grammar requires.
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    Tag {
        /// The tag the grammar requires here.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// A length in a non-DER form (indefinite, or not minimal).
    #[error("length not in DER form")]
    Length,
    /// An integer in a non-DER form (empty, or with a redundant leading byte).
    #[error("integer not in DER form")]
    Integer,
    /// A number outside the field's range.
    #[error("value out of range")]
    OutOfRange,
    /// A UTF8String that is not UTF-8.
    #[error("invalid UTF-8")]
    Utf8,
    /// Too few or too many elements or characters.
    #[error("size out of bounds")]
    Size,
    /// Bytes after the last element.
    #[error("trailing bytes")]
    Trailing,
}

/// Minimal DER reading and writing for the handful of universal types the extension uses.
mod der {
    use super::{RoleExtensionError, RoleProblem};

    pub(super) fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
        out.push(tag);
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8); // lossless: < 0x80
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let significant = &bytes[skip..];
            out.push(0x80 | significant.len() as u8); // lossless: at most 8
            out.extend_from_slice(significant);
        }
        out.extend_from_slice(content);
    }

    pub(super) fn write_integer(out: &mut Vec<u8>, tag: u8, value: i64) {
        let bytes = value.to_be_bytes();
        // Drop leading bytes that only repeat the sign of the next one.
        let mut start = 0;
        while start < 7 {
            let (b, next) = (bytes[start], bytes[start + 1]);
            if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                start += 1;
            } else {
                break;
            }
        }
        write_tlv(out, tag, &bytes[start..]);
    }

    /// Reads elements from a slice whose first byte is at `base` in the whole value.
    pub(super) struct Reader<'a> {
        input: &'a [u8],
        pos: usize,
        base: usize,
    }

    impl<'a> Reader<'a> {
        pub(super) fn new(input: &'a [u8], base: usize) -> Self {
            Self { input, pos: 0, base }
        }

        pub(super) fn is_empty(&self) -> bool {
            self.pos >= self.input.len()
        }

        pub(super) fn error(&self, field: &'static str, problem: RoleProblem) -> RoleExtensionError {
            RoleExtensionError { offset: self.base + self.pos, field, problem }
        }

        pub(super) fn peek_tag(&self) -> Option<u8> {
            self.input.get(self.pos).copied()
        }

        /// Reads one element with `tag`; returns the offset of its content and the content.
        pub(super) fn read(&mut self, tag: u8, field: &'static str) -> Result<(usize, &'a [u8]), RoleExtensionError> {
            let found = self.peek_tag().ok_or_else(|| self.error(field, RoleProblem::Truncated))?;
            if found != tag {
                return Err(self.error(field, RoleProblem::Tag { expected: tag, found }));
            }
            let first = *self.input.get(self.pos + 1).ok_or_else(|| self.error(field, RoleProblem::Truncated))?;
            let mut header = 2;
            let len = if first < 0x80 {
                usize::from(first)
            } else {
                let n = usize::from(first & 0x7f);
                // 0x80 is the indefinite form; more than 4 length bytes cannot fit in an extension.
                if n == 0 || n > 4 {
                    return Err(self.error(field, RoleProblem::Length));
                }
                let bytes = self.input.get(self.pos + 2..self.pos + 2 + n).ok_or_else(|| self.error(field, RoleProblem::Truncated))?;
                if bytes[0] == 0 {
                    return Err(self.error(field, RoleProblem::Length));
                }
                let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                if len < 0x80 {
                    return Err(self.error(field, RoleProblem::Length));
                }
                header += n;
                len
            };
            let start = self.pos + header;
            let end = start.checked_add(len).ok_or_else(|| self.error(field, RoleProblem::Truncated))?;
            let content = self.input.get(start..end).ok_or_else(|| self.error(field, RoleProblem::Truncated))?;
            let offset = self.base + start;
            self.pos = end;
            Ok((offset, content))
        }

        /// Reads an INTEGER (or ENUMERATED) that must fit in an `i64`.
        pub(super) fn read_integer(&mut self, tag: u8, field: &'static str) -> Result<(usize, i64), RoleExtensionError> {
            let (offset, content) = self.read(tag, field)?;
            let err = |problem| RoleExtensionError { offset, field, problem };
            let (&first, rest) = content.split_first().ok_or_else(|| err(RoleProblem::Integer))?;
            let redundant = match rest.first() {
                Some(&second) => (first == 0x00 && second & 0x80 == 0) || (first == 0xff && second & 0x80 != 0),
                None => false,
            };
            if redundant {
                return Err(err(RoleProblem::Integer));
            }
            if content.len() > 8 {
                return Err(err(RoleProblem::OutOfRange));
            }
            let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
            let value = content.iter().fold(init, |acc, b| (acc << 8) | i64::from(*b));
            Ok((offset, value))
        }

        pub(super) fn read_utf8(&mut self, field: &'static str, max_chars: usize) -> Result<String, RoleExtensionError> {
            let (offset, content) = self.read(super::TAG_UTF8STRING, field)?;
            let s = std::str::from_utf8(content).map_err(|_| RoleExtensionError { offset, field, problem: RoleProblem::Utf8 })?;
            if !super::char_count_in(s, max_chars) {
                return Err(RoleExtensionError { offset, field, problem: RoleProblem::Size });
            }
            Ok(s.to_owned())
        }

        pub(super) fn finish(&self, field: &'static str) -> Result<(), RoleExtensionError> {
            if self.is_empty() { Ok(()) } else { Err(self.error(field, RoleProblem::Trailing)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FreeIPA's `IECUserRoles` profile test vector: role 255, aor "Outstation", revision 255,
    /// roleDefinition "IEC62351-8", operation 3.
    const FREEIPA_VECTOR: &str = "3027 3025 3004 020200ff 0c0a 4f757473746174696f6e 020200ff 0c0a 49454336323335312d38 0a0103";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The standard extension with `ids` (already encoded) as the userRole contents.
    fn with_role_ids(ids: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        der::write_tlv(&mut body, TAG_SEQUENCE, ids);
        der::write_tlv(&mut body, TAG_UTF8STRING, b"gridtrust");
        der::write_integer(&mut body, TAG_INTEGER, 0);
        der::write_tlv(&mut body, TAG_UTF8STRING, b"IEC62351-8");
        let mut info = Vec::new();
        der::write_tlv(&mut info, TAG_SEQUENCE, &body);
        let mut out = Vec::new();
        der::write_tlv(&mut out, TAG_SEQUENCE, &info);
        out
    }

    #[test]
    fn decodes_the_freeipa_vector() {
        let roles = UserRoles::decode(&hex(FREEIPA_VECTOR)).unwrap();
        assert_eq!(
            roles.0,
            vec![RoleInformation {
                role_ids: vec![255],
                aor: "Outstation".into(),
                revision: 255,
                role_definition: "IEC62351-8".into(),
                operation: Some(3),
                status_change_sequence_number: None,
            }]
        );
        assert!(roles.roles().is_empty(), "255 is a reserved id, not a standard role");
        assert_eq!(roles.other_role_ids(), vec![255]);
        assert_eq!(roles.encode().unwrap(), hex(FREEIPA_VECTOR));
    }

    #[test]
    fn standard_encoding_is_stable() {
        let der = UserRoles::standard(&[Role::Operator, Role::Viewer, Role::Operator]).encode().unwrap();
        // SEQ { SEQ { SEQ { INT 0, INT 1 }, "gridtrust", INT 0, "IEC62351-8" } }
        assert_eq!(der, hex("3024 3022 3006 020100 020101 0c09 677269647472757374 020100 0c0a 49454336323335312d38"));
    }

    #[test]
    fn role_names_parse_case_insensitively() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            assert_eq!(role.to_string().to_lowercase().parse::<Role>().unwrap(), role);
            assert_eq!(Role::from_id(role.id()), Some(role));
        }
        assert_eq!(Role::SecAdm.id(), 4);
        assert!("ROOT".parse::<Role>().is_err());
    }

    #[test]
    fn negative_and_wide_integers_round_trip() {
        let info = RoleInformation {
            role_ids: vec![-32768, -1, 0, 127, 128, 32767],
            aor: "ä".into(),
            revision: 255,
            role_definition: "x".into(),
            operation: Some(0),
            status_change_sequence_number: Some(u32::MAX),
        };
        let roles = UserRoles(vec![info]);
        assert_eq!(UserRoles::decode(&roles.encode().unwrap()).unwrap(), roles);
    }

    #[test]
    fn refuses_non_der_forms() {
        let good = UserRoles::standard(&[Role::Viewer]).encode().unwrap();
        // Trailing byte.
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(UserRoles::decode(&bad).unwrap_err().problem, RoleProblem::Trailing);
        // Long-form length where the short form fits.
        let mut long = vec![0x30, 0x81, good[1]];
        long.extend_from_slice(&good[2..]);
        assert_eq!(UserRoles::decode(&long).unwrap_err().problem, RoleProblem::Length);
        // Indefinite length.
        assert_eq!(UserRoles::decode(&[0x30, 0x80, 0, 0]).unwrap_err().problem, RoleProblem::Length);
        // Non-minimal integer: role 0 as 02 02 00 00.
        let err = UserRoles::decode(&with_role_ids(&hex("02020000"))).unwrap_err();
        assert_eq!((err.field, err.problem), ("RoleID", RoleProblem::Integer));
        // Role id out of range: 32768.
        let err = UserRoles::decode(&with_role_ids(&hex("0203008000"))).unwrap_err();
        assert_eq!((err.field, err.problem), ("RoleID", RoleProblem::OutOfRange));
        // Empty role list.
        assert_eq!(UserRoles::decode(&with_role_ids(&[])).unwrap_err().field, "userRole");
        // A role id that is not an INTEGER.
        let err = UserRoles::decode(&with_role_ids(&hex("0a0100"))).unwrap_err();
        assert_eq!(err.problem, RoleProblem::Tag { expected: 0x02, found: 0x0a });
        // Empty outer sequence.
        assert_eq!(UserRoles::decode(&[0x30, 0x00]).unwrap_err().problem, RoleProblem::Size);
    }
}
