//! `gridtrust probe pmu`: what the PMU Connection Tester shows on site. The stream's CFG-2
//! (stations, IDCODEs, formats, phasor, analog and digital channel names with their units,
//! nominal frequency, data rate), the header frame when the PMU sends one, the first data frame
//! as the points the edge will publish, and the `[[pmu]]` table that reads the stream.
//!
//! The listed point ids and values come from the edge adapter's own [`PointMap`], so what the
//! probe shows is what the edge will publish.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use gridtrust_c37118::adapter::{PmuConfig, PointMap};
use gridtrust_c37118::client::{ClientConfig, ClientEvent};
use gridtrust_c37118::config::{AnalogUnit, ConfigFrame, ConfigKind, PhasorKind, PhasorUnit};
use gridtrust_c37118::data::DataFrame;
use gridtrust_c37118::driver::{Transport, spawn_client};
use gridtrust_model::{Timestamp, Value};

use super::{ProbeError, Probed, comment, socket_addr, toml_str};

/// What to probe and how the written configuration names it.
#[derive(Clone, Debug)]
pub struct Options {
    /// `ip:port` of the PMU's TCP server.
    pub address: String,
    /// IDCODE of the stream the commands are addressed to.
    pub idcode: u16,
    /// The `[[pmu]]` name.
    pub name: String,
    /// Bound on the whole probe: connect, configuration and first data frame.
    pub timeout: Duration,
}

/// Asks for the CFG-2 and one data frame, and returns the dump and the `[[pmu]]` table.
pub async fn probe(opts: &Options) -> Result<Probed, ProbeError> {
    let addr = socket_addr(&opts.address)?;
    let deadline = Instant::now() + opts.timeout;
    // Two requests within the deadline (a PMU that ignores the first gets one more chance); the
    // client gives up only after it, so a silent PMU is reported against --timeout.
    let config = ClientConfig {
        idcode: opts.idcode,
        config_kind: ConfigKind::Cfg2,
        request_header: true,
        response_timeout: opts.timeout * 3 / 5,
        config_attempts: 2,
        data_timeout: opts.timeout,
    };
    let mut events = spawn_client(addr, Transport::Tcp, config);
    let mut cfg: Option<Arc<ConfigFrame>> = None;
    let mut header = None;
    let mut data = None;
    while data.is_none() {
        let event = match timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(_) if cfg.is_some() => break,
            Err(_) => return Err(ProbeError::Timeout { what: "the configuration request (no CFG-2)", within: opts.timeout }),
        };
        match event {
            ClientEvent::Config(c) => cfg = Some(c),
            ClientEvent::Header(h) => header = Some(h),
            ClientEvent::Data(d) => data = Some(d),
            ClientEvent::Skipped(e) => tracing::warn!(error = %e, "skipped bytes that were not a frame"),
            ClientEvent::Failed(f) if cfg.is_none() => return Err(f.into()),
            ClientEvent::Failed(_) => break,
        }
    }
    // Dropping the receiver ends the session (the driver sends "data off" on its way out).
    drop(events);
    let cfg = cfg.ok_or(ProbeError::Timeout { what: "the configuration request (no CFG-2)", within: opts.timeout })?;
    build(opts, &cfg, header.as_deref(), data.as_ref())
}

fn build(opts: &Options, cfg: &ConfigFrame, header: Option<&str>, data: Option<&DataFrame>) -> Result<Probed, ProbeError> {
    // The keys the probe writes, read back as the edge will read them: the point names shown
    // below are the adapter's for exactly this entry.
    let keys = format!(
        "name = {}\naddress = {}\nidcode = {}\nconfiguration = \"cfg2\"\n",
        toml_str(&opts.name),
        toml_str(&opts.address),
        opts.idcode
    );
    let config: PmuConfig = toml::from_str(&keys)?;
    let rate = match cfg.data_rate {
        r if r > 0 => format!("{r} frames/s"),
        r if r < 0 => format!("1 frame every {} s", -i32::from(r)),
        _ => "rate 0 (not given)".to_owned(),
    };
    let mut report = format!(
        "C37.118 stream at {} (IDCODE {}): {}, version {}, {} station(s), {rate}, time base {}\n",
        opts.address,
        cfg.idcode,
        match cfg.kind {
            ConfigKind::Cfg1 => "CFG-1",
            ConfigKind::Cfg2 => "CFG-2",
            ConfigKind::Cfg3 => "CFG-3",
        },
        cfg.version,
        cfg.stations.len(),
        cfg.time_base
    );
    if let Some(h) = header {
        let _ = writeln!(report, "header: {}", comment(h.trim()));
    }
    for s in &cfg.stations {
        let f = s.format;
        let _ = writeln!(
            report,
            "\nstation {:?} IDCODE {}: {} Hz nominal, CFGCNT {}, phasors {} {}, analogs {}, frequency {}",
            s.name,
            s.idcode,
            s.nominal_hz,
            s.cfgcnt,
            if f.polar { "polar" } else { "rectangular" },
            if f.phasors_float { "float" } else { "integer" },
            if f.analogs_float { "float" } else { "integer" },
            if f.frequency_float { "float" } else { "integer" },
        );
        for p in &s.phasors {
            let unit = match p.kind() {
                PhasorKind::Voltage => "V",
                PhasorKind::Current => "A",
            };
            let scale = match p.unit {
                PhasorUnit::Factor { factor, .. } => format!("PHUNIT {factor} x 10^-5 {unit}/bit"),
                PhasorUnit::Scale { magnitude, .. } => format!("scale {magnitude} {unit}/bit"),
            };
            let _ = writeln!(report, "  phasor   {:<16} {unit}  {scale}", p.name);
        }
        for a in &s.analogs {
            let unit = match a.unit {
                AnalogUnit::Factor { kind, factor } => {
                    let kind = match kind {
                        0 => "point-on-wave".to_owned(),
                        1 => "RMS".to_owned(),
                        2 => "peak".to_owned(),
                        k => format!("type {k}"),
                    };
                    format!("{kind}, factor {factor}")
                }
                AnalogUnit::Scale { scale, offset } => format!("scale {scale}, offset {offset}"),
            };
            let _ = writeln!(report, "  analog   {:<16} {unit}", a.name);
        }
        for (n, d) in s.digitals.iter().enumerate() {
            let names: Vec<&str> = d.names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
            let _ = writeln!(report, "  digital  word {} normal 0x{:04x} valid 0x{:04x}: {}", n + 1, d.normal, d.valid, names.join(", "));
        }
    }

    let (points, _) = PointMap::new(&config, cfg);
    match data {
        Some(frame) => {
            let mut datums = Vec::new();
            points.datums(frame, Timestamp::now(), &mut datums);
            let _ = writeln!(report, "\nfirst data frame, as the edge publishes it ({} points):", datums.len());
            for d in datums {
                let quality = if d.quality.is_good() { "good".to_owned() } else { format!("{:?}", d.quality) };
                let value = match d.value {
                    Value::Float(v) => v.to_string(),
                    Value::Bitstring(b) => format!("0x{b:04x}"),
                    other => format!("{other:?}"),
                };
                let _ = writeln!(report, "  {:<36} {value:<16} {quality}", d.point.to_string());
            }
        }
        None => {
            let _ = writeln!(report, "\nno data frame within {} s after the configuration", opts.timeout.as_secs_f64());
        }
    }
    let stations: Vec<String> = cfg.stations.iter().map(|s| comment(s.name.trim())).collect();
    let table = format!(
        "# C37.118 stream at {} as `gridtrust probe pmu` found it (stations {}, {} points): merge into edge.toml.\n[[pmu]]\n{keys}",
        comment(&opts.address),
        stations.join(", "),
        points.len(),
    );
    Ok(Probed { report, files: vec![(format!("edge-{}.toml", opts.name), table)] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_c37118::sim::SimSpec;

    #[test]
    fn the_cfg2_is_listed_with_channels_and_the_table_reads_the_stream() {
        let opts = Options { address: "127.0.0.1:4712".into(), idcode: 7, name: "pmu-1".into(), timeout: Duration::from_secs(1) };
        let cfg = SimSpec::single(7, "PMU1", 10).config();
        let probed = build(&opts, &cfg, Some("sim"), None).unwrap();
        assert!(probed.report.contains("station \"PMU1\" IDCODE 7") && probed.report.contains("10 frames/s"), "{}", probed.report);
        for p in &cfg.stations[0].phasors {
            assert!(probed.report.contains(p.name.as_str()), "{} listed", p.name);
        }
        let table: toml::Table = toml::from_str(&probed.files[0].1).unwrap();
        let pmu: PmuConfig = table["pmu"][0].clone().try_into().unwrap();
        assert_eq!(pmu.idcode, 7);
        pmu.validate().unwrap();
    }
}
