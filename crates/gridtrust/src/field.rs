//! The demo's field devices beside the substation RTU: a SunSpec PV inverter over Modbus TCP, a
//! PMU over IEEE C37.118, and, when a broker is configured, a smart meter publishing to MQTT.
//! Each comes with the edge configuration that reads it and the IEC 104 addresses the cc serves
//! its points under, so every device is visible end to end: edge, hub, cc and SCADA.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use gridtrust_c37118::sim::SimSpec;
use gridtrust_modbus::sim::Simulator as InverterSimulator;
use gridtrust_mqtt::config::PayloadFormat;
use gridtrust_mqtt::sim::{BrokerOptions, Publisher, SimMeter, SimRun, simulate};

/// Where the demo's field devices listen, and the optional MQTT broker.
#[derive(Clone, Debug)]
pub struct FieldOptions {
    /// The PV inverter's Modbus TCP server.
    pub pv_listen: String,
    /// The PMU's C37.118 TCP server.
    pub pmu_listen: String,
    /// `host:port` of an MQTT broker the simulated meter publishes to; no meter without one.
    pub mqtt_broker: Option<String>,
    /// PMU frames per second.
    pub pmu_rate: i16,
    /// Seconds in one simulated PV day.
    pub pv_day: Duration,
}

impl FieldOptions {
    /// Every port picked by the system, a fast PV day, no broker.
    pub fn for_tests() -> Self {
        Self {
            pv_listen: "127.0.0.1:0".into(),
            pmu_listen: "127.0.0.1:0".into(),
            mqtt_broker: None,
            pmu_rate: 10,
            pv_day: Duration::from_secs(120),
        }
    }
}

/// The PMU's IDCODE and station name (its points are `PMU1/MMXU1...`).
pub const PMU_IDCODE: u16 = 7;
pub const PMU_STATION: &str = "PMU1";
/// The meter's name and its MQTT topic.
pub const METER: &str = "MTR1";
pub const METER_TOPIC: &str = "meters/MTR1/senml";

/// A point the cc serves to SCADA: IOA, point id, IEC 104 type, unit.
type ScadaPoint = (u32, &'static str, &'static str, Option<&'static str>);
/// A command the cc accepts from SCADA: IOA, point id, IEC 104 type, select-before-operate.
type ScadaCommand = (u32, &'static str, &'static str, bool);

const PV_POINTS: &[ScadaPoint] = &[
    (20_001, "PV1/MMXU1.TotW.mag.f", "float", Some("W")),
    (20_002, "PV1/MMXU1.TotVAr.mag.f", "float", Some("var")),
    (20_003, "PV1/MMXU1.Hz.mag.f", "float", Some("Hz")),
    (20_004, "PV1/MMTR1.SupWh.actVal", "float", Some("Wh")),
    (20_005, "PV1/DRCC1.WMaxLimPct", "float", Some("%")),
    (20_006, "PV1/CSWI1.Pos", "double", None),
];
const PV_COMMANDS: &[ScadaCommand] = &[
    (20_101, "PV1/DRCC1.WMaxLimPct", "setpoint-float", false),
    (20_102, "PV1/CSWI1.Pos", "double", true),
    (20_103, "PV1/DRCC1.WMaxLimEna", "single", false),
];
const PMU_POINTS: &[ScadaPoint] = &[
    (21_001, "PMU1/MMXU1.Hz.mag.f", "float", Some("Hz")),
    (21_002, "PMU1/MMXU1.HzRte.mag.f", "float", Some("Hz/s")),
    (21_003, "PMU1/MMXU1.VA.cVal.mag.f", "float", Some("V")),
    (21_004, "PMU1/MMXU1.VA.cVal.ang.f", "float", Some("deg")),
    (21_005, "PMU1/MMXU1.IA.cVal.mag.f", "float", Some("A")),
];
const METER_POINTS: &[ScadaPoint] = &[
    (22_001, "MTR1/MMTR1.TotWh.actVal", "float", Some("Wh")),
    (22_002, "MTR1/MMXU1.TotW.mag.f", "float", Some("W")),
    (22_003, "MTR1/MMXU1.PhV.phsA.cVal.mag.f", "float", Some("V")),
];

/// The running field devices.
pub struct Field {
    pub pv: InverterSimulator,
    pub pmu_addr: SocketAddr,
    /// The broker the meter publishes to, if any.
    pub mqtt_broker: Option<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Field {
    /// Starts the PV inverter, the PMU and (with a broker) the meter.
    pub async fn start(opts: &FieldOptions) -> anyhow::Result<Self> {
        let pv_bind = opts.pv_listen.parse().with_context(|| format!("PV inverter address `{}`", opts.pv_listen))?;
        // 10 kW, the simulated day starting at 09:36 so the demo opens with the sun up.
        let pv = InverterSimulator::start(pv_bind, 10_000, opts.pv_day, 0.4).await.context("starting the PV inverter simulator")?;

        let listener = TcpListener::bind(&opts.pmu_listen).await.with_context(|| format!("PMU address `{}`", opts.pmu_listen))?;
        let pmu_addr = listener.local_addr()?;
        let spec = SimSpec::single(PMU_IDCODE, PMU_STATION, opts.pmu_rate);
        let mut tasks = vec![tokio::spawn(async move {
            if let Err(e) = gridtrust_c37118::driver::serve_tcp(listener, move || spec.server()).await {
                tracing::warn!(error = %e, "PMU simulator stopped");
            }
        })];

        if let Some(broker) = &opts.mqtt_broker {
            let (host, port) = split_host_port(broker)?;
            let mut publisher = Publisher::start(&BrokerOptions { host, port, client_id: "gridtrust-demo-meter".into(), tls: None })
                .context("starting the meter")?;
            tasks.push(tokio::spawn(async move {
                let mut meter = SimMeter::new(METER);
                let run = SimRun { format: PayloadFormat::Senml, topic: METER_TOPIC.into(), count: None, interval: Duration::from_secs(1) };
                if let Err(e) = simulate(&mut publisher, &mut meter, &run).await {
                    tracing::warn!(error = %e, "meter simulator stopped");
                }
            }));
        }
        Ok(Self { pv, pmu_addr, mqtt_broker: opts.mqtt_broker.clone(), tasks })
    }

    /// The `[[modbus]]`, `[[pmu]]` and `[[mqtt]]` tables of the edge that reads these devices.
    pub fn edge_toml(&self) -> String {
        let mut s = format!(
            "\n[[modbus]]\nname = \"pv-inverter-1\"\naddress = \"{}\"\nlogical_device = \"PV1\"\nsunspec = true\npoll_period_ms = 1000\n\n[[pmu]]\nname = \"pmu-1\"\naddress = \"{}\"\nidcode = {PMU_IDCODE}\n",
            self.pv.address, self.pmu_addr
        );
        if let Some(broker) = &self.mqtt_broker
            && let Ok((host, port)) = split_host_port(broker)
        {
            let _ = write!(
                s,
                "\n[[mqtt]]\nname = \"meters\"\nhost = \"{host}\"\nport = {port}\nclient_id = \"gridtrust-edge-1-meters\"\n[[mqtt.topic]]\nfilter = \"meters/+/senml\"\nformat = \"senml\"\n"
            );
            for (name, point, unit) in
                [("energy", METER_POINTS[0].1, "Wh"), ("power", METER_POINTS[1].1, "W"), ("voltage", METER_POINTS[2].1, "V")]
            {
                let _ =
                    write!(s, "[[mqtt.topic.point]]\nname = \"urn:dev:meter:{METER}:{name}\"\npoint = \"{point}\"\nunit = \"{unit}\"\n");
            }
        }
        s
    }

    /// The `[[point]]` and `[[command]]` tables the cc serves these devices' points under.
    pub fn scada_toml(&self) -> String {
        let mut s = String::from("\n# The PV inverter (SunSpec over Modbus), the PMU (C37.118) and the meter (MQTT).\n");
        let meter: &[ScadaPoint] = if self.mqtt_broker.is_some() { METER_POINTS } else { &[] };
        for (ioa, id, kind, unit) in PV_POINTS.iter().chain(PMU_POINTS).chain(meter) {
            let _ = write!(s, "\n[[point]]\nid = \"{id}\"\nioa = {ioa}\ntype = \"{kind}\"\n");
            if let Some(u) = unit {
                let _ = writeln!(s, "unit = \"{u}\"");
            }
        }
        for (ioa, id, kind, sbo) in PV_COMMANDS {
            let _ = write!(s, "\n[[command]]\nid = \"{id}\"\nioa = {ioa}\ntype = \"{kind}\"\nsbo = {sbo}\n");
        }
        s
    }

    /// Stops the simulators.
    pub fn shutdown(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

fn split_host_port(address: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = address.rsplit_once(':').with_context(|| format!("MQTT broker `{address}` is not host:port"))?;
    let port = port.parse().with_context(|| format!("MQTT broker `{address}`: bad port"))?;
    Ok((host.to_owned(), port))
}
