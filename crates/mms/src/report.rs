//! IEC 61850 reporting over MMS (IEC 61850-8-1 clause 17): configuring and enabling unbuffered
//! and buffered report control blocks, resynchronising a BRCB by entryID after a reconnect, and
//! decoding `RPT` information reports into typed entries.

use crate::ber::BitString;
use crate::data::{BinaryTime, Data, ObjectName, TypeSpec, UtcTime};
use crate::driver::MmsClient;
use crate::pdu::{InformationReport, VariableAccess};
use crate::services::ServiceFailure;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Trigger option bits (TrgOps).
pub mod trigger {
    /// Data change.
    pub const DATA_CHANGE: usize = 1;
    /// Quality change.
    pub const QUALITY_CHANGE: usize = 2;
    /// Data update (freeze).
    pub const DATA_UPDATE: usize = 3;
    /// Integrity period.
    pub const INTEGRITY: usize = 4;
    /// General interrogation.
    pub const GENERAL_INTERROGATION: usize = 5;
}

/// Optional field bits (OptFlds).
pub mod optional_field {
    /// Sequence number.
    pub const SEQ_NUM: usize = 1;
    /// Report time stamp (TimeOfEntry).
    pub const TIME_STAMP: usize = 2;
    /// Reason for inclusion.
    pub const REASON: usize = 3;
    /// Data set name.
    pub const DATA_SET: usize = 4;
    /// Data references.
    pub const DATA_REFERENCE: usize = 5;
    /// Buffer overflow flag.
    pub const BUFFER_OVERFLOW: usize = 6;
    /// Entry id.
    pub const ENTRY_ID: usize = 7;
    /// Configuration revision.
    pub const CONF_REV: usize = 8;
    /// Segmentation.
    pub const SEGMENTATION: usize = 9;
}

/// A report control block: logical device, logical node and name, buffered or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportControlBlock {
    /// Logical device (MMS domain).
    pub logical_device: String,
    /// Logical node holding the RCB (usually LLN0).
    pub logical_node: String,
    /// RCB name (with instance suffix for indexed RCBs, e.g. `EventsRCB01`).
    pub name: String,
    /// BRCB (FC BR) or URCB (FC RP).
    pub buffered: bool,
}

impl ReportControlBlock {
    /// The MMS name of one attribute (`RptEna`, `TrgOps`, ...).
    pub fn attribute(&self, attribute: &str) -> ObjectName {
        let fc = if self.buffered { "BR" } else { "RP" };
        ObjectName::domain(&self.logical_device, format!("{}${fc}${}${attribute}", self.logical_node, self.name))
    }
}

/// How to enable a report control block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    /// Trigger options (bits of [`trigger`]); None keeps the configured ones.
    pub trigger_options: Option<BitString>,
    /// Integrity period in ms; None keeps the configured one.
    pub integrity_period_ms: Option<u32>,
    /// Optional fields (bits of [`optional_field`]); None keeps the configured ones.
    pub optional_fields: Option<BitString>,
    /// BRCB: resynchronise after this entry (the last entryID received before a disconnect).
    pub resync_entry_id: Option<Vec<u8>>,
    /// BRCB: discard buffered entries first.
    pub purge_buffer: bool,
    /// Request a general interrogation right after enabling.
    pub general_interrogation: bool,
}

impl Default for ReportSettings {
    /// Data change, quality change, integrity and GI triggers; sequence number, time stamp,
    /// reason, data set, data reference, entryID and confRev in every report.
    fn default() -> ReportSettings {
        use optional_field as o;
        use trigger as t;
        ReportSettings {
            trigger_options: Some(BitString::with_bits(6, &[t::DATA_CHANGE, t::QUALITY_CHANGE, t::INTEGRITY, t::GENERAL_INTERROGATION])),
            integrity_period_ms: None,
            optional_fields: Some(BitString::with_bits(
                10,
                &[o::SEQ_NUM, o::TIME_STAMP, o::REASON, o::DATA_SET, o::DATA_REFERENCE, o::ENTRY_ID, o::CONF_REV],
            )),
            resync_entry_id: None,
            purge_buffer: false,
            general_interrogation: true,
        }
    }
}

/// What the RCB said about itself once enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnabledReport {
    /// Report id the server will put in each report.
    pub rpt_id: String,
    /// Data set reference (`LD/LN$DataSet`).
    pub data_set: String,
    /// Configuration revision.
    pub conf_rev: u64,
}

/// Why an information report is not a valid IEC 61850 report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The informationReport is not addressed to the `RPT` list.
    #[error("not a report (not sent to the RPT list)")]
    NotAReport,
    /// A field is missing or has the wrong type.
    #[error("report field {0} missing or of the wrong type")]
    BadField(&'static str),
    /// Entries, references or reasons do not match the inclusion bit string.
    #[error("report has {found} values for {included} included members")]
    CountMismatch {
        /// Set bits in the inclusion bit string.
        included: usize,
        /// Values found.
        found: usize,
    },
    /// The consumer fell behind and the driver dropped this many information reports: a user
    /// that must not lose data resynchronises (reconnect and BRCB entryID resync).
    #[error("{0} information reports were dropped because the consumer fell behind")]
    Missed(u64),
}

/// One data set member in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportEntry {
    /// Position of the member in the data set.
    pub index: usize,
    /// The member's reference, when the report carries data references.
    pub reference: Option<String>,
    /// The value.
    pub value: Data,
    /// Reason for inclusion (bits: 1 data change, 2 quality change, 3 data update, 4 integrity,
    /// 5 general interrogation), when the report carries reasons.
    pub reason: Option<BitString>,
}

/// A decoded IEC 61850 report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// RptID.
    pub rpt_id: String,
    /// Optional fields present.
    pub optional_fields: BitString,
    /// Sequence number.
    pub seq_num: Option<u64>,
    /// Time of entry.
    pub time_of_entry: Option<BinaryTime>,
    /// Data set reference.
    pub data_set: Option<String>,
    /// BRCB buffer overflowed before this report.
    pub buffer_overflow: Option<bool>,
    /// BRCB entry id: keep the last one to resynchronise after a reconnect.
    pub entry_id: Option<Vec<u8>>,
    /// Configuration revision.
    pub conf_rev: Option<u64>,
    /// Segmentation: sub sequence number and more-segments-follow.
    pub segment: Option<(u64, bool)>,
    /// The included members.
    pub entries: Vec<ReportEntry>,
}

impl Report {
    /// Decodes an informationReport sent to `RPT`.
    pub fn decode(report: &InformationReport) -> Result<Report, ReportError> {
        if report.variables != VariableAccess::NamedList(ObjectName::Vmd("RPT".into())) {
            return Err(ReportError::NotAReport);
        }
        let mut values = report.results.iter().map(|r| r.as_ref().ok());
        let mut next = |field: &'static str| values.next().flatten().ok_or(ReportError::BadField(field));
        let rpt_id = next("RptID")?.as_str().ok_or(ReportError::BadField("RptID"))?.to_owned();
        let optional_fields = match next("OptFlds")? {
            Data::BitString(b) => b.clone(),
            _ => return Err(ReportError::BadField("OptFlds")),
        };
        let has = |bit: usize| optional_fields.get(bit);
        use optional_field as o;
        let unsigned = |d: &Data, f| match d {
            Data::Unsigned(n) => Ok(*n),
            Data::Integer(n) => u64::try_from(*n).map_err(|_| ReportError::BadField(f)),
            _ => Err(ReportError::BadField(f)),
        };
        let seq_num = if has(o::SEQ_NUM) { Some(unsigned(next("SqNum")?, "SqNum")?) } else { None };
        let time_of_entry = if has(o::TIME_STAMP) {
            match next("TimeOfEntry")? {
                Data::BinaryTime(t) => Some(*t),
                _ => return Err(ReportError::BadField("TimeOfEntry")),
            }
        } else {
            None
        };
        let data_set =
            if has(o::DATA_SET) { Some(next("DatSet")?.as_str().ok_or(ReportError::BadField("DatSet"))?.to_owned()) } else { None };
        let buffer_overflow =
            if has(o::BUFFER_OVERFLOW) { Some(next("BufOvfl")?.as_bool().ok_or(ReportError::BadField("BufOvfl"))?) } else { None };
        let entry_id = if has(o::ENTRY_ID) {
            match next("EntryID")? {
                Data::OctetString(b) => Some(b.clone()),
                _ => return Err(ReportError::BadField("EntryID")),
            }
        } else {
            None
        };
        let conf_rev = if has(o::CONF_REV) { Some(unsigned(next("ConfRev")?, "ConfRev")?) } else { None };
        let segment = if has(o::SEGMENTATION) {
            let sub = unsigned(next("SubSeqNum")?, "SubSeqNum")?;
            let more = next("MoreSegmentsFollow")?.as_bool().ok_or(ReportError::BadField("MoreSegmentsFollow"))?;
            Some((sub, more))
        } else {
            None
        };
        let inclusion = match next("Inclusion")? {
            Data::BitString(b) => b.clone(),
            _ => return Err(ReportError::BadField("Inclusion")),
        };
        let included: Vec<usize> = inclusion.ones().collect();
        let mut references = Vec::new();
        if has(o::DATA_REFERENCE) {
            for _ in &included {
                references.push(next("data reference")?.as_str().ok_or(ReportError::BadField("data reference"))?.to_owned());
            }
        }
        let mut entries = Vec::with_capacity(included.len());
        for (i, &index) in included.iter().enumerate() {
            let value = next("value").map_err(|_| ReportError::CountMismatch { included: included.len(), found: i })?.clone();
            entries.push(ReportEntry { index, reference: references.get(i).cloned(), value, reason: None });
        }
        if has(o::REASON) {
            for entry in &mut entries {
                match next("ReasonCode")? {
                    Data::BitString(b) => entry.reason = Some(b.clone()),
                    _ => return Err(ReportError::BadField("ReasonCode")),
                }
            }
        }
        Ok(Report { rpt_id, optional_fields, seq_num, time_of_entry, data_set, buffer_overflow, entry_id, conf_rev, segment, entries })
    }
}

/// IEC 61850 quality (the 13-bit `q` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    /// good, invalid, reserved or questionable.
    pub validity: Validity,
    /// Detail bits: overflow, out of range, bad reference, oscillatory, failure, old data,
    /// inconsistent, inaccurate (in this order, bit 0 = overflow).
    pub detail: u8,
    /// Source is substituted rather than process.
    pub substituted: bool,
    /// Test flag.
    pub test: bool,
    /// Operator blocked.
    pub operator_blocked: bool,
}

/// Validity of a quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// 00
    Good,
    /// 01
    Invalid,
    /// 10
    Reserved,
    /// 11
    Questionable,
}

impl Quality {
    /// Reads a quality bit string.
    pub fn from_bits(bits: &BitString) -> Quality {
        let validity = match (bits.get(0), bits.get(1)) {
            (false, false) => Validity::Good,
            (false, true) => Validity::Invalid,
            (true, false) => Validity::Reserved,
            (true, true) => Validity::Questionable,
        };
        let detail = (2..10).filter(|&i| bits.get(i)).fold(0u8, |acc, i| acc | (1 << (i - 2)));
        Quality { validity, detail, substituted: bits.get(10), test: bits.get(11), operator_blocked: bits.get(12) }
    }
}

/// The value of a named component of a structured value, located through its type description
/// (e.g. `q` or `t` of a data object reported as a whole).
pub fn component<'a>(value: &'a Data, ty: &TypeSpec, name: &str) -> Option<&'a Data> {
    let index = ty.components().iter().position(|(n, _)| n == name)?;
    value.members()?.get(index)
}

/// Quality and time stamp of a whole-data-object value, using its type description.
pub fn quality_and_time(value: &Data, ty: &TypeSpec) -> (Option<Quality>, Option<UtcTime>) {
    let quality = match component(value, ty, "q") {
        Some(Data::BitString(bits)) => Some(Quality::from_bits(bits)),
        _ => None,
    };
    let time = match component(value, ty, "t") {
        Some(Data::UtcTime(t)) => Some(*t),
        _ => None,
    };
    (quality, time)
}

/// Reports from one association, decoded; other information reports are skipped.
#[derive(Debug)]
pub struct ReportStream {
    rx: broadcast::Receiver<Arc<InformationReport>>,
}

impl ReportStream {
    /// The next report; None when the association has ended.
    pub async fn next(&mut self) -> Option<Result<Report, ReportError>> {
        loop {
            match self.rx.recv().await {
                Ok(report) => match Report::decode(&report) {
                    Err(ReportError::NotAReport) => continue,
                    other => return Some(other),
                },
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "report consumer fell behind; reports lost");
                    return Some(Err(ReportError::Missed(missed)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl MmsClient {
    /// Reports received from now on.
    pub fn reports(&self) -> ReportStream {
        ReportStream { rx: self.subscribe() }
    }

    /// Configures and enables a report control block (IEC 61850-8-1: entryID and options before
    /// RptEna, GI after), then reads back RptID, DatSet and ConfRev.
    pub async fn enable_report(&self, rcb: &ReportControlBlock, settings: &ReportSettings) -> Result<EnabledReport, ServiceFailure> {
        // Disable first: most attributes are writable only while the RCB is disabled.
        self.write_value(&rcb.attribute("RptEna"), Data::Boolean(false)).await?;
        if rcb.buffered {
            if settings.purge_buffer {
                self.write_value(&rcb.attribute("PurgeBuf"), Data::Boolean(true)).await?;
            }
            if let Some(entry_id) = &settings.resync_entry_id {
                self.write_value(&rcb.attribute("EntryID"), Data::OctetString(entry_id.clone())).await?;
            }
        }
        if let Some(fields) = &settings.optional_fields {
            self.write_value(&rcb.attribute("OptFlds"), Data::BitString(fields.clone())).await?;
        }
        if let Some(trg) = &settings.trigger_options {
            self.write_value(&rcb.attribute("TrgOps"), Data::BitString(trg.clone())).await?;
        }
        if let Some(ms) = settings.integrity_period_ms {
            self.write_value(&rcb.attribute("IntgPd"), Data::Unsigned(u64::from(ms))).await?;
        }
        self.write_value(&rcb.attribute("RptEna"), Data::Boolean(true)).await?;
        if settings.general_interrogation {
            self.write_value(&rcb.attribute("GI"), Data::Boolean(true)).await?;
        }
        let values = self.read(&[rcb.attribute("RptID"), rcb.attribute("DatSet"), rcb.attribute("ConfRev")]).await?;
        let text = |v: &Result<Data, _>| v.as_ref().ok().and_then(Data::as_str).map(str::to_owned);
        let conf_rev = values.get(2).and_then(|v| v.as_ref().ok()).and_then(Data::as_i64).and_then(|n| u64::try_from(n).ok());
        match (values.first().and_then(text), values.get(1).and_then(text), conf_rev) {
            (Some(rpt_id), Some(data_set), Some(conf_rev)) => Ok(EnabledReport { rpt_id, data_set, conf_rev }),
            _ => Err(ServiceFailure::UnexpectedResponse("read of RptID/DatSet/ConfRev")),
        }
    }

    /// Disables a report control block.
    pub async fn disable_report(&self, rcb: &ReportControlBlock) -> Result<(), ServiceFailure> {
        self.write_value(&rcb.attribute("RptEna"), Data::Boolean(false)).await
    }

    /// Asks an enabled RCB for a general interrogation.
    pub async fn general_interrogation(&self, rcb: &ReportControlBlock) -> Result<(), ServiceFailure> {
        self.write_value(&rcb.attribute("GI"), Data::Boolean(true)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(values: Vec<Data>) -> InformationReport {
        InformationReport {
            variables: VariableAccess::NamedList(ObjectName::Vmd("RPT".into())),
            results: values.into_iter().map(Ok).collect(),
        }
    }

    #[test]
    fn a_full_report_decodes() {
        use optional_field as o;
        let opt =
            BitString::with_bits(10, &[o::SEQ_NUM, o::TIME_STAMP, o::REASON, o::DATA_SET, o::DATA_REFERENCE, o::ENTRY_ID, o::CONF_REV]);
        let r = Report::decode(&report(vec![
            Data::VisibleString("Events2".into()),
            Data::BitString(opt),
            Data::Unsigned(7),
            Data::BinaryTime(BinaryTime { millis_of_day: 5, days_since_1984: Some(1) }),
            Data::VisibleString("LD/LLN0$Events".into()),
            Data::OctetString(vec![1, 2, 3, 4, 5, 6, 7, 8]),
            Data::Unsigned(1),
            Data::BitString(BitString::with_bits(4, &[1, 3])),
            Data::VisibleString("LD/GGIO1$ST$SPCSO2$stVal".into()),
            Data::VisibleString("LD/GGIO1$ST$SPCSO4$stVal".into()),
            Data::Boolean(true),
            Data::Boolean(false),
            Data::BitString(BitString::with_bits(7, &[1])),
            Data::BitString(BitString::with_bits(7, &[5])),
        ]))
        .unwrap();
        assert_eq!((r.seq_num, r.conf_rev, r.entry_id.as_deref()), (Some(7), Some(1), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..])));
        assert_eq!(r.entries.len(), 2);
        assert_eq!((r.entries[1].index, r.entries[1].value.clone()), (3, Data::Boolean(false)));
        assert_eq!(r.entries[0].reference.as_deref(), Some("LD/GGIO1$ST$SPCSO2$stVal"));
        assert!(r.entries[1].reason.as_ref().unwrap().get(trigger::GENERAL_INTERROGATION));
    }

    #[test]
    fn short_reports_are_typed_errors() {
        assert_eq!(Report::decode(&report(vec![])), Err(ReportError::BadField("RptID")));
        let opt = BitString::zeros(10);
        let r = Report::decode(&report(vec![
            Data::VisibleString("x".into()),
            Data::BitString(opt),
            Data::BitString(BitString::with_bits(3, &[0, 2])),
            Data::Integer(1),
        ]));
        assert_eq!(r, Err(ReportError::CountMismatch { included: 2, found: 1 }));
        let other = InformationReport { variables: VariableAccess::List(vec![ObjectName::Vmd("LastApplError".into())]), results: vec![] };
        assert_eq!(Report::decode(&other), Err(ReportError::NotAReport));
    }

    #[test]
    fn quality_bits_decode() {
        let q = Quality::from_bits(&BitString::with_bits(13, &[0, 1, 7, 11]));
        assert_eq!(q.validity, Validity::Questionable);
        assert_eq!(q.detail, 1 << 5);
        assert!(q.test && !q.substituted && !q.operator_blocked);
    }
}
