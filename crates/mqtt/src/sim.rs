//! A meter simulator for the demo, the tests and the benchmarks: a meter whose energy register
//! advances with a plausible load profile, its samples encoded as JSON, SenML or CIM
//! MeterReadings exactly as the adapter's parsers expect them, and a QoS 1 publisher.

use std::time::Duration;

use gridtrust_model::Timestamp;
use rumqttc::{AsyncClient, ClientError, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use tracing::debug;

use crate::AbortOnDrop;
use crate::config::{PayloadFormat, TlsFiles};
use crate::tls::TlsSetupError;

/// The CIM ReadingType codes the simulator publishes: forward active energy in kWh,
/// instantaneous active power in W, and phase-to-neutral voltage in V.
pub const READING_TYPE_ENERGY_KWH: &str = "0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0";
pub const READING_TYPE_POWER_W: &str = "0.0.0.6.1.1.37.0.0.0.0.0.0.0.0.0.38.0";
pub const READING_TYPE_VOLTAGE_V: &str = "0.0.0.6.0.1.54.0.0.0.0.0.0.0.128.0.29.0";

/// One sample of a simulated meter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeterSample {
    /// Counts samples from 0, so a receiver can tell which ones it got.
    pub seq: u64,
    pub time: Timestamp,
    pub energy_wh: f64,
    pub power_w: f64,
    pub voltage_v: f64,
}

/// A meter: its name and its energy register.
#[derive(Clone, Debug)]
pub struct SimMeter {
    name: String,
    energy_wh: f64,
    seq: u64,
}

impl SimMeter {
    /// A meter called `name` (in SenML names and the CIM Meter name) starting at 1 MWh.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), energy_wh: 1_000_000.0, seq: 0 }
    }

    /// The meter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next sample, taken at `now`, one second of load after the previous one.
    pub fn sample(&mut self, now: Timestamp) -> MeterSample {
        let phase = self.seq as f64 / 30.0;
        let power_w = 1500.0 + 700.0 * phase.sin();
        self.energy_wh += power_w / 3600.0;
        let sample =
            MeterSample { seq: self.seq, time: now, energy_wh: self.energy_wh, power_w, voltage_v: 230.0 + 3.0 * (phase * 0.7).cos() };
        self.seq += 1;
        sample
    }

    /// `sample` in `format`: JSON `{"time","seq","energy":{"import_wh"},"power_w","voltage_v"}`,
    /// a SenML pack named `urn:dev:meter:<name>:` + `seq|energy|power|voltage` (energy in kWh),
    /// or a MeterReadings message with the three `READING_TYPE_*` readings.
    pub fn encode(&self, format: PayloadFormat, sample: &MeterSample) -> Vec<u8> {
        let seconds = sample.time.0 as f64 / 1e9;
        match format {
            PayloadFormat::Json => json!({
                "time": seconds,
                "seq": sample.seq,
                "energy": {"import_wh": sample.energy_wh},
                "power_w": sample.power_w,
                "voltage_v": sample.voltage_v,
            })
            .to_string()
            .into_bytes(),
            PayloadFormat::Senml => json!([
                {"bn": format!("urn:dev:meter:{}:", self.name), "bt": seconds, "n": "seq", "v": sample.seq},
                {"n": "energy", "u": "kWh", "v": sample.energy_wh / 1000.0},
                {"n": "power", "u": "W", "v": sample.power_w},
                {"n": "voltage", "u": "V", "v": sample.voltage_v},
            ])
            .to_string()
            .into_bytes(),
            PayloadFormat::Cim => {
                let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(sample.time.0))
                    .ok()
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
                let reading = |value: f64, reading_type: &str| {
                    format!(
                        "<m:Readings><m:timeStamp>{time}</m:timeStamp><m:value>{value}</m:value><m:ReadingType ref=\"{reading_type}\"/></m:Readings>"
                    )
                };
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><m:MeterReadings xmlns:m=\"http://iec.ch/TC57/2011/MeterReadings#\"><m:MeterReading><m:Meter><m:Names><m:name>{}</m:name></m:Names></m:Meter>{}{}{}</m:MeterReading></m:MeterReadings>",
                    xml_escape(&self.name),
                    reading(sample.energy_wh / 1000.0, READING_TYPE_ENERGY_KWH),
                    reading(sample.power_w, READING_TYPE_POWER_W),
                    reading(sample.voltage_v, READING_TYPE_VOLTAGE_V),
                )
                .into_bytes()
            }
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Where and as whom the simulator publishes.
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    pub host: String,
    pub port: u16,
    /// Stable across restarts, so unacknowledged messages survive a reconnection.
    pub client_id: String,
    pub tls: Option<TlsFiles>,
}

/// A QoS 1 publisher with a persistent session that reconnects by itself and counts the
/// messages the broker acknowledged.
pub struct Publisher {
    client: AsyncClient,
    acked: watch::Receiver<u64>,
    queued: u64,
    _poller: AbortOnDrop,
}

impl Publisher {
    /// Starts connecting to the broker (in the background, retrying every 100 ms).
    pub fn start(options: &BrokerOptions) -> Result<Self, TlsSetupError> {
        let mut mqtt = MqttOptions::new(options.client_id.clone(), options.host.clone(), options.port);
        mqtt.set_clean_session(false).set_keep_alive(Duration::from_secs(30)).set_inflight(100).set_max_packet_size(1 << 20, 1 << 20);
        if let Some(files) = &options.tls {
            mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(crate::tls::client_config(files)?)));
        }
        let (client, mut eventloop) = AsyncClient::new(mqtt, 1024);
        let (acked_tx, acked) = watch::channel(0u64);
        let poller = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    // Each PUBACK retires exactly one message from the in-flight window; a
                    // message is retransmitted only while it is still in it.
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked_tx.send_modify(|n| *n += 1),
                    Ok(_) => {}
                    Err(e) => {
                        debug!(error = %e, "simulator connection failed; retrying");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Self { client, acked, queued: 0, _poller: AbortOnDrop(poller) })
    }

    /// Queues `payload` on `topic` with QoS 1.
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), ClientError> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
        self.queued += 1;
        Ok(())
    }

    /// Messages the broker has acknowledged so far.
    pub fn acknowledged(&self) -> u64 {
        *self.acked.borrow()
    }

    /// Waits until the broker acknowledged every message queued so far.
    pub async fn flush(&mut self) {
        let queued = self.queued;
        // The sender lives in the poller, which runs until this publisher is dropped.
        let _ = self.acked.wait_for(|n| *n >= queued).await;
    }
}

/// What a run of the simulator should publish.
#[derive(Clone, Debug)]
pub struct SimRun {
    pub format: PayloadFormat,
    pub topic: String,
    /// Number of samples; `None` publishes until stopped.
    pub count: Option<u64>,
    pub interval: Duration,
}

/// Publishes samples of `meter` as `run` says, then waits until the broker has them all.
pub async fn simulate(publisher: &mut Publisher, meter: &mut SimMeter, run: &SimRun) -> Result<u64, ClientError> {
    let mut sent = 0;
    let mut tick = tokio::time::interval(run.interval.max(Duration::from_micros(1)));
    while run.count.is_none_or(|n| sent < n) {
        if !run.interval.is_zero() {
            tick.tick().await;
        }
        let sample = meter.sample(Timestamp::now());
        publisher.publish(&run.topic, meter.encode(run.format, &sample)).await?;
        sent += 1;
    }
    publisher.flush().await;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PointMapping, TopicConfig};
    use crate::router::Router;
    use gridtrust_model::{PointId, Value};

    fn route(format: PayloadFormat, names: &[(&str, &str, Option<&str>)]) -> Router {
        let points = names
            .iter()
            .map(|(name, point, unit)| PointMapping {
                name: (*name).into(),
                meter: None,
                point: PointId::new(*point).unwrap(),
                unit: unit.map(Into::into),
            })
            .collect();
        Router::new(&[TopicConfig { filter: "m/#".into(), format, time: None, points }])
    }

    #[test]
    fn every_format_the_simulator_sends_decodes_to_the_same_values() {
        let mut meter = SimMeter::new("MTR1");
        let now = Timestamp::from_unix_millis(1_714_564_800_123);
        let s = meter.sample(now);
        let cases = [
            (PayloadFormat::Json, "/energy/import_wh", "/power_w"),
            (PayloadFormat::Senml, "urn:dev:meter:MTR1:energy", "urn:dev:meter:MTR1:power"),
            (PayloadFormat::Cim, READING_TYPE_ENERGY_KWH, READING_TYPE_POWER_W),
        ];
        for (format, energy, power) in cases {
            let router = route(format, &[(energy, "MTR1/MMTR1.TotWh.actVal", Some("Wh")), (power, "MTR1/MMXU1.TotW.mag.f", Some("W"))]);
            let d = router.route("m/x").unwrap().decode(&meter.encode(format, &s), now).unwrap();
            assert_eq!(d.data.len(), 2, "{format:?}");
            let Value::Float(e) = d.data[0].value else { panic!("float expected") };
            assert!((f64::from(e) - s.energy_wh).abs() < 0.1, "{format:?}: {e} vs {}", s.energy_wh);
            assert_eq!(d.data[1].value, Value::Float(s.power_w as f32));
            assert_eq!(d.data[0].source_time.map(|t| t.0), Some(now), "{format:?}");
        }
    }

    #[test]
    fn the_energy_register_only_grows() {
        let mut meter = SimMeter::new("M");
        let a = meter.sample(Timestamp(0));
        let b = meter.sample(Timestamp(0));
        assert_eq!((a.seq, b.seq), (0, 1));
        assert!(b.energy_wh > a.energy_wh);
    }
}
