//! Throughput of the MMS report receive path for a buffered report of the peer model's Events2
//! data set (4 whole SPC data objects: stVal, q, t each, with SeqNum, TimeOfEntry, DatSet,
//! EntryID, ConfRev, inclusion and reason codes: the shape libiec61850 sends):
//!
//! - baseline: a BER walk over every TLV of the PDU, no values built;
//! - `MmsPdu::decode` (informationReport with typed `Data`);
//! - `MmsPdu::decode` + `Report::decode` (IEC 61850 report fields);
//! - the adapter's full path: decode + report + `IedPlan::map_report` to datums.
//!
//! Criterion measures each case; a closing table prints medians of 5 rounds of reports/s and the
//! ratio to the BER walk.
//!
//! `cargo bench -p gridtrust-mms --bench report_decode`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_mms::adapter::plan::{IedPlan, PlanRequest};
use gridtrust_mms::ber::{BitString, Reader};
use gridtrust_mms::data::{BinaryTime, Data, ObjectName, UtcTime};
use gridtrust_mms::pdu::{InformationReport, MmsPdu, VariableAccess};
use gridtrust_mms::report::{Report, optional_field as o};
use gridtrust_model::Timestamp;

const CID: &[u8] = include_bytes!("../tests/peer/simpleIO_peer.cid");

fn report_pdu() -> Vec<u8> {
    let options = BitString::with_bits(10, &[o::SEQ_NUM, o::TIME_STAMP, o::REASON, o::DATA_SET, o::ENTRY_ID, o::CONF_REV]);
    let t = UtcTime::from_unix_millis(1_700_000_000_123);
    let mut values = vec![
        Data::VisibleString("Events2".into()),
        Data::BitString(options),
        Data::Unsigned(4711),
        Data::BinaryTime(BinaryTime { millis_of_day: 36_000_123, days_since_1984: Some(14_567) }),
        Data::VisibleString("simpleIOGenericIO/LLN0$Events2".into()),
        Data::OctetString(vec![0, 0, 0, 0, 0, 0, 0x12, 0x67]),
        Data::Unsigned(1),
        Data::BitString(BitString::with_bits(4, &[0, 1, 2, 3])),
    ];
    for i in 0..4 {
        values.push(Data::Structure(vec![Data::Boolean(i % 2 == 0), Data::BitString(BitString::zeros(13)), Data::UtcTime(t)]));
    }
    values.extend((0..4).map(|_| Data::BitString(BitString::with_bits(7, &[1]))));
    let report = InformationReport {
        variables: VariableAccess::NamedList(ObjectName::Vmd("RPT".into())),
        results: values.into_iter().map(Ok).collect(),
    };
    MmsPdu::InformationReport(report).to_bytes()
}

/// Visits every TLV (constructed ones recursively) without building values.
fn ber_walk(bytes: &[u8]) -> usize {
    fn walk(mut r: Reader<'_>) -> usize {
        let mut n = 0;
        while let Ok(tlv) = r.read() {
            n += 1;
            if tlv.tag.constructed {
                n += walk(tlv.reader());
            }
        }
        n
    }
    walk(Reader::new(bytes))
}

fn decode_pdu(bytes: &[u8]) -> InformationReport {
    match MmsPdu::decode(bytes) {
        Ok(MmsPdu::InformationReport(r)) => r,
        other => panic!("bench PDU decodes to a report: {other:?}"),
    }
}

fn plan() -> IedPlan {
    let import = gridtrust_scl::import_bytes("simpleIO_peer.cid", CID).expect("fixture imports");
    let rcbs = vec!["simpleIOGenericIO/LLN0.EventsBRCB".to_owned()];
    IedPlan::new(&import, &PlanRequest { report_control_blocks: Some(&rcbs), ..PlanRequest::default() }).expect("plan")
}

fn median_rate(mut run: impl FnMut()) -> f64 {
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let n = 20_000;
            let start = Instant::now();
            for _ in 0..n {
                run();
            }
            f64::from(n) / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn main() {
    let bytes = report_pdu();
    let plan = plan();
    let mut mapper = plan.mapper();
    let mut datums = Vec::new();
    assert_eq!(Report::decode(&decode_pdu(&bytes)).map(|r| r.entries.len()), Ok(4));
    plan.map_report(&mut mapper, 0, &Report::decode(&decode_pdu(&bytes)).expect("report"), Timestamp(0), &mut datums);
    assert_eq!(datums.len(), 4, "one datum per stVal");

    let mut c =
        Criterion::default().configure_from_args().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    let mut group = c.benchmark_group("mms_report");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ber_walk_baseline", |b| b.iter(|| ber_walk(black_box(&bytes))));
    group.bench_function("mms_pdu_decode", |b| b.iter(|| decode_pdu(black_box(&bytes))));
    group.bench_function("pdu_and_report_decode", |b| b.iter(|| Report::decode(&decode_pdu(black_box(&bytes)))));
    group.bench_function("decode_and_map_to_datums", |b| {
        b.iter(|| {
            datums.clear();
            let report = Report::decode(&decode_pdu(black_box(&bytes))).expect("report");
            plan.map_report(&mut mapper, 0, &report, Timestamp(0), &mut datums);
        })
    });
    group.finish();
    c.final_summary();

    let walk = median_rate(|| {
        black_box(ber_walk(black_box(&bytes)));
    });
    let pdu = median_rate(|| {
        black_box(decode_pdu(black_box(&bytes)));
    });
    let report = median_rate(|| {
        let _ = black_box(Report::decode(&decode_pdu(black_box(&bytes))));
    });
    let mapped = median_rate(|| {
        datums.clear();
        if let Ok(r) = Report::decode(&decode_pdu(black_box(&bytes))) {
            plan.map_report(&mut mapper, 0, &r, Timestamp(0), &mut datums);
        }
    });
    println!("\ninformationReport of {} octets (4 SPC objects), medians of 5 rounds, one core:", bytes.len());
    println!("  {:<34} {:>12} {:>10}", "case", "reports/s", "vs walk");
    for (name, rate) in
        [("BER walk (baseline)", walk), ("MmsPdu::decode", pdu), ("+ Report::decode", report), ("+ map to datums (adapter path)", mapped)]
    {
        println!("  {name:<34} {rate:>12.0} {:>9.2}x", rate / walk);
    }
    println!("  datums/s on the adapter path: {:.0}", mapped * 4.0);
}
