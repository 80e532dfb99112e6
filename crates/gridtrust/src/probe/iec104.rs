//! `gridtrust probe iec104`: what QTester104 shows on site. One station interrogation (QOI 20)
//! of a common address (or of every station, with the broadcast address 65535), every object
//! it answers listed with common address, IOA, type, value and quality, and the edge
//! configuration that reads those objects: one `[[rtu]]` table and one mapping file per common
//! address (the edge's RTU adapter reads one common address per connection).
//!
//! Point ids are placeholders to be renamed by the engineer: `<LD>/GGIO1.<DO><IOA>` with the data
//! object after the kind of information (`Ind` single, `Pos` double, `TapPos` step, `BinIn`
//! bitstring, `AnIn` measurands, `Cnt` counters).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use gridtrust_iec104::asdu::{Bcr, Cause, Element, Qds, TypeId, normalized_to_f32};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_iec104::server::BROADCAST_ADDRESS;
use gridtrust_iec104_model::{MappingFile, MonitorKind, PointMap};
use gridtrust_model::PointId;

use super::{ProbeError, Probed, comment, logical_device_of, socket_addr, toml_str};

/// QOI of a station interrogation.
const STATION_INTERROGATION: u8 = 20;
/// After the ACTTERM, how long to keep listening for other stations' answers to a broadcast.
const STRAGGLERS: Duration = Duration::from_millis(300);

/// What to probe and how the written configuration names it.
#[derive(Clone, Debug)]
pub struct Options {
    /// `ip:port` of the RTU.
    pub address: String,
    /// The common address to interrogate; [`BROADCAST_ADDRESS`] asks every station.
    pub common_address: u16,
    /// The `[[rtu]]` name (suffixed `-caN` when several common addresses answer).
    pub name: String,
    /// The logical device of the point ids; derived from `name` when absent.
    pub logical_device: Option<String>,
    /// Bound on the whole probe: connect, confirmation and the interrogation's end.
    pub timeout: Duration,
}

/// One information object as last received.
#[derive(Clone, Debug)]
struct Seen {
    type_id: TypeId,
    cause: Cause,
    element: Element,
}

/// Connects, interrogates, and returns the dump and the edge configuration.
pub async fn probe(opts: &Options) -> Result<Probed, ProbeError> {
    let addr = socket_addr(&opts.address)?;
    let deadline = Instant::now() + opts.timeout;
    let config = ClientConfig { confirmation_timeout: opts.timeout, ..ClientConfig::default() };
    let within = opts.timeout;
    let (client, mut events) = timeout_at(deadline, Client::connect(addr, None, config))
        .await
        .map_err(|_| ProbeError::Timeout { what: "the TCP connection and STARTDT", within })??;
    let reply = timeout_at(deadline, client.interrogate(opts.common_address, STATION_INTERROGATION))
        .await
        .map_err(|_| ProbeError::Timeout { what: "the interrogation command (no ACTCON)", within })??;
    if !reply.is_positive() {
        let cot = reply.confirmation.cot;
        return Err(ProbeError::InterrogationRefused {
            common_address: opts.common_address,
            cause: format!("{:?}", cot.cause),
            negative: cot.negative,
        });
    }

    let mut objects: BTreeMap<(u16, u32), Seen> = BTreeMap::new();
    let mut end = deadline;
    let mut terminated = false;
    loop {
        let event = match timeout_at(end, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(_) if terminated || !objects.is_empty() => break,
            Err(_) => return Err(ProbeError::Timeout { what: "the interrogation (no object and no ACTTERM)", within }),
        };
        match event {
            ClientEvent::Asdu(asdu) if asdu.type_id == TypeId::CIcNa1 => {
                if asdu.cot.cause == Cause::ActivationTerm && !terminated {
                    terminated = true;
                    end = end.min(Instant::now() + STRAGGLERS);
                }
            }
            ClientEvent::Asdu(asdu) => {
                for o in asdu.objects {
                    if o.element.quality().is_some() || matches!(o.element, Element::IntegratedTotals { .. }) {
                        objects.insert(
                            (asdu.common_address, o.ioa),
                            Seen { type_id: asdu.type_id, cause: asdu.cot.cause, element: o.element },
                        );
                    }
                }
            }
            ClientEvent::Closed(reason) if !terminated => return Err(ProbeError::Iec104Closed(reason.to_string())),
            ClientEvent::Closed(_) => break,
        }
    }
    client.close();
    if objects.is_empty() {
        return Err(ProbeError::NoObjects { common_address: opts.common_address });
    }
    build(opts, &objects, terminated)
}

/// The dump and the files for what was received.
fn build(opts: &Options, objects: &BTreeMap<(u16, u32), Seen>, terminated: bool) -> Result<Probed, ProbeError> {
    let asked = match opts.common_address {
        BROADCAST_ADDRESS => "every common address (broadcast)".to_owned(),
        ca => format!("common address {ca}"),
    };
    let mut report = format!("IEC 104 station interrogation of {asked} at {}: {} objects\n", opts.address, objects.len());
    if !terminated {
        let _ = writeln!(report, "warning: no ACTTERM within {} s; the list may be incomplete", opts.timeout.as_secs_f64());
    }
    let _ = writeln!(report, "{:>5}  {:>8}  {:<14}  {:<14}  {:<10}  {:<12}  point", "CA", "IOA", "type", "value", "quality", "cause");
    let stations: Vec<u16> = {
        let mut cas: Vec<u16> = objects.keys().map(|(ca, _)| *ca).collect();
        cas.dedup();
        cas
    };
    let base = opts.logical_device.clone().unwrap_or_else(|| logical_device_of(&opts.name, "RTU"));
    let ld_of = |ca: u16| if stations.len() > 1 { format!("{base}_{ca}") } else { base.clone() };
    let mut points: BTreeMap<u16, Vec<PointMap>> = BTreeMap::new();
    for (&(ca, ioa), seen) in objects {
        let id = MonitorKind::of(seen.type_id).map(|kind| point(&ld_of(ca), kind, ioa).map(|id| (kind, id))).transpose()?;
        let _ = writeln!(
            report,
            "{ca:>5}  {ioa:>8}  {:<14}  {:<14}  {:<10}  {:<12}  {}",
            seen.type_id.name(),
            value(&seen.element),
            quality(&seen.element),
            format!("{:?}", seen.cause),
            id.as_ref().map_or("(no mapping kind for this type)".to_owned(), |(_, id)| id.to_string())
        );
        if let Some((kind, id)) = id {
            points.entry(ca).or_default().push(PointMap { id, ioa, kind, unit: None, scale: None, offset: 0.0, group: None });
        }
    }

    let mut table = format!(
        "# IEC 104 RTU at {} as `gridtrust probe iec104` found it: merge into edge.toml, then rename the\n# points in the mapping file(s) to their IEC 61850 references and add units and commands.\n",
        comment(&opts.address)
    );
    let mut files = Vec::new();
    for (ca, points) in points {
        let count = points.len();
        let mapping = MappingFile::from_entries(points, Vec::new())?;
        let name = if stations.len() > 1 { format!("{}-ca{ca}", opts.name) } else { opts.name.clone() };
        let map_file = format!("{name}-map.toml");
        let _ = write!(
            table,
            "\n# common address {ca}: {count} points\n[[rtu]]\nname = {}\naddress = {}\ncommon_address = {ca}\nmapping = {}\ninterrogation_period_s = 300\n",
            toml_str(&name),
            toml_str(&opts.address),
            toml_str(&map_file)
        );
        let title = format!("Points of common address {ca} of the RTU at {}, from a station interrogation", comment(&opts.address));
        files.push((map_file, crate::chain::mapping_toml(&mapping, 0, &title)));
    }
    files.insert(0, (format!("edge-{}.toml", opts.name), table));
    Ok(Probed { report, files })
}

/// The placeholder point id of an object.
fn point(ld: &str, kind: MonitorKind, ioa: u32) -> Result<PointId, ProbeError> {
    let object = match kind {
        MonitorKind::Single => "Ind",
        MonitorKind::Double => "Pos",
        MonitorKind::Step => "TapPos",
        MonitorKind::Bitstring => "BinIn",
        MonitorKind::Normalized | MonitorKind::Scaled | MonitorKind::Float => "AnIn",
        MonitorKind::Counter => "Cnt",
    };
    let name = format!("{ld}/GGIO1.{object}{ioa}");
    PointId::new(name.clone()).map_err(|source| ProbeError::PointId { name, source })
}

fn value(e: &Element) -> String {
    match e {
        Element::SinglePoint { value, .. } => if *value { "on" } else { "off" }.to_owned(),
        Element::DoublePoint { value, .. } => format!("{value:?}").to_lowercase(),
        Element::StepPosition { value, transient, .. } => format!("{value}{}", if *transient { " (transient)" } else { "" }),
        Element::Bitstring { value, .. } => format!("0x{value:08x}"),
        Element::Normalized { value, .. } => format!("{} ({value})", normalized_to_f32(*value)),
        Element::Scaled { value, .. } => value.to_string(),
        Element::ShortFloat { value, .. } => value.to_string(),
        Element::IntegratedTotals { counter, .. } => counter.value.to_string(),
        other => format!("{other:?}"),
    }
}

fn quality(e: &Element) -> String {
    let flags: Vec<&str> = match (e.quality(), e) {
        (Some(Qds { overflow, blocked, substituted, not_topical, invalid }), _) => {
            [(invalid, "IV"), (not_topical, "NT"), (substituted, "SB"), (blocked, "BL"), (overflow, "OV")]
                .into_iter()
                .filter(|(set, _)| *set)
                .map(|(_, f)| f)
                .collect()
        }
        (None, Element::IntegratedTotals { counter: Bcr { invalid, adjusted, carry, .. }, .. }) => {
            [(*invalid, "IV"), (*adjusted, "CA"), (*carry, "CY")].into_iter().filter(|(set, _)| *set).map(|(_, f)| f).collect()
        }
        (None, _) => Vec::new(),
    };
    if flags.is_empty() { "good".to_owned() } else { flags.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(type_id: TypeId, element: Element) -> Seen {
        Seen { type_id, cause: Cause::Interrogated, element }
    }

    fn options() -> Options {
        Options {
            address: "127.0.0.1:2404".into(),
            common_address: BROADCAST_ADDRESS,
            name: "rtu-1".into(),
            logical_device: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn one_station_gives_one_rtu_table_and_a_mapping_the_edge_loads() {
        let mut objects = BTreeMap::new();
        let q = Qds::default();
        objects.insert((1, 10), seen(TypeId::MSpNa1, Element::SinglePoint { value: true, quality: q, time: None }));
        objects.insert((1, 20), seen(TypeId::MMeNc1, Element::ShortFloat { value: 1.5, quality: Qds { invalid: true, ..q }, time: None }));
        let probed = build(&options(), &objects, true).unwrap();
        assert!(
            probed.report.contains("M_ME_NC_1") && probed.report.contains("IV") && probed.report.contains("RTU1/GGIO1.AnIn20"),
            "{}",
            probed.report
        );
        assert_eq!(probed.files.len(), 2);
        let table: toml::Table = toml::from_str(&probed.files[0].1).unwrap();
        assert_eq!(table["rtu"][0]["common_address"].as_integer(), Some(1));
        assert_eq!(table["rtu"][0]["mapping"].as_str(), Some("rtu-1-map.toml"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&probed.files[1].0);
        std::fs::write(&path, &probed.files[1].1).unwrap();
        let mapping = MappingFile::load(&path).unwrap();
        assert_eq!(mapping.points.len(), 2);
        assert_eq!(mapping.points[0].kind, MonitorKind::Single);
    }

    #[test]
    fn several_stations_get_one_table_each_with_their_own_logical_device() {
        let mut objects = BTreeMap::new();
        let e = Element::Scaled { value: 7, quality: Qds::default(), time: None };
        objects.insert((1, 5), seen(TypeId::MMeNb1, e));
        objects.insert((2, 5), seen(TypeId::MMeTe1, e));
        let probed = build(&options(), &objects, true).unwrap();
        let table: toml::Table = toml::from_str(&probed.files[0].1).unwrap();
        let names: Vec<_> = table["rtu"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["rtu-1-ca1", "rtu-1-ca2"]);
        assert!(probed.files[2].1.contains("RTU1_2/GGIO1.AnIn5"), "{}", probed.files[2].1);
    }
}
