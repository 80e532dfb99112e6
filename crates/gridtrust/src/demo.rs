//! `gridtrust demo`: the whole chain on one machine, with a simulated substation.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;

use gridtrust::chain::{Chain, ChainOptions, DemoKeys};
use gridtrust::field::FieldOptions;
use gridtrust_cgmes::ProgressUpdate;
use gridtrust_gridmodel::{ModelInputs, import_files};

/// Options of the demo.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for the generated configuration, development keys and data (recreated each run).
    #[arg(long, default_value = "demo-data")]
    dir: PathBuf,
    /// Where SCADA connects (the cc's IEC 104 server).
    #[arg(long, default_value = "127.0.0.1:2404")]
    scada_listen: String,
    /// Where the web UI and the HTTP API listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    api_listen: String,
    /// Where the cc serves the same web UI from the control-centre side, forwarding only
    /// `/api/` to the hub (so a hub cannot change the scripts people sign commands with).
    #[arg(long, default_value = "127.0.0.1:8081")]
    cc_ui_listen: String,
    /// Where the simulated RTU listens.
    #[arg(long, default_value = "127.0.0.1:2405")]
    rtu_listen: String,
    /// Where the simulated PV inverter (SunSpec over Modbus TCP) listens.
    #[arg(long, default_value = "127.0.0.1:1502")]
    pv_listen: String,
    /// Where the simulated PMU (IEEE C37.118 over TCP) listens.
    #[arg(long, default_value = "127.0.0.1:4712")]
    pmu_listen: String,
    /// An MQTT broker (`host:port`, e.g. a local mosquitto on 127.0.0.1:1883) for the simulated
    /// smart meter; without it the demo has no meter.
    #[arg(long)]
    mqtt_broker: Option<String>,
    /// Stop after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Keep the roles' keys in this PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)
    /// instead of development key files.
    #[arg(long)]
    pkcs11_module: Option<PathBuf>,
    /// Label of the token that holds (or will hold) the keys.
    #[arg(long, default_value = "gridtrust-demo")]
    token_label: String,
    /// Environment variable that holds the token's user PIN.
    #[arg(long, default_value = "GRIDTRUST_PIN")]
    pin_env: String,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir).with_context(|| format!("clearing {}", args.dir.display()))?;
    }
    let (model, cgmes) = import_demo_grid(&args.dir.join("model"))?;
    let quoted = |p: &Path| format!("{:?}", p.display().to_string());
    let opts = ChainOptions {
        dir: args.dir.clone(),
        scada_listen: args.scada_listen.clone(),
        rtu_listen: args.rtu_listen.clone(),
        rtu_period: Duration::from_secs(1),
        batch_delay_ms: 10,
        api_listen: args.api_listen.clone(),
        cc_ui_listen: Some(args.cc_ui_listen.clone()),
        api_extra: String::new(),
        // The measurement checks on the same grid: state estimation every 5 s with the bad-data
        // test, the security index per bus, learned profiles (docs/state-estimation.md). No point
        // is `protected`: the simulated RTU signs nothing, its IEC 104 is plain to the edge.
        hub_extra: format!(
            "[model]\nfile = {}\n\n[estimation]\ncgmes = [{}]\ninterval_s = 5\n",
            quoted(&model),
            cgmes.iter().map(|p| quoted(p)).collect::<Vec<_>>().join(", ")
        ),
        password_cost: gridtrust_api::auth::HashCost::Standard,
        demo_fault_injection: true,
        demo_enrolment_ca: true,
        keys: match &args.pkcs11_module {
            None => DemoKeys::Software,
            Some(module) => {
                DemoKeys::Pkcs11 { module: module.clone(), token_label: args.token_label.clone(), pin_env: args.pin_env.clone() }
            }
        },
        field: FieldOptions {
            pv_listen: args.pv_listen.clone(),
            pmu_listen: args.pmu_listen.clone(),
            mqtt_broker: args.mqtt_broker.clone(),
            pmu_rate: 10,
            pv_day: Duration::from_secs(600),
        },
    };
    let chain = Chain::start(&opts).await?;
    match &opts.keys {
        DemoKeys::Software => {
            tracing::warn!("demo uses a DEVELOPMENT CA and software keys from {}; not for production", args.dir.join("pki").display())
        }
        DemoKeys::Pkcs11 { module, token_label, .. } => {
            tracing::info!(module = %module.display(), token = %token_label, "role keys live in the PKCS#11 token; the CA is a development CA")
        }
    }
    print_banner(&chain);

    let deadline = (args.seconds > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(args.seconds));
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    let stop = crate::wait_for_shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = report.tick() => {
                let h = chain.hub.stats();
                let c = &chain.cc.stats;
                println!(
                    "records stored at hub: {}   served to SCADA: {} ({} invalid)   alarms: {}   edge queue: {} batches   log: {} entries, {} checkpoints verified by the cc",
                    h.records_applied.load(Ordering::Relaxed),
                    c.records_served.load(Ordering::Relaxed),
                    c.records_invalid.load(Ordering::Relaxed),
                    chain.cc.alarms().len(),
                    chain.edge.pending_batches(),
                    h.log_entries.load(Ordering::Relaxed),
                    c.checkpoints_accepted.load(Ordering::Relaxed),
                );
            }
            r = &mut stop => {
                r?;
                break;
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
        }
    }
    crate::stop_within("demo", chain.shutdown()).await?;
    println!("demo stopped");
    Ok(())
}

/// Writes the demo grid's SCD and CGMES files (the simulated substation and its feeders) into
/// `dir` and imports them as `gridtrust model import` does, so the hub serves the demo's model
/// like a user's; returns the model file and the CGMES files (for `[estimation]`), relative to
/// the demo folder (where `hub.toml` is).
fn import_demo_grid(dir: &Path) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let files = gridtrust_sim::grid::write_files(dir).with_context(|| format!("writing the demo grid into {}", dir.display()))?;
    let inputs = ModelInputs { scl: vec![files.scl.clone()], cgmes: files.cgmes.clone(), mapping: None };
    let imported =
        import_files(&inputs, |_: ProgressUpdate<'_>| {}).map_err(|failed| anyhow::anyhow!("importing the demo grid: {failed}"))?;
    let output = dir.join("northfield.json");
    std::fs::write(&output, imported.model.to_json() + "\n").with_context(|| format!("writing {}", output.display()))?;
    let shown = |p: &Path| p.display().to_string();
    println!(
        "demo grid imported: {} points ({} linked to CIM measurements), {} pieces of equipment, {} unresolved links; the same as\n  gridtrust model import --scl {} --cgmes {} -o {}",
        imported.model.points.len(),
        imported.model.points.values().filter(|p| p.cim.measurement.is_some()).count(),
        imported.model.equipment().count(),
        imported.model.unresolved.len(),
        shown(&files.scl),
        files.cgmes.iter().map(|p| shown(p)).collect::<Vec<_>>().join(" "),
        shown(&output),
    );
    let relative = |p: &Path| PathBuf::from("model").join(p.file_name().unwrap_or_default());
    Ok((relative(&output), files.cgmes.iter().map(|p| relative(p)).collect()))
}

fn print_banner(chain: &Chain) {
    let addr = chain.scada_addr();
    println!();
    println!("gridtrust demo: simulated substation -> edge -> hub -> control-centre connector");
    println!("  simulated RTU (IEC 104 server)   {}  common address {}", chain.rtu.addr, chain.rtu.common_address);
    println!("  simulated PV inverter (SunSpec)  {}  Modbus TCP, unit 1, SunSpec at 40000 (points PV1/...)", chain.field.pv.address);
    println!(
        "  simulated PMU (IEEE C37.118)     {}  TCP, IDCODE {}, 10 frames/s (points PMU1/...)",
        chain.field.pmu_addr,
        gridtrust::field::PMU_IDCODE
    );
    match &chain.field.mqtt_broker {
        Some(b) => println!("  simulated meter (MQTT, SenML)    broker {b}, topic {} (points MTR1/...)", gridtrust::field::METER_TOPIC),
        None => println!("  simulated meter (MQTT)           off: start a broker (e.g. mosquitto) and pass --mqtt-broker 127.0.0.1:1883"),
    }
    println!("  hub                              edges on {}, connectors on {} (mutual TLS 1.3)", chain.hub.edge_addr, chain.hub.cc_addr);
    println!("  evidence                         batches signed at the edge, verified by hub and cc; hub log checkpoints every second");
    println!("  SCADA connects here (IEC 104)    {addr}  common address 1");
    println!("  configuration written to         {}", chain.config_dir.display());
    println!();
    println!("Points served to SCADA (IOA  point):");
    for p in &chain.scada_mapping.points {
        println!("  {:>6}  {:<24} {:?}{}", p.ioa, p.id, p.kind, p.unit.as_ref().map(|u| format!(" [{u}]")).unwrap_or_default());
    }
    println!("Commands (select-before-operate):");
    for c in &chain.scada_mapping.commands {
        println!("  {:>6}  {:<24} {:?} command", c.ioa, c.id, c.kind);
    }
    let first = chain.scada_mapping.commands.first().map_or(11100, |c| c.ioa);
    println!();
    println!("Connect any IEC 104 client to {addr}, send a station interrogation (C_IC_NA_1, CA 1), then");
    println!("operate a breaker: C_DC_NA_1 at IOA {first}, select then execute (DCS 1 = open, 2 = close).");
    println!("For example with the c104 Python package (pip install c104):");
    println!(
        "  python3 -c \"import c104,time; c=c104.Client(); cn=c.add_connection(ip='{}', port={}, init=c104.Init.ALL); st=cn.add_station(common_address=1); p=st.add_point(io_address={first}, type=c104.Type.C_DC_NA_1); p.command_mode=c104.CommandMode.SELECT_AND_EXECUTE; c.start(); time.sleep(2); p.value=c104.Double.OFF; print('open breaker:', p.transmit(cause=c104.Cot.ACTIVATION)); c.stop()\"",
        addr.ip(),
        addr.port()
    );
    println!();
    if let Some(api) = chain.hub.api_addr {
        // The chain serves plain HTTP only on loopback, HTTPS with the hub's certificate otherwise.
        let scheme = if api.ip().is_loopback() { "http" } else { "https" };
        println!("Web UI and API                   {scheme}://{api}  (API reference: {scheme}://{api}/api/docs)");
        if scheme == "https" {
            println!("  the certificate is the hub's, from the demo CA: {}", chain.config_dir.join("pki").display());
        }
        let users: Vec<String> = gridtrust::chain::DEMO_USERS.iter().map(|(n, p, r)| format!("{n}/{p} ({r})")).collect();
        println!("  logins: {}", users.join(", "));
        println!("  POST /api/demo/tamper (operator or engineer) alters the next batch to show a trust failure");
        println!(
            "  commands are signed with passkeys: open http://{}:{}, register one (Passkey), approve it as secadm",
            gridtrust::chain::DEMO_RP_ID,
            api.port()
        );
        println!("  (the development CA certifies it at approval: demo only), then operate");
    }
    if let Some(ui) = chain.cc.ui_addr() {
        let scheme = if ui.ip().is_loopback() { "http" } else { "https" };
        println!(
            "Web UI served by the cc          {scheme}://{}:{}  (pages from the control centre; only /api/ goes to the hub)",
            gridtrust::chain::DEMO_RP_ID,
            ui.port()
        );
    }
    println!();
    println!("Ctrl-C stops the demo.");
}
