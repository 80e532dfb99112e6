//! `gridtrust probe modbus`: what mbpoll and a SunSpec browser show on site. SunSpec discovery
//! (the SunS marker at 40000, 0 or 50000, then the model chain), every model's registers read
//! and parsed by [`gridtrust_modbus::sunspec`], each field listed with its value and the point
//! id the edge publishes it under, and the `[[modbus]]` table that reads the device.
//!
//! The point ids come from the same [`LnInstances`] numbering the edge's adapter uses, so what
//! the probe shows is what the edge will publish.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use gridtrust_modbus::client::{self, Client, ClientError};
use gridtrust_modbus::frame::Table;
use gridtrust_modbus::sunspec::{self, Discovery, DiscoveryError, LnInstances, ModelLocation, ModelValues, Reading};

use super::{ProbeError, Probed, comment, logical_device_of, socket_addr, toml_str};

/// The most registers one Modbus read may ask for.
const MAX_READ: u16 = 125;

/// What to probe and how the written configuration names it.
#[derive(Clone, Debug)]
pub struct Options {
    /// `ip:port` of the device's Modbus TCP server.
    pub address: String,
    /// Modbus unit identifier.
    pub unit_id: u8,
    /// The `[[modbus]]` name.
    pub name: String,
    /// The logical device of the point ids; derived from `name` when absent.
    pub logical_device: Option<String>,
    /// Bound on the whole probe; also each request's timeout in the written table.
    pub timeout: Duration,
}

/// One model as read: its location and its parsed values, or why there are none.
struct ModelRead {
    location: ModelLocation,
    values: Result<ModelValues, String>,
}

/// Discovers the SunSpec chain, reads every model, and returns the dump and the `[[modbus]]` table.
pub async fn probe(opts: &Options) -> Result<Probed, ProbeError> {
    socket_addr(&opts.address)?;
    let deadline = Instant::now() + opts.timeout;
    let within = opts.timeout;
    let expired = |what| move |_| ProbeError::Timeout { what, within };
    // The client's own per-request timeout lies past the deadline, so a silent device is
    // reported against --timeout, once.
    let late = opts.timeout + Duration::from_secs(1);
    let mut client =
        timeout_at(deadline, client::connect(&opts.address, opts.unit_id, late)).await.map_err(expired("the TCP connection"))??;

    let mut discovery = Discovery::new();
    // What the device answered at each base address, for the error when none holds a marker.
    let mut answers = Vec::new();
    while let Some((address, count)) = discovery.next_read() {
        match timeout_at(deadline, client.read_registers(Table::Holding, address, count))
            .await
            .map_err(expired("a SunSpec discovery read"))?
        {
            Ok(registers) => {
                answers.push(format!("at {address}: registers {registers:04x?}"));
                discovery.on_registers(&registers);
            }
            Err(e) if e.breaks_connection() => return Err(e.into()),
            Err(e) => {
                answers.push(format!("at {address}: {e}"));
                discovery.on_failure(&e.to_string());
            }
        }
    }
    let (base, locations) = match discovery.result() {
        Some(Ok((base, models))) => (base, models.to_vec()),
        Some(Err(DiscoveryError::NoMarker)) => return Err(ProbeError::NoSunSpec(answers.join("; "))),
        Some(Err(e)) => return Err(e.into()),
        None => return Err(ProbeError::NoSunSpec(answers.join("; "))),
    };

    let mut models = Vec::new();
    for location in locations {
        let values = match timeout_at(deadline, read_model(&mut client, location)).await.map_err(expired("a SunSpec model read"))? {
            Ok(data) => sunspec::parse_model(location.id, &data).map_err(|e| e.to_string()),
            Err(e) if e.breaks_connection() => return Err(e.into()),
            Err(e) => Err(format!("unreadable: {e}")),
        };
        models.push(ModelRead { location, values });
    }
    build(opts, base, &models)
}

/// The data registers of one model, in reads of at most [`MAX_READ`].
async fn read_model(client: &mut Client, location: ModelLocation) -> Result<Vec<u16>, ClientError> {
    let mut data = Vec::with_capacity(usize::from(location.length));
    let mut offset = 0u16;
    while offset < location.length {
        let count = (location.length - offset).min(MAX_READ);
        data.extend(client.read_registers(Table::Holding, location.address.saturating_add(offset), count).await?);
        offset += count;
    }
    Ok(data)
}

fn build(opts: &Options, base: u16, models: &[ModelRead]) -> Result<Probed, ProbeError> {
    let ld = opts.logical_device.clone().unwrap_or_else(|| logical_device_of(&opts.name, "DER"));
    let mut report = format!("SunSpec device at {} (unit {}), map at {base}: {} models\n", opts.address, opts.unit_id, models.len());
    let mut instances = LnInstances::default();
    let mut summary = Vec::new();
    for m in models {
        let ModelLocation { id, address, length } = m.location;
        let def = sunspec::model_def(id);
        let name = def.map_or("not parsed by gridtrust; the edge skips it", |d| d.name);
        let _ = writeln!(report, "\nmodel {id} ({name}) at {address}, {length} registers");
        summary.push(format!("{id} ({name})"));
        // Instances are reserved for every parsed model, as the edge's adapter does.
        let ids = match def {
            Some(def) => instances.point_ids(&ld, def).map_err(|source| ProbeError::PointId { name: ld.clone(), source })?,
            None => continue,
        };
        match &m.values {
            Err(why) => {
                let _ = writeln!(report, "  {why}");
            }
            Ok(values) => {
                for ((field, reading), id) in values.def.fields.iter().zip(&values.readings).zip(&ids) {
                    let point = id.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
                    let _ = writeln!(report, "  {:<18} {:<24} {point}", field.name, show(reading));
                }
            }
        }
    }
    let table = format!(
        "# SunSpec device at {} as `gridtrust probe modbus` found it (models {}): merge into edge.toml.\n[[modbus]]\nname = {}\naddress = {}\nunit_id = {}\nlogical_device = {}\nsunspec = true\npoll_period_ms = 1000\ntimeout_ms = {}\n",
        comment(&opts.address),
        comment(&summary.join(", ")),
        toml_str(&opts.name),
        toml_str(&opts.address),
        opts.unit_id,
        toml_str(&ld),
        opts.timeout.as_millis().clamp(1, 60_000)
    );
    Ok(Probed { report, files: vec![(format!("edge-{}.toml", opts.name), table)] })
}

fn show(reading: &Reading) -> String {
    match reading {
        Reading::NotImplemented => "not implemented".to_owned(),
        Reading::BadScaleFactor(sf) => format!("bad scale factor {sf}"),
        // Scale factors are powers of ten: six decimals show every digit a SunSpec value has,
        // without the binary noise of the multiplication (416.20000000000005).
        Reading::Number(n) => format!("{}", (n * 1e6).round() / 1e6),
        Reading::Enum(e) => format!("enum {e}"),
        Reading::Bits(b) => format!("0x{b:08x}"),
        Reading::Text(t) => format!("{:?}", t.trim_end_matches('\0').trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_the_device_as_sunspec_with_the_probed_names() {
        let opts = Options {
            address: "127.0.0.1:1502".into(),
            unit_id: 3,
            name: "pv-7".into(),
            logical_device: None,
            timeout: Duration::from_secs(2),
        };
        let mut data = vec![0u16; 50];
        data[12] = 2500;
        data[13] = 1;
        let values = sunspec::parse_model(103, &data).map_err(|e| e.to_string());
        let models = [ModelRead { location: ModelLocation { id: 103, address: 40070, length: 50 }, values }];
        let probed = build(&opts, 40000, &models).unwrap();
        assert!(probed.report.contains("25000") && probed.report.contains("PV7/MMXU1.TotW.mag.f"), "{}", probed.report);
        let table: toml::Table = toml::from_str(&probed.files[0].1).unwrap();
        let device = &table["modbus"][0];
        assert_eq!(device["logical_device"].as_str(), Some("PV7"));
        assert_eq!(device["unit_id"].as_integer(), Some(3));
        assert_eq!(device["timeout_ms"].as_integer(), Some(2000));
    }
}
