//! A SunSpec PV inverter to test against and to run the demo on: models 1 (common), 103
//! (three-phase inverter, integer + scale factors), 120 (nameplate) and 123 (immediate controls)
//! at base 40000. Its output follows a daylight curve and obeys the controls it is written:
//! `WMaxLimPct` (when `WMaxLim_Ena` is 1) caps the power, `Conn = 0` disconnects it.
//!
//! [`InverterSim`] is the sans-IO device (registers in, requests answered, time passed in);
//! [`Simulator`] serves it over Modbus TCP and advances its clock.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::frame::{Exception, FrameError, Request, Response, Table, be_words, split_frame};
use crate::sunspec::{self, Field, ModelDef, Repr};
use gridtrust_model::num;

/// Where the simulated map starts (protocol address, "register 40001").
pub const BASE: u16 = 40000;
const COMMON_LEN: u16 = 66;

/// The register layout: (model id, data address) for every model, in chain order.
const fn layout() -> [(u16, u16, u16); 4] {
    let common = BASE + 4;
    let inverter = common + COMMON_LEN + 2;
    let nameplate = inverter + 50 + 2;
    let controls = nameplate + 26 + 2;
    [(1, common, COMMON_LEN), (103, inverter, 50), (120, nameplate, 26), (123, controls, 24)]
}
const MODELS: [(u16, u16, u16); 4] = layout();
const END: u16 = MODELS[3].1 + MODELS[3].2;
/// Data address of model 103 in the simulator.
pub const INVERTER_ADDRESS: u16 = MODELS[1].1;
/// Data address of model 123 in the simulator.
pub const CONTROLS_ADDRESS: u16 = MODELS[3].1;

fn def(id: u16) -> &'static ModelDef {
    // The four ids above are all known to the parser (checked by a test).
    sunspec::model_def(id).unwrap_or_else(|| unreachable!("model {id} is in the simulator's layout"))
}

/// The simulated inverter's registers and physics.
#[derive(Clone, Debug)]
pub struct InverterSim {
    registers: Vec<u16>,
    rating_w: u16,
    energy_wh: f64,
}

impl InverterSim {
    /// An inverter rated `rating_w` watts, connected, with no limit, at midnight.
    pub fn new(rating_w: u16) -> Self {
        let mut sim = Self { registers: vec![0; usize::from(END - BASE + 2)], rating_w, energy_wh: 0.0 };
        sim.put(BASE, &sunspec::MARKER);
        for (id, address, length) in MODELS {
            sim.put(address - 2, &[id, length]);
        }
        sim.put(END, &[sunspec::END_MODEL, 0]);
        sim.set_text(1, "Mn", 16, "gridtrust");
        sim.set_text(1, "Md", 16, "SunSpec PV simulator");
        sim.set_text(1, "Vr", 8, env!("CARGO_PKG_VERSION"));
        sim.set_text(1, "SN", 16, "SIM-0001");
        sim.set(1, "DA", 1);
        // Scale factors of model 103 (offsets from the SunSpec table): A -2, V -1, W 0, Hz -2,
        // VA 0, VAr 0, PF 0, WH 0, DCA -2, DCV -1, DCW 0, Tmp -1.
        let inverter = MODELS[1].1;
        for (offset, sf) in
            [(4, -2i16), (11, -1), (13, 0), (15, -2), (17, 0), (19, 0), (21, 0), (24, 0), (26, -2), (28, -1), (30, 0), (35, -1)]
        {
            sim.put(inverter + offset, &[sf as u16]);
        }
        // Unimplemented in a simulator: line-to-line voltages, transformer and other temperatures.
        for name in ["PPVphAB", "PPVphBC", "PPVphCA"] {
            sim.set(103, name, 0xffff);
        }
        for name in ["TmpTrns", "TmpOt"] {
            sim.set(103, name, 0x8000);
        }
        for name in ["Evt1", "Evt2", "EvtVnd1", "EvtVnd2", "EvtVnd3", "EvtVnd4"] {
            let at = def(103).field(name).map_or(0, |f| f.offset);
            sim.put(inverter + at, &[0, 0]);
        }
        sim.set(120, "DERTyp", 4); // PV
        sim.set(120, "WRtg", rating_w);
        sim.set(120, "VARtg", rating_w);
        sim.set(120, "ARtg", u16::try_from(u32::from(rating_w) / 3 / 230 + 1).unwrap_or(u16::MAX));
        // Model 123: connected, limit 100.0 % (scale factor -1) but not enabled, no PF or VAr mode.
        let controls = MODELS[3].1;
        sim.put(controls + 21, &[(-1i16) as u16, (-2i16) as u16, 0]);
        sim.set(123, "Conn", 1);
        sim.set(123, "WMaxLimPct", 1000);
        sim.set(123, "OutPFSet", 100);
        sim.set(123, "VArPct_Mod", 0);
        sim.update(0.0, 0.0);
        sim
    }

    fn put(&mut self, address: u16, values: &[u16]) {
        let at = usize::from(address.saturating_sub(BASE));
        if let Some(dst) = self.registers.get_mut(at..at + values.len()) {
            dst.copy_from_slice(values);
        }
    }

    fn field_address(model: u16, name: &str) -> Option<(u16, &'static Field)> {
        let (_, address, _) = MODELS.iter().find(|m| m.0 == model)?;
        let field = def(model).field(name)?;
        Some((address + field.offset, field))
    }

    fn set(&mut self, model: u16, name: &str, raw: u16) {
        if let Some((address, _)) = Self::field_address(model, name) {
            self.put(address, &[raw]);
        }
    }

    fn set_text(&mut self, model: u16, name: &str, registers: usize, text: &str) {
        if let Some((address, _)) = Self::field_address(model, name) {
            let mut bytes = text.as_bytes().to_vec();
            bytes.resize(registers * 2, 0);
            let words: Vec<u16> = be_words(&bytes).collect();
            self.put(address, &words);
        }
    }

    /// The holding register at protocol address `address`.
    pub fn register(&self, address: u16) -> Option<u16> {
        self.registers.get(usize::from(address.checked_sub(BASE)?)).copied()
    }

    fn get(&self, model: u16, name: &str) -> u16 {
        Self::field_address(model, name).and_then(|(a, _)| self.register(a)).unwrap_or(0)
    }

    /// The power the sun offers at `day_fraction` (0 = midnight, 0.5 = noon): a half sine from
    /// 06:00 to 18:00.
    pub fn available_w(&self, day_fraction: f64) -> f64 {
        let f = day_fraction.rem_euclid(1.0);
        if !(0.25..=0.75).contains(&f) {
            return 0.0;
        }
        f64::from(self.rating_w) * (std::f64::consts::PI * (f - 0.25) / 0.5).sin()
    }

    /// The output cap from model 123, in watts, when the limit is enabled.
    pub fn limit_w(&self) -> Option<f64> {
        (self.get(123, "WMaxLim_Ena") == 1).then(|| f64::from(self.rating_w) * f64::from(self.get(123, "WMaxLimPct")) / 1000.0)
    }

    /// Advances the physics to `day_fraction`, `elapsed_s` seconds after the last update.
    pub fn update(&mut self, day_fraction: f64, elapsed_s: f64) {
        let connected = self.get(123, "Conn") == 1;
        let available = self.available_w(day_fraction);
        let limit = self.limit_w();
        let w = if connected { limit.map_or(available, |l| available.min(l)) } else { 0.0 };
        self.energy_wh += w * elapsed_s.max(0.0) / 3600.0;
        let state = match (connected, w > 0.0, limit.is_some_and(|l| available > l)) {
            (false, _, _) => 1,       // off
            (true, false, _) => 2,    // sleeping
            (true, true, true) => 5,  // throttled
            (true, true, false) => 4, // MPPT
        };
        let phase_a = w / 3.0 / 230.0;
        // Clamped to the register's range (65535 is SunSpec's "not implemented"); NaN reads 0.
        let to_u16 = |v: f64| num::whole(v.round().clamp(0.0, 65534.0)).and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
        self.set(103, "A", to_u16(w / 230.0 * 100.0));
        for name in ["AphA", "AphB", "AphC"] {
            self.set(103, name, to_u16(phase_a * 100.0));
        }
        for name in ["PhVphA", "PhVphB", "PhVphC"] {
            self.set(103, name, 2300);
        }
        self.set(103, "W", to_u16(w.min(32767.0)));
        self.set(103, "Hz", 5000);
        self.set(103, "VA", to_u16(w.min(32767.0)));
        self.set(103, "VAr", 0);
        self.set(103, "PF", 100);
        // Clamped to the accumulator's range (0 is "not accumulated"); NaN reads 0 as before.
        let wh = num::whole(self.energy_wh.round().clamp(1.0, f64::from(u32::MAX))).and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        if let Some((address, _)) = Self::field_address(103, "WH") {
            self.put(address, &[(wh >> 16) as u16, (wh & 0xffff) as u16]);
        }
        let dc_v = if available > 0.0 { 600.0 } else { 0.0 };
        self.set(103, "DCV", to_u16(dc_v * 10.0));
        self.set(103, "DCA", to_u16(if dc_v > 0.0 { w / 0.97 / dc_v * 100.0 } else { 0.0 }));
        self.set(103, "DCW", to_u16((w / 0.97).min(32767.0)));
        self.set(103, "TmpCab", to_u16(250.0 + w / f64::from(self.rating_w.max(1)) * 150.0));
        self.set(103, "TmpSnk", to_u16(250.0 + w / f64::from(self.rating_w.max(1)) * 300.0));
        self.set(103, "St", state);
    }

    /// Answers one request, writing only model 123's writable points with values in range.
    pub fn handle(&mut self, request: &Request) -> Response {
        match request {
            Request::Read { table: Table::Holding, address, count } => {
                let from = usize::from(address.saturating_sub(BASE));
                match (address.checked_sub(BASE), self.registers.get(from..from + usize::from(*count))) {
                    (Some(_), Some(regs)) => Response::Registers(regs.to_vec()),
                    _ => Response::Exception(Exception::ILLEGAL_DATA_ADDRESS),
                }
            }
            Request::Read { .. } | Request::WriteSingleCoil { .. } | Request::WriteMultipleCoils { .. } => {
                Response::Exception(Exception::ILLEGAL_DATA_ADDRESS)
            }
            Request::WriteSingleRegister { address, value } => match self.write(*address, &[*value]) {
                Ok(()) => Response::WriteSingle { address: *address, value: *value },
                Err(e) => Response::Exception(e),
            },
            Request::WriteMultipleRegisters { address, values } => match self.write(*address, values) {
                Ok(()) => Response::WriteMultiple { address: *address, count: u16::try_from(values.len()).unwrap_or(u16::MAX) },
                Err(e) => Response::Exception(e),
            },
        }
    }

    fn write(&mut self, address: u16, values: &[u16]) -> Result<(), Exception> {
        let controls = def(123);
        let mut checked = Vec::with_capacity(values.len());
        for (i, &value) in values.iter().enumerate() {
            let at = u16::try_from(i).ok().and_then(|i| address.checked_add(i)).ok_or(Exception::ILLEGAL_DATA_ADDRESS)?;
            let field = at
                .checked_sub(CONTROLS_ADDRESS)
                .and_then(|offset| controls.fields.iter().find(|f| f.offset == offset && f.writable))
                .ok_or(Exception::ILLEGAL_DATA_ADDRESS)?;
            if !Self::in_range(field, value) {
                return Err(Exception::ILLEGAL_DATA_VALUE);
            }
            checked.push((at, value));
        }
        for (at, value) in checked {
            self.put(at, &[value]);
        }
        Ok(())
    }

    /// What this device accepts: 0/1 for switches and enables, modes 0..=3, percentages
    /// within ±100 % (scale factors -1 and -2 as set above), power factor within ±1.
    fn in_range(field: &Field, value: u16) -> bool {
        let signed = i16::from_be_bytes(value.to_be_bytes());
        match (field.repr, field.name) {
            (Repr::Switch | Repr::Flag, _) => value <= 1,
            (_, "VArPct_Mod") => value <= 3,
            (_, "WMaxLimPct") => value <= 1000,
            (_, "OutPFSet") => (-100..=100).contains(&signed),
            _ => (-1000..=1000).contains(&signed),
        }
    }
}

/// A running simulator: a Modbus TCP server on a loopback port and a clock that moves the sun.
pub struct Simulator {
    pub address: SocketAddr,
    state: Arc<Mutex<InverterSim>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

fn lock(state: &Mutex<InverterSim>) -> MutexGuard<'_, InverterSim> {
    // A panic while holding the lock leaves registers that are still valid u16s.
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Simulator {
    /// Serves a `rating_w` inverter on `bind`. A simulated day lasts `day_length`, starting at
    /// `start_fraction` of the day (0.5 = noon).
    pub async fn start(bind: SocketAddr, rating_w: u16, day_length: Duration, start_fraction: f64) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(InverterSim::new(rating_w)));
        lock(&state).update(start_fraction, 0.0);
        let clock = tokio::spawn(run_clock(state.clone(), day_length, start_fraction));
        let server = tokio::spawn(accept(listener, state.clone()));
        info!(%address, rating_w, "SunSpec inverter simulator listening");
        Ok(Self { address, state, tasks: vec![clock, server] })
    }

    /// A copy of the simulated device as it is now.
    pub fn snapshot(&self) -> InverterSim {
        lock(&self.state).clone()
    }
}

async fn run_clock(state: Arc<Mutex<InverterSim>>, day_length: Duration, start_fraction: f64) {
    let start = Instant::now();
    let mut last = start;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let seconds_per_real_second = 86_400.0 / day_length.as_secs_f64().max(1e-3);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let fraction = start_fraction + now.duration_since(start).as_secs_f64() / day_length.as_secs_f64().max(1e-3);
        lock(&state).update(fraction, now.duration_since(last).as_secs_f64() * seconds_per_real_second);
        last = now;
    }
}

/// Accepts clients; the connections live in a set owned by this task, so stopping the
/// simulator closes them too (a test can make the device vanish).
async fn accept(listener: TcpListener, state: Arc<Mutex<InverterSim>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, peer)) => {
                debug!(%peer, "simulator: client connected");
                connections.spawn(serve_connection(stream, state.clone()));
            }
            Err(e) => debug!(error = %e, "simulator: accept failed"),
        }
    }
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<InverterSim>>) {
    let _ = stream.set_nodelay(true);
    let mut received = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(300);
    loop {
        match split_frame(&received) {
            Ok((header, pdu, used)) => {
                let function = pdu.first().copied().unwrap_or(0);
                let response = match Request::decode(pdu) {
                    Ok(request) => lock(&state).handle(&request),
                    Err(FrameError::UnsupportedFunction { .. }) => Response::Exception(Exception::ILLEGAL_FUNCTION),
                    Err(_) => Response::Exception(Exception::ILLEGAL_DATA_VALUE),
                };
                received.drain(..used);
                out.clear();
                response.encode(header, function & 0x7f, &mut out);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            Err(FrameError::Incomplete { .. }) => match stream.read_buf(&mut received).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            Err(e) => {
                debug!(error = %e, "simulator: closing a connection that sent a bad frame");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sunspec::{Discovery, Reading, parse_model};

    fn discover(sim: &mut InverterSim) -> Vec<sunspec::ModelLocation> {
        let mut d = Discovery::new();
        while let Some((address, count)) = d.next_read() {
            match sim.handle(&Request::Read { table: Table::Holding, address, count }) {
                Response::Registers(r) => d.on_registers(&r),
                other => d.on_failure(&format!("{other:?}")),
            }
        }
        d.result().unwrap().unwrap().1.to_vec()
    }

    fn model(sim: &mut InverterSim, id: u16) -> sunspec::ModelValues {
        let (_, address, length) = MODELS.iter().copied().find(|m| m.0 == id).unwrap();
        let Response::Registers(r) = sim.handle(&Request::Read { table: Table::Holding, address, count: length }) else { panic!() };
        parse_model(id, &r).unwrap()
    }

    #[test]
    fn the_chain_is_discoverable_and_every_model_parses() {
        let mut sim = InverterSim::new(10_000);
        let ids: Vec<u16> = discover(&mut sim).iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 103, 120, 123]);
        assert_eq!(model(&mut sim, 1).get("Mn"), Some(&Reading::Text("gridtrust".into())));
        assert_eq!(model(&mut sim, 120).number("WRtg"), Some(10_000.0));
        assert_eq!(model(&mut sim, 123).number("WMaxLimPct"), Some(100.0));
    }

    #[test]
    fn power_follows_the_sun_and_obeys_limit_and_disconnect() {
        let mut sim = InverterSim::new(10_000);
        sim.update(0.0, 0.0);
        assert_eq!(model(&mut sim, 103).number("W"), Some(0.0));
        sim.update(0.5, 0.0);
        assert_eq!(model(&mut sim, 103).number("W"), Some(10_000.0));
        sim.update(1.0 / 3.0, 0.0);
        assert_eq!(model(&mut sim, 103).number("W"), Some(5_000.0), "half a sine at 08:00");
        sim.update(0.5, 0.0);
        let limit = CONTROLS_ADDRESS + 3;
        assert_eq!(
            sim.handle(&Request::WriteSingleRegister { address: limit, value: 400 }),
            Response::WriteSingle { address: limit, value: 400 }
        );
        sim.update(0.5, 0.0);
        assert_eq!(model(&mut sim, 103).number("W"), Some(10_000.0), "limit not enabled yet");
        sim.handle(&Request::WriteSingleRegister { address: CONTROLS_ADDRESS + 7, value: 1 });
        sim.update(0.5, 3600.0);
        let m = model(&mut sim, 103);
        assert_eq!((m.number("W"), m.number("St")), (Some(4_000.0), Some(5.0)));
        assert_eq!(m.number("WH"), Some(4_000.0));
        sim.handle(&Request::WriteSingleRegister { address: CONTROLS_ADDRESS + 2, value: 0 });
        sim.update(0.5, 0.0);
        assert_eq!(model(&mut sim, 103).number("W"), Some(0.0));
    }

    #[test]
    fn bad_writes_are_exceptions_and_change_nothing() {
        let mut sim = InverterSim::new(10_000);
        let limit = CONTROLS_ADDRESS + 3;
        assert_eq!(
            sim.handle(&Request::WriteSingleRegister { address: limit, value: 1001 }),
            Response::Exception(Exception::ILLEGAL_DATA_VALUE)
        );
        assert_eq!(
            sim.handle(&Request::WriteSingleRegister { address: INVERTER_ADDRESS + 12, value: 1 }),
            Response::Exception(Exception::ILLEGAL_DATA_ADDRESS)
        );
        assert_eq!(
            sim.handle(&Request::WriteMultipleRegisters { address: limit, values: vec![500, 0] }),
            Response::Exception(Exception::ILLEGAL_DATA_ADDRESS),
            "the second register is a timer this device does not let you write"
        );
        assert_eq!(sim.register(limit), Some(1000));
        assert_eq!(
            sim.handle(&Request::Read { table: Table::Holding, address: 39999, count: 2 }),
            Response::Exception(Exception::ILLEGAL_DATA_ADDRESS)
        );
    }
}
