//! Intrusion detection on the links to the RTUs (`[ids]` in `edge.toml`): the threat of a host
//! on the substation LAN that stands in for an RTU or in the path to one (a rogue device, a man
//! in the middle changing values, a spoofed station) and of an RTU that starts behaving unlike
//! itself. The edge is the controlling station, so it sees what the RTU sends and what it sends
//! itself: unknown stations and objects, unexpected types and causes, broken sequence numbers,
//! value jumps against the learned history.
//!
//! The detector, its model and the taps are [`gridtrust_ids::service`], shared with the cc.
//! Here every alert is an alarm in the edge's log (target `alarm`) and is reported to the hub
//! (`EdgeToHub::Intrusion`), which raises an `intrusion` alarm of this edge. The values the
//! adapter read are still forwarded, signed as read: the detector watches, it does not filter.

use gridtrust_ids::service::{Service, now_us};
use gridtrust_model::Timestamp;
use tokio::sync::mpsc;
use tracing::warn;

use crate::forward::IntrusionReport;

/// Alerts waiting for the hub link; more are dropped with a log line (the alarm is logged here
/// either way).
pub const REPORTS_CAPACITY: usize = 256;

/// Logs every alert as an alarm and queues it for the hub, as they come, until the edge stops.
pub async fn report(ids: Service, edge_id: String, to_hub: mpsc::Sender<IntrusionReport>) {
    loop {
        for (alert, at_us) in ids.next().await.alarms(now_us()) {
            warn!(target: "alarm", %edge_id, reason = %alert, "RTU-side intrusion detection");
            if to_hub.try_send((alert, Timestamp(at_us.saturating_mul(1000)))).is_err() {
                warn!(%edge_id, "intrusion alert not queued for the hub: too many wait for its link (logged here)");
            }
        }
    }
}
