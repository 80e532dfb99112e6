//! `gridtrust probe mms`: what IEDScout shows on site. The IED's logical devices, logical nodes,
//! data objects with their attributes and values, data sets and report control blocks, browsed
//! by [`gridtrust_mms::browse`]; an IID-like SCL file of the same, which `gridtrust model import`
//! reads; and the `[[ied]]` table that reads the IED through that file.
//!
//! Before anything is written, the SCL is imported and planned exactly as the edge's adapter
//! will ([`IedPlan::new`]), so the dump ends with the report control blocks the edge will enable
//! and the number of points it will publish, and a file the edge cannot use is never written.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use gridtrust_mms::ClientConfig;
use gridtrust_mms::adapter::plan::{IedPlan, PlanRequest};
use gridtrust_mms::browse::{SclTarget, ServerModel, show};
use gridtrust_mms::driver::MmsClient;
use gridtrust_mms::services::ServiceFailure;

use super::{ProbeError, Probed, comment, logical_device_of, socket_addr, toml_str};

/// What to probe and how the written configuration names it.
#[derive(Clone, Debug)]
pub struct Options {
    /// `ip:port` of the IED's MMS server.
    pub address: String,
    /// The `[[ied]]` name.
    pub name: String,
    /// The IED name in the SCL; default: the common start of the logical-device names, or one
    /// made of `name`.
    pub ied_name: Option<String>,
    /// The SCL file's name in the output folder; default `<name>.iid`.
    pub scl: Option<String>,
    /// Bound on the whole probe.
    pub timeout: Duration,
}

/// Browses the IED and returns the dump, the `[[ied]]` table and the SCL file.
pub async fn probe(opts: &Options) -> Result<Probed, ProbeError> {
    let addr = socket_addr(&opts.address)?;
    let deadline = Instant::now() + opts.timeout;
    let within = opts.timeout;
    // The client's own timeouts lie past the deadline, so a silent IED is reported against
    // --timeout, once.
    let late = opts.timeout + Duration::from_secs(1);
    let config = ClientConfig { associate_timeout: late, request_timeout: late, ..ClientConfig::default() };
    let client = timeout_at(deadline, MmsClient::connect(addr, config))
        .await
        .map_err(|_| ProbeError::Timeout { what: "the MMS association", within })?
        .map_err(ServiceFailure::from)?;
    let model =
        timeout_at(deadline, client.browse()).await.map_err(|_| ProbeError::Timeout { what: "the browse of its model", within })??;
    // Polite, bounded by what is left: the model is read either way.
    let _ = timeout_at(deadline, client.release()).await;
    build(opts, addr, &model)
}

/// The IED name: given, or the common start of the domain names, or one made of the table name.
fn ied_name(opts: &Options, model: &ServerModel) -> String {
    if let Some(name) = &opts.ied_name {
        return name.clone();
    }
    let names: Vec<&str> = model.logical_devices.iter().map(|ld| ld.name.as_str()).collect();
    let common = match names.as_slice() {
        [first, rest @ ..] if !rest.is_empty() => {
            let len = rest.iter().fold(first.len(), |len, n| first.bytes().zip(n.bytes()).take(len).take_while(|(a, b)| a == b).count());
            first.get(..len).unwrap_or_default()
        }
        _ => "",
    };
    // A common start that is a whole LD name would leave that LD without an inst.
    if !common.is_empty() && names.iter().all(|n| n.len() > common.len()) {
        common.to_owned()
    } else {
        logical_device_of(&opts.name, "IED")
    }
}

fn build(opts: &Options, addr: std::net::SocketAddr, model: &ServerModel) -> Result<Probed, ProbeError> {
    let mut report = format!("IEC 61850 server at {}", opts.address);
    if let Some(id) = &model.identity {
        let _ = write!(report, ": {} {} {}", id.vendor, id.model, id.revision);
    }
    let _ = writeln!(report, ", {} logical device(s)", model.logical_devices.len());
    for ld in &model.logical_devices {
        let _ = writeln!(report, "\nlogical device {}", ld.name);
        for ln in &ld.logical_nodes {
            let _ = writeln!(report, "  {}", ln.name);
            if let Some(e) = &ln.read_error {
                let _ = writeln!(report, "    (values unreadable: {e})");
            }
            // Control services (CO) have no value to show; their objects' ctlModel (CF) says how
            // they are operated.
            for (path, fc, value) in ln.attributes().into_iter().filter(|(_, fc, _)| fc != "CO") {
                let _ = writeln!(report, "    {path} [{fc}]{}", value.map_or(String::new(), |v| format!(" = {}", show(v))));
            }
            for rcb in ln.report_blocks() {
                let [dchg, qchg, dupd, period, gi] = rcb.trg_ops;
                let triggers: Vec<&str> = [(dchg, "dchg"), (qchg, "qchg"), (dupd, "dupd"), (period, "period"), (gi, "gi")]
                    .into_iter()
                    .filter_map(|(on, name)| on.then_some(name))
                    .collect();
                let _ = writeln!(
                    report,
                    "    report control block {} ({}): data set {}, confRev {}, intgPd {} ms, triggers {}",
                    rcb.name,
                    if rcb.buffered { "buffered" } else { "unbuffered" },
                    if rcb.dat_set.is_empty() { "(none)" } else { &rcb.dat_set },
                    rcb.conf_rev,
                    rcb.intg_pd_ms,
                    triggers.join(" ")
                );
            }
        }
        for set in &ld.data_sets {
            let members: Vec<String> = set.members.iter().map(ToString::to_string).collect();
            let _ = writeln!(report, "  data set {}: {}", set.name, members.join(", "));
        }
    }

    let ied = ied_name(opts, model);
    let scl = model.to_scl(&SclTarget { ied_name: &ied, ip: &addr.ip().to_string(), port: addr.port() });
    let scl_file = opts.scl.clone().unwrap_or_else(|| format!("{}.iid", opts.name));
    // What the edge will do with this file: the same import and plan as its adapter.
    let import = gridtrust_scl::import_bytes(&scl_file, scl.as_bytes())?;
    let plan = IedPlan::new(&import, &PlanRequest { address: Some(&opts.address), ..PlanRequest::default() })
        .map_err(|(key, message)| ProbeError::Plan { key, message })?;
    let rcbs: Vec<&str> = plan.rcbs.iter().map(|r| r.reference.as_str()).collect();
    let _ = writeln!(
        report,
        "\nthe edge will enable {} report control block(s) ({}) and publish {} points; {} controllable object(s)",
        plan.rcbs.len(),
        rcbs.join(", "),
        plan.data_points().count(),
        plan.controls.len()
    );
    let table = format!(
        "# IEC 61850 IED at {} as `gridtrust probe mms` found it (IED {}): merge into edge.toml.\n[[ied]]\nname = {}\nscl = {}\nied = {}\naddress = {}\n",
        comment(&opts.address),
        comment(&ied),
        toml_str(&opts.name),
        toml_str(&scl_file),
        toml_str(&ied),
        toml_str(&opts.address)
    );
    Ok(Probed { report, files: vec![(format!("edge-{}.toml", opts.name), table), (scl_file, scl)] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_mms::browse::LogicalDevice;

    fn model(names: &[&str]) -> ServerModel {
        let lds = names.iter().map(|n| LogicalDevice { name: (*n).to_owned(), logical_nodes: Vec::new(), data_sets: Vec::new() }).collect();
        ServerModel { identity: None, logical_devices: lds }
    }

    #[test]
    fn the_ied_name_is_the_common_start_of_the_logical_devices() {
        let opts =
            Options { address: "127.0.0.1:102".into(), name: "ied-1".into(), ied_name: None, scl: None, timeout: Duration::from_secs(1) };
        assert_eq!(ied_name(&opts, &model(&["IED7LD0", "IED7PROT"])), "IED7");
        assert_eq!(ied_name(&opts, &model(&["simpleIOGenericIO"])), "IED1");
        assert_eq!(ied_name(&opts, &model(&["AB", "ABC"])), "IED1", "AB would have no inst");
        let named = Options { ied_name: Some("simpleIO".into()), ..opts };
        assert_eq!(ied_name(&named, &model(&["simpleIOGenericIO"])), "simpleIO");
    }
}
