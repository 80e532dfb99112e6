//! The edge adapter for one IEC 61850 IED over MMS, configured from its SCL file.
//!
//! On every connection it enables the IED's report control blocks (buffered ones resynchronised
//! from the last entryID handed to the edge; across edge restarts from the last one committed to
//! the edge's queue, in the same transaction as the entries' records), asks for a general interrogation, and turns each report entry into [`Datum`]s:
//! every data attribute of a data set member (whole data objects flattened to their attributes)
//! with the IED's own quality and time stamp. Verified commands for the IED's controllable
//! objects are executed with the control model from the SCL (direct or select-before-operate,
//! normal or enhanced security): [`CommandAction::Select`] selects, `Execute` operates,
//! `Cancel` cancels; refusals carry the IED's AddCause. Reconnects with exponential backoff.
//!
//! - [`plan`]: what the SCL says, resolved once ([`plan::IedPlan`]); the report-to-datum mapping.
//! - [`state`]: the entryIDs, the adapter's source mark.
//!
//! Entry points for the edge: [`IedConfig`] (`[[ied]]`), its `resolve`, `validate` and
//! `operated_points`, and [`run`].

pub mod plan;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridtrust_adapter::{AdapterIo, Datum, DeviceCommand, Durability, LastValues};
use gridtrust_model::{CommandAction, CommandOutcome, PointId, Timestamp};
use rustls::pki_types::ServerName;
use serde::Deserialize;
use tracing::{debug, error, info, warn};

use crate::ber::BitString;
use crate::client::ClientConfig;
use crate::control::{ControlError, ControlModel, ControlParameters, LastApplError, PendingTermination, add_cause_name, next_ctl_num};
use crate::data::Data;
use crate::driver::MmsClient;
use crate::pdu::ConfirmedRequest;
use crate::report::{EnabledReport, ReportError, ReportSettings, optional_field, trigger};
use crate::services::ServiceFailure;
use crate::tls::{IedTlsConfig, TlsConfigError};
use plan::{ControlPlan, IedPlan, PlanRequest, RcbPlan};
use state::EntryIds;

/// One IED behind this edge, as `[[ied]]` in the edge configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IedConfig {
    /// A name for logs; also names the entryID file, so ASCII letters, digits, `-` and `_`.
    pub name: String,
    /// The SCL file (CID, IID, SCD, ICD) describing the IED; relative to the configuration file.
    pub scl: PathBuf,
    /// The IED's name in the SCL; default: the only IED with a server.
    #[serde(default)]
    pub ied: Option<String>,
    /// `host:port` overriding the SCL's Communication section (IP, MMS port or 102).
    #[serde(default)]
    pub address: Option<String>,
    /// Report control blocks to enable, as `LDname/LN.RCB` (e.g. `IED1LD0/LLN0.EventsBRCB`);
    /// default: all in the SCL, buffered ones preferred where two carry the same attributes.
    #[serde(default)]
    pub report_control_blocks: Option<Vec<String>>,
    /// Integrity period in ms written to every RCB (0: no integrity reports); default: the SCL's.
    #[serde(default)]
    pub integrity_period_ms: Option<u32>,
    /// Ask for a general interrogation after enabling, so every value is known at once.
    #[serde(default = "yes")]
    pub general_interrogation: bool,
    /// Folder where earlier versions kept the last entryID per BRCB (the edge passes its
    /// data_dir). Read once, at the first start without an entryID in the edge's queue, so an
    /// upgrade resumes where it left off; never written (the queue holds the entryIDs now).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Controllable objects as `LDname/LN.DO`; default: every DO whose ctlModel in the SCL is not
    /// status-only.
    #[serde(default)]
    pub controls: Option<Vec<String>>,
    /// Point ids to use instead of the derived ones: derived (`LDname/LN.DO.DA[FC]` for data,
    /// `LDname/LN.DO` for controls) = chosen.
    #[serde(default)]
    pub points: BTreeMap<String, String>,
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Seconds without a report after which the adapter asks the IED to identify itself; no
    /// answer within `request_timeout_ms` ends the association (a blackholed path is noticed in
    /// seconds, not after TCP's minutes) and its points are sent again as invalid.
    #[serde(default = "default_liveness_s")]
    pub liveness_s: u64,
    /// How long an enhanced-security command may take to terminate.
    #[serde(default = "default_termination_timeout_ms")]
    pub termination_timeout_ms: u64,
    /// Wait before the first reconnect, doubled up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// `[ied.tls]`: MMS over TLS (IEC 62351-4/-3) instead of plain TCP; the default port becomes
    /// 3782 unless the SCL names an MMS-Port other than 102.
    #[serde(default)]
    pub tls: Option<IedTlsConfig>,
}

fn yes() -> bool {
    true
}
fn default_request_timeout_ms() -> u64 {
    5_000
}
fn default_liveness_s() -> u64 {
    10
}
fn default_termination_timeout_ms() -> u64 {
    10_000
}
fn default_reconnect_min_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}

impl IedConfig {
    /// Makes the SCL path and the state folder relative to `base` (the configuration file's
    /// folder).
    pub fn resolve(&mut self, base: &Path) {
        gridtrust_config::resolve(base, &mut self.scl);
        if let Some(dir) = &mut self.state_dir {
            gridtrust_config::resolve(base, dir);
        }
        if let Some(tls) = &mut self.tls {
            tls.resolve(base);
        }
    }

    /// Checks what serde cannot, including that the SCL imports and names what is configured;
    /// the error is (key, message), the key relative to this table.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, msg: &str| Err((key.to_owned(), msg.to_owned()));
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return err("name", "must be non-empty ASCII letters, digits, '-' or '_'");
        }
        if let Some(address) = &self.address {
            match address.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => return err("address", "must be host:port with a port in 1..=65535"),
            }
        }
        for (key, v) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("termination_timeout_ms", self.termination_timeout_ms),
            ("liveness_s", self.liveness_s),
        ] {
            if v == 0 {
                return err(key, "must be at least 1");
            }
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return err("reconnect_min_ms", "must be at least 1 and at most reconnect_max_ms");
        }
        let plan = self.plan()?;
        if plan.rcbs.is_empty() && plan.controls.is_empty() {
            return err("scl", "the IED has neither report control blocks with data sets nor controllable objects: nothing to do");
        }
        self.tls_connector(&plan.endpoint)?;
        Ok(())
    }

    /// The TLS client configuration and the name to verify, when `[ied.tls]` is set (this loads
    /// the certificates and opens the key store); errors name `tls.<key>`.
    fn tls_connector(&self, endpoint: &str) -> Result<Option<TlsConnector>, (String, String)> {
        let Some(tls) = &self.tls else { return Ok(None) };
        let named = |e: TlsConfigError| (format!("tls.{}", e.key()), e.to_string());
        let server_name = tls.server_name(endpoint).map_err(named)?;
        Ok(Some(TlsConnector { config: tls.client_config().map_err(named)?, server_name }))
    }

    /// The control points of this IED (derived or mapped), for the edge's command routing.
    /// Empty when the SCL does not load (which `validate` reports).
    pub fn operated_points(&self) -> Vec<PointId> {
        self.plan().map(|p| p.controls.into_iter().map(|c| c.point).collect()).unwrap_or_default()
    }

    /// Imports the SCL and resolves what this configuration asks of it.
    fn plan(&self) -> Result<IedPlan, (String, String)> {
        let import = gridtrust_scl::import_file(&self.scl).map_err(|e| ("scl".to_owned(), e.to_string()))?;
        let request = PlanRequest {
            ied: self.ied.as_deref(),
            address: self.address.as_deref(),
            report_control_blocks: self.report_control_blocks.as_deref(),
            integrity_period_ms: self.integrity_period_ms,
            controls: self.controls.as_deref(),
            points: &self.points,
            tls: self.tls.is_some(),
        };
        IedPlan::new(&import, &request)
    }

    fn state_file(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|dir| dir.join(format!("mms-{}.entry-ids", self.name)))
    }
}

/// Reads the IED until the edge stops (its data channel closes).
pub async fn run(config: IedConfig, mut io: AdapterIo) {
    let plan = match config.plan() {
        Ok(plan) => plan,
        Err((key, message)) => {
            error!(ied = %config.name, key, message, "MMS adapter not started: the SCL does not fit the configuration");
            while let Some(cmd) = io.commands.recv().await {
                cmd.refuse("the MMS adapter for this IED is not running (configuration error)").await;
            }
            return;
        }
    };
    let tls = match config.tls_connector(&plan.endpoint) {
        Ok(tls) => tls,
        Err((key, message)) => {
            error!(ied = %config.name, key, message, "MMS adapter not started: the TLS configuration does not load");
            while let Some(cmd) = io.commands.recv().await {
                cmd.refuse("the MMS adapter for this IED is not running (TLS configuration error)").await;
            }
            return;
        }
    };
    info!(ied = %config.name, endpoint = %plan.endpoint, tls = tls.is_some(), rcbs = plan.rcbs.len(), points = plan.data_points().count(), controls = plan.controls.len(), "MMS adapter configured from SCL");
    let mut entry_ids = match (io.durability.stored_mark(), config.state_file()) {
        (Some(mark), _) => EntryIds::parse(&String::from_utf8_lossy(mark)).unwrap_or_else(|e| {
            warn!(ied = %config.name, error = %e, "entryIDs in the edge queue unreadable: buffered reports start from what the IED holds");
            EntryIds::default()
        }),
        (None, Some(path)) => EntryIds::load(&path).unwrap_or_else(|e| {
            warn!(ied = %config.name, error = %e, "entryID file of an earlier version unreadable: buffered reports start from what the IED holds");
            EntryIds::default()
        }),
        (None, None) => EntryIds::default(),
    };
    let mut adapter = Adapter { config: &config, plan: &plan, tls, sent: 0, mapper: plan.mapper(), selections: Mutex::new(HashMap::new()) };
    let min = Duration::from_millis(config.reconnect_min_ms);
    let max = Duration::from_millis(config.reconnect_max_ms);
    let mut backoff = min;
    let mut commands_open = true;
    loop {
        match adapter.session(&mut entry_ids, &mut io, &mut commands_open).await {
            SessionEnd::EdgeGone => return,
            SessionEnd::Ended { reported } => {
                if reported {
                    backoff = min;
                }
            }
        }
        debug!(ied = %config.name, wait_ms = backoff.as_millis(), "reconnecting to IED");
        let wait = tokio::time::sleep(backoff);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                cmd = io.commands.recv(), if commands_open => match cmd {
                    Some(cmd) => cmd.refuse("IED not connected").await,
                    None => commands_open = false,
                },
            }
        }
        backoff = (backoff * 2).min(max);
    }
}

enum SessionEnd {
    /// The edge dropped the data channel: stop for good.
    EdgeGone,
    /// The connection ended; `reported` when it worked well enough to reset the backoff.
    Ended { reported: bool },
}

/// One enabled RCB instance: how its reports are recognised and where its entryID is kept.
struct Route {
    rcb: usize,
    enabled: EnabledReport,
    /// `LDname/LN.RCBinstance`, the key of the entryID state.
    instance: String,
    /// Enabled with a resync entryID: a buffer overflow then means entries were lost.
    resynchronised: bool,
}

/// What a TLS association to the IED needs, built once per adapter run so sessions resume.
struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

struct Adapter<'a> {
    config: &'a IedConfig,
    plan: &'a IedPlan,
    tls: Option<TlsConnector>,
    /// Data sent to the edge since the adapter started, the count the durability receipt uses.
    sent: u64,
    mapper: plan::ReportMapper,
    /// ctlNum of the select still open per control point, reused by its Execute or Cancel.
    selections: Mutex<HashMap<PointId, u8>>,
}

type CommandFuture<'f> = Pin<Box<dyn std::future::Future<Output = ()> + Send + 'f>>;

impl Adapter<'_> {
    async fn session(&mut self, entry_ids: &mut EntryIds, io: &mut AdapterIo, commands_open: &mut bool) -> SessionEnd {
        let name = &self.config.name;
        let Some(addr) = resolve(&self.plan.endpoint).await else {
            warn!(ied = %name, endpoint = %self.plan.endpoint, "IED address does not resolve");
            return SessionEnd::Ended { reported: false };
        };
        let client_config =
            ClientConfig { request_timeout: Duration::from_millis(self.config.request_timeout_ms), ..ClientConfig::default() };
        let connected = match &self.tls {
            Some(tls) => MmsClient::connect_tls(addr, tls.server_name.clone(), tls.config.clone(), client_config).await,
            None => MmsClient::connect(addr, client_config).await,
        };
        let client = match connected {
            Ok(client) => client,
            Err(e) => {
                warn!(ied = %name, %addr, error = %e, "cannot associate with the IED");
                return SessionEnd::Ended { reported: false };
            }
        };
        // Subscribe before enabling: the GI report can follow the enabling write at once.
        let mut reports = client.reports();
        let models = self.live_control_models(&client).await;
        let mut routes = Vec::new();
        for (index, rcb) in self.plan.rcbs.iter().enumerate() {
            match self.enable(&client, index, rcb, entry_ids).await {
                Ok(route) => routes.push(route),
                Err(reason) => warn!(ied = %name, rcb = %rcb.reference, %reason, "report control block not enabled"),
            }
        }
        if routes.is_empty() && !self.plan.rcbs.is_empty() {
            warn!(ied = %name, "no report control block could be enabled");
            let _ = client.release().await;
            return SessionEnd::Ended { reported: false };
        }
        info!(ied = %name, %addr, enabled = routes.len(), "IED connected, reports enabled");
        let mut reported = false;
        let mut batch = Vec::new();
        let mut last = LastValues::default();
        let liveness = Duration::from_secs(self.config.liveness_s);
        let mut probe_at = tokio::time::Instant::now() + liveness;
        let mut running: Option<CommandFuture<'_>> = None;
        let mut pending: Option<DeviceCommand> = None;
        let end = loop {
            if running.is_none() {
                if let Some(cmd) = pending.take() {
                    running = Some(Box::pin(execute(&client, self.plan, &models, &self.selections, self.config, cmd)));
                }
            }
            tokio::select! {
                report = reports.next() => match report {
                    Some(Ok(report)) => {
                        let Some(route) = route_of(&routes, &report) else {
                            debug!(ied = %name, rpt_id = %report.rpt_id, "report of an RCB this adapter did not enable");
                            continue;
                        };
                        if report.buffer_overflow == Some(true) && route.resynchronised {
                            warn!(ied = %name, rcb = %route.instance, "the IED's report buffer overflowed: entries were lost at the IED");
                        }
                        self.plan.map_report(&mut self.mapper, route.rcb, &report, Timestamp::now(), &mut batch);
                        // The entryID goes with the report's data: marked before they are sent, so
                        // no commit can take the data without it.
                        let last_segment = report.segment.is_none_or(|(_, more)| !more);
                        if let (Some(id), true, true) = (&report.entry_id, last_segment, self.plan.rcbs.get(route.rcb).is_some_and(|r| r.buffered)) {
                            self.mark(entry_ids, &route.instance, id, self.sent + batch.len() as u64, &io.durability);
                        }
                        batch.iter().for_each(|d| last.remember(d));
                        if !send_all(&io.data, &mut batch, &mut self.sent).await {
                            break SessionEnd::EdgeGone;
                        }
                        reported = true;
                        probe_at = tokio::time::Instant::now() + liveness;
                    }
                    Some(Err(ReportError::Missed(n))) => {
                        warn!(ied = %name, missed = n, "reports dropped while the edge was busy: reconnecting to resynchronise");
                        break SessionEnd::Ended { reported };
                    }
                    Some(Err(e)) => warn!(ied = %name, error = %e, "undecodable report skipped"),
                    None => break SessionEnd::Ended { reported },
                },
                () = client.closed() => {
                    warn!(ied = %name, "connection to the IED lost");
                    break SessionEnd::Ended { reported };
                }
                // Quiet for `liveness_s`: is the IED still there? (The request times out after
                // `request_timeout_ms`.)
                () = tokio::time::sleep_until(probe_at) => match client.request(ConfirmedRequest::Identify).await {
                    Ok(_) => probe_at = tokio::time::Instant::now() + liveness,
                    Err(e) => {
                        warn!(ied = %name, error = %e, "the IED did not answer a liveness probe: association dropped");
                        break SessionEnd::Ended { reported };
                    }
                },
                () = async { if let Some(f) = running.as_mut() { f.await } }, if running.is_some() => running = None,
                cmd = io.commands.recv(), if *commands_open && pending.is_none() => match cmd {
                    Some(cmd) => pending = Some(cmd),
                    None => *commands_open = false,
                },
            }
        };
        // A command under way ends on its own (the connection is gone or closing); let it report.
        if let Some(f) = running.take() {
            f.await;
        }
        if let Some(cmd) = pending.take() {
            cmd.refuse("IED connection lost").await;
        }
        // Release briefly: a blackholed IED never answers.
        let _ = tokio::time::timeout(Duration::from_secs(1), client.release()).await;
        if matches!(end, SessionEnd::Ended { .. }) {
            // SCADA must see IV for this IED's points, not the last values as good.
            match last.invalidate(&io.data).await {
                Some(n) => self.sent += n,
                None => return SessionEnd::EdgeGone,
            }
        }
        end
    }

    /// Enables one RCB, trying its instances in order; buffered ones resynchronise from the
    /// stored entryID.
    async fn enable(&self, client: &MmsClient, index: usize, rcb: &RcbPlan, entry_ids: &EntryIds) -> Result<Route, String> {
        let mut last_error = String::from("no instance");
        for instance in &rcb.instances {
            let key = format!("{}/{}.{}", instance.logical_device, instance.logical_node, instance.name);
            let resync = if rcb.buffered { entry_ids.get(&key).map(<[u8]>::to_vec) } else { None };
            let settings = self.settings(rcb, resync.clone());
            let mut resynchronised = resync.is_some();
            let result = match client.enable_report(instance, &settings).await {
                Err(ServiceFailure::Access { name, error }) if resync.is_some() && name.ends_with("$EntryID") => {
                    warn!(ied = %self.config.name, rcb = %key, %error, "the IED no longer holds the last entryID: changes since may be lost");
                    resynchronised = false;
                    client.enable_report(instance, &ReportSettings { resync_entry_id: None, ..settings }).await
                }
                other => other,
            };
            match result {
                Ok(enabled) if enabled.conf_rev != rcb.conf_rev => {
                    let _ = client.disable_report(instance).await;
                    return Err(format!(
                        "confRev {} at the IED, {} in the SCL: the data set changed, the SCL must be updated",
                        enabled.conf_rev, rcb.conf_rev
                    ));
                }
                Ok(enabled) => {
                    info!(ied = %self.config.name, rcb = %key, rpt_id = %enabled.rpt_id, resynchronised, "report control block enabled");
                    return Ok(Route { rcb: index, enabled, instance: key, resynchronised });
                }
                Err(e) => last_error = format!("{key}: {e}"),
            }
        }
        Err(last_error)
    }

    fn settings(&self, rcb: &RcbPlan, resync_entry_id: Option<Vec<u8>>) -> ReportSettings {
        use optional_field as o;
        use trigger as t;
        let mut triggers = vec![];
        for (on, bit) in
            [(rcb.trg_data_change, t::DATA_CHANGE), (rcb.trg_quality_change, t::QUALITY_CHANGE), (rcb.trg_data_update, t::DATA_UPDATE)]
        {
            if on {
                triggers.push(bit);
            }
        }
        if rcb.integrity_period_ms > 0 {
            triggers.push(t::INTEGRITY);
        }
        if self.config.general_interrogation {
            triggers.push(t::GENERAL_INTERROGATION);
        }
        let mut fields = vec![o::SEQ_NUM, o::TIME_STAMP, o::REASON, o::DATA_SET, o::CONF_REV];
        if rcb.buffered {
            fields.extend([o::ENTRY_ID, o::BUFFER_OVERFLOW]);
        }
        ReportSettings {
            trigger_options: Some(BitString::with_bits(6, &triggers)),
            integrity_period_ms: (rcb.integrity_period_ms > 0).then_some(rcb.integrity_period_ms),
            optional_fields: Some(BitString::with_bits(10, &fields)),
            resync_entry_id,
            purge_buffer: false,
            general_interrogation: self.config.general_interrogation,
        }
    }

    /// Records the entryID of a report and has it committed with its datums, the first `covers`
    /// data of this adapter.
    fn mark(&self, entry_ids: &mut EntryIds, instance: &str, id: &[u8], covers: u64, durability: &Durability) {
        if entry_ids.set(instance, id) {
            durability.mark(covers, entry_ids.render().into_bytes());
        }
    }

    /// The control models the IED itself reports; the SCL's where it does not answer. A
    /// mismatch is logged: the IED enforces its own model, so that is the one to follow.
    async fn live_control_models(&self, client: &MmsClient) -> Vec<ControlModel> {
        let scl: Vec<ControlModel> = self.plan.controls.iter().map(|c| c.model).collect();
        if self.plan.controls.is_empty() {
            return scl;
        }
        let names: Vec<_> = self.plan.controls.iter().map(|c| c.object.name("CF", "ctlModel")).collect();
        let Ok(results) = client.read(&names).await else { return scl };
        self.plan
            .controls
            .iter()
            .zip(results)
            .map(|(control, result)| {
                match result.ok().as_ref().and_then(Data::as_i64).and_then(ControlModel::from_code) {
                    Some(live) if live != control.model => {
                        warn!(ied = %self.config.name, point = %control.point, scl = ?control.model, ied_model = ?live, "ctlModel differs between the SCL and the IED: following the IED");
                        live
                    }
                    _ => control.model,
                }
            })
            .collect()
    }
}

/// Which enabled RCB a report belongs to: by RptID, and by data set when RptIDs are shared.
fn route_of<'r>(routes: &'r [Route], report: &crate::report::Report) -> Option<&'r Route> {
    let mut candidates = routes.iter().filter(|r| r.enabled.rpt_id == report.rpt_id);
    let first = candidates.next()?;
    match &report.data_set {
        Some(data_set) => std::iter::once(first).chain(candidates).find(|r| r.enabled.data_set == *data_set),
        None => Some(first),
    }
}

/// Hands every datum to the edge, counting them in `sent`; false once the edge has stopped.
async fn send_all(data: &tokio::sync::mpsc::Sender<Datum>, batch: &mut Vec<Datum>, sent: &mut u64) -> bool {
    for datum in batch.drain(..) {
        if data.send(datum).await.is_err() {
            return false;
        }
        *sent += 1;
    }
    true
}

async fn resolve(endpoint: &str) -> Option<SocketAddr> {
    tokio::net::lookup_host(endpoint).await.ok()?.next()
}

fn last_appl_error_reason(error: &Option<LastApplError>) -> String {
    match error {
        Some(e) => format!("AddCause {} ({})", add_cause_name(e.add_cause), e.add_cause),
        None => "no LastApplError".to_owned(),
    }
}

/// The refusal reason for a failed control, with the IED's AddCause where it sent one.
fn refusal_reason(error: &ControlError) -> String {
    match error {
        ControlError::SelectRefused { last_appl_error } => {
            format!("select refused by the IED: {}", last_appl_error_reason(last_appl_error))
        }
        ControlError::OperateRefused { access, last_appl_error } => {
            format!("operate refused by the IED ({access}): {}", last_appl_error_reason(last_appl_error))
        }
        ControlError::CancelRefused { access, last_appl_error } => {
            format!("cancel refused by the IED ({access}): {}", last_appl_error_reason(last_appl_error))
        }
        ControlError::TerminatedWithError(e) => format!("execution failed at the IED: {}", last_appl_error_reason(&Some(e.clone()))),
        other => other.to_string(),
    }
}

/// Executes one verified command and reports each stage.
async fn execute(
    client: &MmsClient,
    plan: &IedPlan,
    models: &[ControlModel],
    selections: &Mutex<HashMap<PointId, u8>>,
    config: &IedConfig,
    cmd: DeviceCommand,
) {
    let c = &cmd.command;
    let Some((index, control)) = plan.controls.iter().enumerate().find(|(_, k)| k.point == c.point) else {
        cmd.refuse(&format!("{} is not a control of IED {}", c.point, plan.ied_name)).await;
        return;
    };
    let model = models.get(index).copied().unwrap_or(control.model);
    let value = match plan::ctl_value(&control.ctl_val, &c.value) {
        Ok(value) => value,
        Err(reason) => {
            cmd.refuse(&reason).await;
            return;
        }
    };
    let params = ControlParameters {
        origin_identifier: c.issuer.as_bytes().iter().take(64).copied().collect(),
        termination_timeout: Duration::from_millis(config.termination_timeout_ms),
        ..ControlParameters::default()
    };
    let device_refused = |reason: String| CommandOutcome::Refused { by: "device".into(), reason };
    if c.action == CommandAction::Select && !matches!(model, ControlModel::SboNormal | ControlModel::SboEnhanced) {
        cmd.refuse(&format!("{} is operated directly ({model:?}): there is nothing to select on the IED", c.point)).await;
        return;
    }
    let take_selection = || selections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&c.point);
    let outcome = match c.action {
        CommandAction::Select => select(client, control, model, &value, &params, selections).await,
        CommandAction::Cancel => {
            let ctl_num = take_selection().unwrap_or_else(next_ctl_num);
            client.cancel(&control.object, &value, ctl_num, &params).await.map(|()| None)
        }
        CommandAction::Execute => {
            let ctl_num = take_selection().unwrap_or_else(next_ctl_num);
            client.execute(&control.object, model, &value, ctl_num, &params).await.map(|executed| Some(executed.termination))
        }
    };
    match outcome {
        Err(e) => {
            info!(command_id = c.id, point = %c.point, action = ?c.action, error = %e, "IED refused the command");
            cmd.report(device_refused(refusal_reason(&e))).await;
        }
        Ok(None) => {
            info!(command_id = c.id, point = %c.point, action = ?c.action, ?model, "IED confirmed");
            cmd.report(CommandOutcome::Confirmed).await;
        }
        Ok(Some(termination)) => {
            info!(command_id = c.id, point = %c.point, ?model, "IED accepted the operate");
            cmd.report(CommandOutcome::Confirmed).await;
            let finished = match termination {
                // Normal security: the positive Oper response ends the service.
                None => Ok(()),
                Some(pending) => tokio::select! {
                    result = pending.wait(params.termination_timeout) => result,
                    () = client.closed() => Err(ControlError::Service(ServiceFailure::Driver(crate::DriverError::Closed))),
                },
            };
            match finished {
                Ok(()) => cmd.report(CommandOutcome::Terminated).await,
                Err(e) => {
                    info!(command_id = c.id, point = %c.point, error = %e, "command did not terminate well");
                    cmd.report(device_refused(refusal_reason(&e))).await;
                }
            }
        }
    }
}

/// Selects an SBO object and remembers the ctlNum for the Execute or Cancel that follows.
async fn select(
    client: &MmsClient,
    control: &ControlPlan,
    model: ControlModel,
    value: &Data,
    params: &ControlParameters,
    selections: &Mutex<HashMap<PointId, u8>>,
) -> Result<Option<Option<PendingTermination>>, ControlError> {
    let ctl_num = next_ctl_num();
    client.select(&control.object, model, value, ctl_num, params).await?;
    selections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(control.point.clone(), ctl_num);
    Ok(None)
}

impl gridtrust_adapter::DeviceConfig for IedConfig {
    const TABLE: &'static str = "ied";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), (String, String)> {
        IedConfig::validate(self)
    }
    fn operated_points(&self) -> Vec<PointId> {
        IedConfig::operated_points(self)
    }
    fn run(self, io: AdapterIo) -> gridtrust_adapter::AdapterTask {
        Box::pin(run(self, io))
    }
}
