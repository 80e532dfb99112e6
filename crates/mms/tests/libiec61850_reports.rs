//! Reports from libiec61850 1.6 (PyPI pyiec61850-ng): unbuffered with GI and data change,
//! integrity period, buffered with entryID resynchronisation after a reconnect.

mod common;

use common::peer::{Iec61850Server, LD};
use gridtrust_mms::ber::BitString;
use gridtrust_mms::data::{Data, ObjectName};
use gridtrust_mms::report::{Report, ReportControlBlock, ReportSettings, ReportStream, Validity, quality_and_time, trigger};
use gridtrust_mms::{ClientConfig, MmsClient};
use std::time::Duration;

async fn next_report(stream: &mut ReportStream) -> Report {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a report within 10 s")
        .expect("association open")
        .expect("report decodes")
}

fn rcb(name: &str, buffered: bool) -> ReportControlBlock {
    ReportControlBlock { logical_device: LD.into(), logical_node: "LLN0".into(), name: name.into(), buffered }
}

#[tokio::test]
async fn unbuffered_report_sends_gi_then_data_changes() {
    let Some(mut server) = Iec61850Server::start("unbuffered_report_sends_gi_then_data_changes") else { return };
    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    let mut reports = client.reports();
    let enabled = client.enable_report(&rcb("EventsRCB01", false), &ReportSettings::default()).await.unwrap();
    assert_eq!(enabled.rpt_id, "Events1");
    assert_eq!(enabled.data_set, format!("{LD}/LLN0$Events"));
    let gi = next_report(&mut reports).await;
    assert_eq!(gi.rpt_id, "Events1");
    assert_eq!(gi.entries.len(), 4);
    assert!(gi.entries.iter().all(|e| e.reason.as_ref().is_some_and(|r| r.get(trigger::GENERAL_INTERROGATION))));
    assert!(gi.entries.iter().all(|e| e.value == Data::Boolean(false)));
    assert_eq!(gi.entries[2].reference.as_deref(), Some(format!("{LD}/GGIO1$ST$SPCSO3$stVal").as_str()));
    let first_seq = gi.seq_num.unwrap();

    server.command(&format!("bool {LD}/GGIO1.SPCSO3.stVal 1"));
    let change = next_report(&mut reports).await;
    assert_eq!(change.entries.len(), 1);
    assert_eq!((change.entries[0].index, &change.entries[0].value), (2, &Data::Boolean(true)));
    assert!(change.entries[0].reason.as_ref().unwrap().get(trigger::DATA_CHANGE));
    assert_eq!(change.seq_num, Some(first_seq + 1));
    client.disable_report(&rcb("EventsRCB01", false)).await.unwrap();
    client.release().await.unwrap();
}

#[tokio::test]
async fn integrity_period_sends_periodic_reports() {
    let Some(server) = Iec61850Server::start("integrity_period_sends_periodic_reports") else { return };
    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    let mut reports = client.reports();
    let settings = ReportSettings {
        trigger_options: Some(BitString::with_bits(6, &[trigger::INTEGRITY])),
        integrity_period_ms: Some(300),
        general_interrogation: false,
        ..ReportSettings::default()
    };
    client.enable_report(&rcb("Measurements01", true), &settings).await.unwrap();
    let mut arrivals = Vec::new();
    for _ in 0..3 {
        let r = next_report(&mut reports).await;
        arrivals.push(std::time::Instant::now());
        assert_eq!(r.rpt_id, "Measurements");
        assert_eq!(r.entries.len(), 8, "an integrity report carries the whole data set");
        assert!(r.entries[0].reason.as_ref().unwrap().get(trigger::INTEGRITY));
    }
    let gap = arrivals[2] - arrivals[1];
    assert!(gap >= Duration::from_millis(200) && gap <= Duration::from_millis(2000), "integrity reports about 300 ms apart, got {gap:?}");
    client.release().await.unwrap();
}

#[tokio::test]
async fn buffered_report_resynchronises_by_entry_id_after_reconnect() {
    let Some(mut server) = Iec61850Server::start("buffered_report_resynchronises_by_entry_id_after_reconnect") else { return };
    let brcb = rcb("EventsBRCB01", true);
    // Data change only, so no integrity or GI report mixes into what the buffer replays.
    let settings = ReportSettings {
        trigger_options: Some(BitString::with_bits(6, &[trigger::DATA_CHANGE])),
        general_interrogation: false,
        purge_buffer: true,
        ..ReportSettings::default()
    };
    let last_entry = {
        let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
        let mut reports = client.reports();
        let enabled = client.enable_report(&brcb, &settings).await.unwrap();
        assert_eq!(enabled.data_set, format!("{LD}/LLN0$Events2"));
        server.command(&format!("bool {LD}/GGIO1.SPCSO2.stVal 1"));
        let r = next_report(&mut reports).await;
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].index, 1);
        // Events2 holds whole data objects (FCD): value, quality and time stamp by their type.
        let ty = client.variable_type(&ObjectName::domain(LD, "GGIO1$ST$SPCSO2")).await.unwrap();
        let (quality, time) = quality_and_time(&r.entries[0].value, &ty);
        assert_eq!(quality.map(|q| q.validity), Some(Validity::Good));
        assert!(time.is_some());
        assert_eq!(gridtrust_mms::report::component(&r.entries[0].value, &ty, "stVal"), Some(&Data::Boolean(true)));
        let entry_id = r.entry_id.expect("BRCB reports carry the entryID");
        client.release().await.unwrap();
        entry_id
    };
    // While nobody is connected, two more changes are buffered (the BRCB stays reserved for us).
    server.command(&format!("bool {LD}/GGIO1.SPCSO3.stVal 1"));
    server.command(&format!("bool {LD}/GGIO1.SPCSO4.stVal 1"));
    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    let mut reports = client.reports();
    let resync = ReportSettings { resync_entry_id: Some(last_entry.clone()), purge_buffer: false, ..settings };
    client.enable_report(&brcb, &resync).await.unwrap();
    // The two changes may share one report (buffer time 50 ms) or come in two.
    let mut indices = Vec::new();
    while indices.len() < 2 {
        let r = next_report(&mut reports).await;
        assert_ne!(r.entry_id.as_ref(), Some(&last_entry), "the resync entry itself is not replayed");
        assert!(r.entries.iter().all(|e| e.reason.as_ref().is_some_and(|b| b.get(trigger::DATA_CHANGE))));
        indices.extend(r.entries.iter().map(|e| e.index));
    }
    assert_eq!(indices, vec![2, 3], "only the entries after the resync entryID are replayed, in order");
    client.release().await.unwrap();
}
