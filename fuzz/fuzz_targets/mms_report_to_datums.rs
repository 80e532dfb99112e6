//! The MMS edge adapter's receive path on arbitrary bytes: MMS PDU, IEC 61850 report and the
//! report-to-datum mapping of the peer model's plan (every RCB), and the entryID state file
//! parser. Typed errors or skipped members only, never a panic.
#![no_main]
use std::sync::OnceLock;

use gridtrust_mms::adapter::plan::{IedPlan, PlanRequest};
use gridtrust_mms::adapter::state::EntryIds;
use gridtrust_mms::pdu::MmsPdu;
use gridtrust_mms::report::Report;
use gridtrust_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fn plan() -> &'static IedPlan {
    static PLAN: OnceLock<IedPlan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let cid = include_bytes!("../../crates/mms/tests/peer/simpleIO_peer.cid");
        let import = gridtrust_scl::import_bytes("simpleIO_peer.cid", cid).expect("fixture imports");
        IedPlan::new(&import, &PlanRequest::default()).expect("fixture plans")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = EntryIds::parse(&String::from_utf8_lossy(data));
    if let Ok(MmsPdu::InformationReport(report)) = MmsPdu::decode(data) {
        if let Ok(report) = Report::decode(&report) {
            let plan = plan();
            let mut mapper = plan.mapper();
            let mut out = Vec::new();
            for rcb in 0..=plan.rcbs.len() {
                plan.map_report(&mut mapper, rcb, &report, Timestamp(0), &mut out);
            }
        }
    }
});
