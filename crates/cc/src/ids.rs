//! Intrusion detection on the SCADA-facing IEC 104 server (`[ids]`): the threat of a host on the
//! SCADA LAN that the address allow-list admits (a compromised SCADA front end, a spoofed
//! address) and that then scans objects, floods the station, sends commands it never sent, or
//! breaks the link's sequence numbering.
//!
//! The detector, its model and the taps on every accepted connection are
//! [`gridtrust_ids::service`], shared with the edge; here alerts become alarms (target `alarm`
//! in the log, [`crate::Cc::alarms`]) and are reported to the hub (`CcToHub::Intrusion`), which
//! raises an `intrusion` alarm where incidents are made.

use std::sync::{Arc, Mutex};

use gridtrust_ids::service::{Service, now_us};
use gridtrust_model::Timestamp;
use gridtrust_transport::messages::CcToHub;
use tokio::sync::mpsc;
use tracing::warn;

use crate::alarm_list::AlarmList;
use crate::verify::Alarm;

/// Turns alerts into alarms and reports them to the hub (`to_hub`, while its link is up; the cc
/// keeps them either way), as they come, until the cc stops.
pub async fn run(ids: Service, alarms: Arc<Mutex<AlarmList>>, to_hub: mpsc::Sender<CcToHub>) {
    loop {
        let found = ids.next().await;
        let raised: Vec<Alarm> = found
            .alarms(now_us())
            .into_iter()
            .map(|(reason, at_us)| Alarm { edge_id: "scada".into(), batch_seq: 0, reason, at: Timestamp(at_us.saturating_mul(1000)) })
            .collect();
        for a in &raised {
            warn!(target: "alarm", reason = %a.reason, "SCADA intrusion detection");
            if to_hub.try_send(CcToHub::Intrusion { alert: a.reason.clone(), seen_at: a.at }).is_err() {
                warn!("intrusion alert not reported to the hub: its link is down or behind (the alarm is kept here)");
            }
        }
        alarms.lock().unwrap_or_else(|p| p.into_inner()).extend(raised);
    }
}
