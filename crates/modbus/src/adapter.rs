//! The edge adapter for one Modbus TCP device: SunSpec discovery and/or an explicit register
//! map, a read plan of merged requests polled on a period, and verified set-point commands
//! written to SunSpec model 123 with read-back.
//!
//! Each device runs in its own task ([`run`]); every request has a deadline, a failed connection
//! is retried with exponential backoff, and while the device is away its points are published
//! once with invalid quality (keeping their last value) and commands are refused, so a slow or
//! dead device never holds up another one or leaves stale "good" values behind.
//!
//! Point naming: `<logical_device>/<LN><n>.<path>`; for SunSpec see [`crate::sunspec`]
//! (e.g. `PV1/MMXU1.TotW.mag.f`, `PV1/DRCC1.WMaxLimPct`, `PV1/CSWI1.Pos`), for explicit
//! registers the configured `point` after the logical device.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::TcpStream;
use tracing::{info, warn};

use gridtrust_adapter::{AdapterIo, Datum, DeviceCommand};
use gridtrust_model::{CommandAction, CommandOutcome, CommandValue, DoublePoint, PointId, Quality, Timestamp, Validity, Value};

use crate::client::{self, Client, ClientError};
use crate::frame::Table;
use crate::plan::{ReadBlock, Span, plan_reads};
use crate::registers::{DataType, Decoded, Order, decode};
use crate::sunspec::{self, Discovery, Field, LnInstances, ModelLocation, ParseError, Reading, Repr};
use gridtrust_model::num;

/// One Modbus TCP device behind the edge (`[[modbus]]` in the edge configuration).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusDeviceConfig {
    /// A name for logs.
    pub name: String,
    /// `host:port` of the device's Modbus TCP server.
    pub address: String,
    /// Modbus unit identifier (1 for most TCP devices; the slave id behind a gateway).
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// IEC 61850 logical device that prefixes every point id of this device, e.g. `PV1`.
    pub logical_device: String,
    /// How often every mapped register is read, in milliseconds.
    #[serde(default = "default_poll_period_ms")]
    pub poll_period_ms: u64,
    /// How long one request (or the connection) may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Longest wait between reconnection attempts, in milliseconds (the wait doubles from 200 ms).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Unmapped registers a merged read may span; 0 for devices that refuse such reads.
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    /// Discover the SunSpec model chain and publish its points.
    #[serde(default)]
    pub sunspec: bool,
    /// Registers read as explicitly mapped points.
    #[serde(default, rename = "register")]
    pub registers: Vec<RegisterConfig>,
}

/// One explicitly mapped datum (`[[modbus.register]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// The point after the logical device, e.g. `MMXU1.TotW.mag.f`.
    pub point: String,
    #[serde(default = "default_table")]
    pub table: Table,
    /// Protocol (0-based) address: holding register "40001" is address 0 or, on devices that
    /// number from 40000 as SunSpec does, 40000.
    pub address: u16,
    /// Value type; coils and discrete inputs are always `bit`.
    #[serde(rename = "type", default = "default_type")]
    pub data_type: DataType,
    #[serde(default)]
    pub order: Order,
    /// Engineering value = raw × scale + offset.
    #[serde(default = "default_scale")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    /// For `type = "bit"` in a register: which bit, 0 = least significant.
    #[serde(default)]
    pub bit: u8,
    /// Engineering unit, for people reading the configuration and the start-up log; the model
    /// registry is where units are authoritative.
    #[serde(default)]
    pub unit: Option<String>,
}

fn default_unit_id() -> u8 {
    1
}
fn default_poll_period_ms() -> u64 {
    1000
}
fn default_timeout_ms() -> u64 {
    1000
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_max_gap() -> u16 {
    16
}
fn default_table() -> Table {
    Table::Holding
}
fn default_type() -> DataType {
    DataType::U16
}
fn default_scale() -> f64 {
    1.0
}

const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

impl RegisterConfig {
    fn span(&self) -> Span {
        let count = if self.table.is_bits() { 1 } else { self.data_type.registers(0) };
        Span { table: self.table, address: self.address, count }
    }
}

impl ModbusDeviceConfig {
    /// Checks what serde cannot; the error is (key, message) so the edge can name the key in
    /// its own file.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: String| Err((key.to_owned(), message));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty".into());
        }
        match self.address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => return err("address", format!("`{}` is not host:port", self.address)),
        }
        if self.logical_device.contains(['/', '.']) {
            return err("logical_device", "must not contain `/` or `.`".into());
        }
        if let Err(e) = PointId::new(format!("{}/LLN0.Mod", self.logical_device)) {
            return err("logical_device", e.to_string());
        }
        if self.poll_period_ms < 10 {
            return err("poll_period_ms", "must be at least 10".into());
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return err("timeout_ms", "must be 1..=60000".into());
        }
        if u128::from(self.max_backoff_ms) < INITIAL_BACKOFF.as_millis() {
            return err("max_backoff_ms", format!("must be at least {}", INITIAL_BACKOFF.as_millis()));
        }
        if !self.sunspec && self.registers.is_empty() {
            return err("register", "no registers mapped and sunspec = false: nothing to read".into());
        }
        let mut seen = HashMap::new();
        for (i, r) in self.registers.iter().enumerate() {
            let key = |field: &str| format!("register[{i}].{field}");
            let id = match self.point_id(&r.point) {
                Ok(id) => id,
                Err(e) => return err(&key("point"), e.to_string()),
            };
            if let Some(first) = seen.insert(id, i) {
                return err(&key("point"), format!("same point as register[{first}]"));
            }
            if r.table.is_bits() && r.data_type != DataType::Bit {
                return err(&key("type"), "coils and discrete inputs are bits: use type = \"bit\"".into());
            }
            if r.data_type == DataType::String {
                return err(&key("type"), "the data model has no text values; strings are only read for SunSpec identity".into());
            }
            if r.data_type == DataType::Bit && r.bit > 15 {
                return err(&key("bit"), "must be 0..=15".into());
            }
            let span = r.span();
            if u32::from(span.address) + u32::from(span.count) > 0x1_0000 {
                return err(&key("address"), "value runs past address 65535".into());
            }
            if !r.scale.is_finite() || r.scale == 0.0 || !r.offset.is_finite() {
                return err(&key("scale"), "scale must be finite and non-zero, offset finite".into());
            }
        }
        Ok(())
    }

    fn point_id(&self, point: &str) -> Result<PointId, gridtrust_model::PointIdError> {
        PointId::new(format!("{}/{point}", self.logical_device))
    }

    /// The points this device accepts commands for: SunSpec model 123's writable controls when
    /// `sunspec = true` (refused at run time if the device turns out to lack model 123).
    pub fn operated_points(&self) -> Vec<PointId> {
        if !self.sunspec {
            return Vec::new();
        }
        let Some(controls) = sunspec::model_def(123) else { return Vec::new() };
        let ids = LnInstances::default().point_ids(&self.logical_device, controls).unwrap_or_default();
        controls.fields.iter().zip(ids).filter(|(f, _)| f.writable).filter_map(|(_, id)| id).collect()
    }
}

/// The data-model value of a SunSpec reading, by how its field is published; `None` for text
/// and for a number the point's integer type cannot hold (the SunSpec tables have none: their
/// statuses are enum16 and their bit strings bitfields).
fn sunspec_value(field: &Field, reading: &Reading) -> Option<Value> {
    let number = match *reading {
        Reading::Number(n) => n,
        Reading::Enum(e) => f64::from(e),
        Reading::Bits(b) => return Some(Value::Bitstring(b)),
        Reading::Text(_) | Reading::NotImplemented | Reading::BadScaleFactor(_) => return None,
    };
    Some(match field.repr {
        Repr::Analog => Value::Float(num::to_f32(number)),
        Repr::Status => Value::Scaled(num::whole(number).and_then(|n| i32::try_from(n).ok())?),
        Repr::Bits => Value::Bitstring(num::whole(number).and_then(|n| u32::try_from(n).ok())?),
        Repr::Flag => Value::Single(number != 0.0),
        Repr::Switch => Value::Double(match num::whole(number) {
            Some(0) => DoublePoint::Off,
            Some(1) => DoublePoint::On,
            _ => DoublePoint::Indeterminate,
        }),
    })
}

fn invalid() -> Quality {
    Quality::GOOD.with_validity(Validity::Invalid)
}

/// One SunSpec model as polled: where it is, its point ids and the last value published for
/// each, so a point that stops being implemented is reported invalid once rather than vanishing.
pub struct SunSpecBlock {
    pub location: ModelLocation,
    def: &'static sunspec::ModelDef,
    ids: Vec<Option<PointId>>,
    last: Vec<Option<Value>>,
}

impl SunSpecBlock {
    /// The block for a discovered model, or `None` when gridtrust does not parse that model.
    pub fn new(
        logical_device: &str,
        location: ModelLocation,
        instances: &mut LnInstances,
    ) -> Result<Option<Self>, gridtrust_model::PointIdError> {
        let Some(def) = sunspec::model_def(location.id) else { return Ok(None) };
        let ids = instances.point_ids(logical_device, def)?;
        let last = vec![None; ids.len()];
        Ok(Some(Self { location, def, ids, last }))
    }

    /// Parses the model's data registers and appends a datum per published point to `out`:
    /// good values, invalid ones for a bad scale factor, and one invalid datum when a point that
    /// had a value becomes "not implemented".
    pub fn publish(&mut self, data: &[u16], received_at: Timestamp, out: &mut Vec<Datum>) -> Result<(), ParseError> {
        let def = self.def;
        if data.len() < usize::from(def.length) {
            return Err(ParseError::TooShort { id: self.location.id, name: def.name, needed: def.length, got: data.len() });
        }
        for ((field, id), last) in def.fields.iter().zip(&self.ids).zip(&mut self.last) {
            let Some(id) = id else { continue };
            let reading = sunspec::read_field(field, data);
            let (value, quality) = match (sunspec_value(field, &reading), &reading) {
                (Some(v), _) => (v, Quality::GOOD),
                (None, Reading::BadScaleFactor(_)) => (last.unwrap_or(Value::Float(0.0)), invalid().with_inconsistent(true)),
                (None, _) => match last.take() {
                    Some(v) => (v, invalid()),
                    None => continue,
                },
            };
            if quality.is_good() {
                *last = Some(value);
            }
            out.push(Datum { point: id.clone(), value, quality, source_time: None, received_at });
        }
        Ok(())
    }

    fn last_values(&self) -> impl Iterator<Item = (&PointId, Value)> {
        self.ids.iter().zip(&self.last).filter_map(|(id, v)| Some((id.as_ref()?, (*v)?)))
    }
}

/// One explicitly mapped register point.
struct RegisterPoint {
    id: PointId,
    config: RegisterConfig,
    last: Option<Value>,
}

/// What one planned read returned.
enum Answer {
    Registers(Vec<u16>),
    Bits(Vec<bool>),
}

impl RegisterPoint {
    fn value(&self, answer: &Answer, block: &ReadBlock) -> Option<Value> {
        let span = self.config.span();
        match answer {
            Answer::Bits(bits) => block.slice(bits, &span)?.first().map(|&b| Value::Single(b)),
            Answer::Registers(regs) => {
                match decode(block.slice(regs, &span)?, self.config.data_type, self.config.order, self.config.bit).ok()? {
                    Decoded::Number(n) => Some(Value::Float(num::to_f32(n * self.config.scale + self.config.offset))),
                    Decoded::Bit(b) => Some(Value::Single(b)),
                    Decoded::Text(_) => None,
                }
            }
        }
    }
}

/// What the poll loop reads: every SunSpec model and explicit register as spans, and the plan.
struct Device {
    sunspec: Vec<SunSpecBlock>,
    registers: Vec<RegisterPoint>,
    plan: Vec<ReadBlock>,
    /// Writable model-123 points: id -> (field, data address of model 123).
    controls: HashMap<PointId, (&'static Field, u16)>,
}

enum Target {
    Model(usize),
    Register(usize),
}

impl Device {
    fn targets(&self) -> Vec<(Span, Target)> {
        let models = self
            .sunspec
            .iter()
            .enumerate()
            .map(|(i, b)| (Span { table: Table::Holding, address: b.location.address, count: b.location.length }, Target::Model(i)));
        let registers = self.registers.iter().enumerate().map(|(i, r)| (r.config.span(), Target::Register(i)));
        models.chain(registers).collect()
    }

    fn last_values(&self) -> Vec<(PointId, Value)> {
        let models = self.sunspec.iter().flat_map(|b| b.last_values().map(|(id, v)| (id.clone(), v)));
        models.chain(self.registers.iter().filter_map(|r| Some((r.id.clone(), r.last?)))).collect()
    }
}

/// Why a session with the device ended.
enum SessionEnd {
    /// The edge dropped its data receiver: stop for good.
    EdgeStopped,
    Failed(String),
}

/// Polls the device until the edge stops, reconnecting with backoff.
pub async fn run(config: ModbusDeviceConfig, mut io: AdapterIo) {
    let registers: Vec<RegisterPoint> = config
        .registers
        .iter()
        .filter_map(|r| match config.point_id(&r.point) {
            Ok(id) => Some(RegisterPoint { id, config: r.clone(), last: None }),
            Err(e) => {
                warn!(device = %config.name, point = %r.point, error = %e, "register point unusable; skipped");
                None
            }
        })
        .collect();
    for r in &registers {
        info!(device = %config.name, point = %r.id, table = ?r.config.table, address = r.config.address, unit = r.config.unit.as_deref().unwrap_or(""), "register mapped");
    }
    let mut device = Device { sunspec: Vec::new(), registers, plan: Vec::new(), controls: HashMap::new() };
    let mut backoff = INITIAL_BACKOFF;
    let max_backoff = Duration::from_millis(config.max_backoff_ms);
    let mut commands_open = true;
    loop {
        let mut healthy = false;
        match session(&config, &mut device, &mut io, &mut healthy, &mut commands_open).await {
            SessionEnd::EdgeStopped => return,
            SessionEnd::Failed(reason) => {
                if healthy {
                    backoff = INITIAL_BACKOFF;
                }
                warn!(device = %config.name, address = %config.address, %reason, retry_in = ?backoff, "Modbus device unavailable; its points are invalid until it answers");
                if !publish_invalid(&device, &io).await {
                    return;
                }
            }
        }
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = &mut pause => break,
                cmd = io.commands.recv(), if commands_open => match cmd {
                    Some(cmd) => cmd.refuse("Modbus device not reachable").await,
                    None => commands_open = false,
                },
            }
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

/// Publishes every point that has a value as invalid, keeping the value; false when the edge
/// has stopped. Points already reported invalid have no last value and stay quiet.
async fn publish_invalid(device: &Device, io: &AdapterIo) -> bool {
    let now = Timestamp::now();
    for (point, value) in device.last_values() {
        let datum = Datum { point, value, quality: gridtrust_adapter::lost_link_quality(), source_time: None, received_at: now };
        if io.data.send(datum).await.is_err() {
            return false;
        }
    }
    true
}

fn forget_last_values(device: &mut Device) {
    device.sunspec.iter_mut().for_each(|b| b.last.iter_mut().for_each(|v| *v = None));
    device.registers.iter_mut().for_each(|r| r.last = None);
}

async fn session(
    config: &ModbusDeviceConfig,
    device: &mut Device,
    io: &mut AdapterIo,
    healthy: &mut bool,
    commands_open: &mut bool,
) -> SessionEnd {
    let timeout = Duration::from_millis(config.timeout_ms);
    let mut client = match client::connect(&config.address, config.unit_id, timeout).await {
        Ok(c) => c,
        Err(e) => return SessionEnd::Failed(e.to_string()),
    };
    let discovered = if config.sunspec { discover(config, device, &mut client).await } else { Ok(()) };
    if let Err(reason) = discovered {
        return SessionEnd::Failed(reason);
    }
    let targets = device.targets();
    let spans: Vec<Span> = targets.iter().map(|(s, _)| *s).collect();
    device.plan = plan_reads(&spans, config.max_gap);
    if device.plan.iter().map(|b| b.spans.len()).sum::<usize>() < spans.len() {
        warn!(device = %config.name, "some models or registers cannot be read in one request (over 125 registers) and are skipped");
    }
    info!(device = %config.name, reads_per_poll = device.plan.len(), points = spans.len(), "polling");
    let mut tick = tokio::time::interval(Duration::from_millis(config.poll_period_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(end) = poll(config, device, &targets, &mut client, &mut out).await {
                    return end;
                }
                for datum in out.drain(..) {
                    if io.data.send(datum).await.is_err() {
                        return SessionEnd::EdgeStopped;
                    }
                }
                *healthy = true;
            }
            cmd = io.commands.recv(), if *commands_open => match cmd {
                Some(cmd) => {
                    if let Err(e) = execute(device, &mut client, &cmd).await {
                        return SessionEnd::Failed(format!("while executing a command: {e}"));
                    }
                }
                None => *commands_open = false,
            },
        }
    }
}

/// Walks the SunSpec chain and sets up a block per known model and the controls of model 123.
async fn discover(config: &ModbusDeviceConfig, device: &mut Device, client: &mut Client<TcpStream>) -> Result<(), String> {
    let mut discovery = Discovery::new();
    while let Some((address, count)) = discovery.next_read() {
        match client.read_registers(Table::Holding, address, count).await {
            Ok(regs) => discovery.on_registers(&regs),
            Err(e) if e.breaks_connection() => return Err(format!("SunSpec discovery: {e}")),
            Err(e) => discovery.on_failure(&e.to_string()),
        }
    }
    let (base, models) = match discovery.result() {
        Some(Ok((base, models))) => (base, models.to_vec()),
        Some(Err(e)) => return Err(format!("SunSpec discovery: {e}")),
        None => return Err("SunSpec discovery ended without a result".into()),
    };
    let mut instances = LnInstances::default();
    let mut blocks = Vec::new();
    let mut controls = HashMap::new();
    for location in &models {
        match SunSpecBlock::new(&config.logical_device, *location, &mut instances) {
            Ok(Some(block)) if location.length >= block.def.length => {
                if location.id == 123 {
                    for (field, id) in block.def.fields.iter().zip(&block.ids) {
                        if let (true, Some(id)) = (field.writable, id) {
                            controls.insert(id.clone(), (field, location.address));
                        }
                    }
                }
                if location.id == 1 {
                    log_identity(config, client, location).await;
                } else {
                    blocks.push(block);
                }
            }
            Ok(Some(_)) => {
                warn!(device = %config.name, model = location.id, length = location.length, "model shorter than its specification; skipped")
            }
            Ok(None) => info!(device = %config.name, model = location.id, "SunSpec model not parsed by gridtrust; skipped"),
            Err(e) => return Err(format!("point id for model {}: {e}", location.id)),
        }
    }
    let ids: Vec<u16> = models.iter().map(|m| m.id).collect();
    info!(device = %config.name, base, models = ?ids, "SunSpec device discovered");
    // A rediscovered device keeps its last values only if the chain is the same.
    if device.sunspec.iter().map(|b| b.location).ne(blocks.iter().map(|b| b.location)) {
        forget_last_values(device);
        device.sunspec = blocks;
    }
    device.controls = controls;
    Ok(())
}

async fn log_identity(config: &ModbusDeviceConfig, client: &mut Client<TcpStream>, location: &ModelLocation) {
    let Ok(regs) = client.read_registers(Table::Holding, location.address, location.length.min(125)).await else { return };
    if let Ok(common) = sunspec::parse_model(1, &regs) {
        let text = |name| match common.get(name) {
            Some(Reading::Text(t)) => t.clone(),
            _ => String::new(),
        };
        info!(device = %config.name, manufacturer = %text("Mn"), model = %text("Md"), version = %text("Vr"), serial = %text("SN"), "SunSpec common model");
    }
}

/// Reads every block of the plan and turns the answers into data; a refused block (exception)
/// makes its points invalid, a broken connection ends the session.
async fn poll(
    config: &ModbusDeviceConfig,
    device: &mut Device,
    targets: &[(Span, Target)],
    client: &mut Client<TcpStream>,
    out: &mut Vec<Datum>,
) -> Result<(), SessionEnd> {
    for block in device.plan.clone() {
        let answer = if block.table.is_bits() {
            client.read_bits(block.table, block.address, block.count).await.map(Answer::Bits)
        } else {
            client.read_registers(block.table, block.address, block.count).await.map(Answer::Registers)
        };
        let received_at = Timestamp::now();
        let answer = match answer {
            Ok(a) => a,
            Err(e) if e.breaks_connection() => return Err(SessionEnd::Failed(e.to_string())),
            Err(e) => {
                warn!(device = %config.name, table = ?block.table, address = block.address, count = block.count, error = %e, "read refused; its points are invalid");
                for (_, target) in block.spans.iter().filter_map(|&i| targets.get(i)) {
                    invalidate_target(device, target, received_at, out);
                }
                continue;
            }
        };
        for (span, target) in block.spans.iter().filter_map(|&i| targets.get(i)) {
            match target {
                Target::Model(m) => {
                    let Some(model) = device.sunspec.get_mut(*m) else { continue };
                    let data = match &answer {
                        Answer::Registers(regs) => block.slice(regs, span),
                        Answer::Bits(_) => None,
                    };
                    if let Err(e) = data.map_or(Err(ParseError::UnknownModel(model.location.id)), |d| model.publish(d, received_at, out)) {
                        warn!(device = %config.name, error = %e, "SunSpec model unreadable");
                    }
                }
                Target::Register(r) => {
                    let Some(point) = device.registers.get_mut(*r) else { continue };
                    match point.value(&answer, &block) {
                        Some(value) => {
                            point.last = Some(value);
                            out.push(Datum { point: point.id.clone(), value, quality: Quality::GOOD, source_time: None, received_at });
                        }
                        None => warn!(device = %config.name, point = %point.id, "register answer too short"),
                    }
                }
            }
        }
    }
    Ok(())
}

fn invalidate_target(device: &mut Device, target: &Target, received_at: Timestamp, out: &mut Vec<Datum>) {
    let quality = invalid();
    match target {
        Target::Model(m) => {
            if let Some(b) = device.sunspec.get_mut(*m) {
                for (id, last) in b.ids.iter().zip(&mut b.last) {
                    if let (Some(id), Some(value)) = (id, last.take()) {
                        out.push(Datum { point: id.clone(), value, quality, source_time: None, received_at });
                    }
                }
            }
        }
        Target::Register(r) => {
            if let Some((point, value)) = device.registers.get_mut(*r).and_then(|p| Some((p.id.clone(), p.last.take()?))) {
                out.push(Datum { point, value, quality, source_time: None, received_at });
            }
        }
    }
}

/// Why a command value cannot be written to a control.
fn command_number(field: &Field, value: &CommandValue) -> Result<f64, String> {
    let wrong = || Err(format!("{:?} does not fit {} ({:?})", value, field.name, field.repr));
    match (field.repr, *value) {
        (Repr::Switch | Repr::Flag, CommandValue::Single(on)) => Ok(f64::from(u8::from(on))),
        (Repr::Switch, CommandValue::Double(DoublePoint::On)) => Ok(1.0),
        (Repr::Switch, CommandValue::Double(DoublePoint::Off)) => Ok(0.0),
        (Repr::Analog | Repr::Status, CommandValue::SetpointFloat(f)) if f.is_finite() => Ok(f64::from(f)),
        (Repr::Analog | Repr::Status, CommandValue::SetpointScaled(s)) => Ok(f64::from(s)),
        _ => wrong(),
    }
}

/// The register value for `number` given the control's scale factor register `sf`.
fn raw_setpoint(field: &Field, number: f64, sf: Option<u16>) -> Result<u16, String> {
    let factor = match sf {
        Some(raw) => sunspec::scale_factor(raw).map_err(|r| format!("scale factor of {} unusable ({r:?})", field.name))?,
        None => 1.0,
    };
    let scaled = (number / factor).round();
    // 0x8000 (i16) and 0xFFFF (u16, enum16) are SunSpec's "not implemented", never a set point.
    let raw = match (field.kind, num::whole(scaled)) {
        (sunspec::Kind::I16, Some(n)) => i16::try_from(n).ok().filter(|&v| v != i16::MIN).map(|v| u16::from_be_bytes(v.to_be_bytes())),
        (sunspec::Kind::U16 | sunspec::Kind::Enum16, Some(n)) => u16::try_from(n).ok().filter(|&v| v != u16::MAX),
        _ => None,
    };
    raw.ok_or_else(|| format!("{number} is out of range for {} (register value {scaled})", field.name))
}

/// Executes one verified command; Err only when the connection broke (the session ends).
async fn execute(device: &Device, client: &mut Client<TcpStream>, cmd: &DeviceCommand) -> Result<(), ClientError> {
    let c = &cmd.command;
    let Some(&(field, model_address)) = device.controls.get(&c.point) else {
        cmd.refuse("not a control of this Modbus device (needs SunSpec model 123)").await;
        return Ok(());
    };
    let number = match command_number(field, &c.value) {
        Ok(n) => n,
        Err(reason) => {
            cmd.refuse(&reason).await;
            return Ok(());
        }
    };
    if c.action != CommandAction::Execute {
        // Modbus has no select-before-operate: select and cancel reserve nothing on the device.
        cmd.report(CommandOutcome::Confirmed).await;
        return Ok(());
    }
    let device_refused = |reason: String| CommandOutcome::Refused { by: "device".into(), reason };
    let sf = match field.sf {
        Some(offset) => match client.read_registers(Table::Holding, model_address + offset, 1).await {
            Ok(r) => r.first().copied(),
            Err(e) if e.breaks_connection() => {
                cmd.report(device_refused(e.to_string())).await;
                return Err(e);
            }
            Err(e) => {
                cmd.report(device_refused(format!("reading the scale factor: {e}"))).await;
                return Ok(());
            }
        },
        None => None,
    };
    let raw = match raw_setpoint(field, number, sf) {
        Ok(raw) => raw,
        Err(reason) => {
            cmd.refuse(&reason).await;
            return Ok(());
        }
    };
    let address = model_address + field.offset;
    match client.write_register(address, raw).await {
        Ok(()) => {}
        Err(e) => {
            info!(command_id = c.id, point = %c.point, error = %e, "device refused the write");
            cmd.report(device_refused(e.to_string())).await;
            return if e.breaks_connection() { Err(e) } else { Ok(()) };
        }
    }
    cmd.report(CommandOutcome::Confirmed).await;
    match client.read_registers(Table::Holding, address, 1).await {
        Ok(r) if r.first() == Some(&raw) => {
            info!(command_id = c.id, point = %c.point, raw, "set point written and read back");
            cmd.report(CommandOutcome::Terminated).await;
            Ok(())
        }
        Ok(r) => {
            cmd.report(device_refused(format!("read back {:?} after writing {raw}", r.first()))).await;
            Ok(())
        }
        Err(e) => {
            cmd.report(device_refused(format!("read-back failed: {e}"))).await;
            if e.breaks_connection() { Err(e) } else { Ok(()) }
        }
    }
}

impl gridtrust_adapter::DeviceConfig for ModbusDeviceConfig {
    const TABLE: &'static str = "modbus";
    fn name(&self) -> &str {
        &self.name
    }
    fn validate(&self) -> Result<(), (String, String)> {
        ModbusDeviceConfig::validate(self)
    }
    fn operated_points(&self) -> Vec<PointId> {
        ModbusDeviceConfig::operated_points(self)
    }
    fn run(self, io: AdapterIo) -> gridtrust_adapter::AdapterTask {
        Box::pin(run(self, io))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<ModbusDeviceConfig, toml::de::Error> {
        toml::from_str(&format!("name = \"pv\"\naddress = \"127.0.0.1:502\"\nlogical_device = \"PV1\"\n{extra}"))
    }

    #[test]
    fn a_full_configuration_parses_and_validates() {
        let c = config(
            r#"unit_id = 3
poll_period_ms = 500
timeout_ms = 300
sunspec = true
[[register]]
point = "MMXU1.TotW.mag.f"
address = 100
type = "f32"
order = "cdab"
scale = 0.001
unit = "kW"
[[register]]
point = "XCBR1.Pos.stVal"
table = "coil"
address = 7
type = "bit"
"#,
        )
        .unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.registers[0].order, Order::Cdab);
        let ops: Vec<String> = c.operated_points().iter().map(ToString::to_string).collect();
        assert!(ops.contains(&"PV1/DRCC1.WMaxLimPct".to_string()) && ops.contains(&"PV1/CSWI1.Pos".to_string()), "{ops:?}");
        assert_eq!(ops.len(), 10);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(config("typo = 1").unwrap_err().to_string().contains("typo"));
        let key = |extra: &str| config(extra).unwrap().validate().unwrap_err().0;
        assert_eq!(key(""), "register");
        assert_eq!(key("sunspec = true\npoll_period_ms = 1"), "poll_period_ms");
        assert_eq!(key("sunspec = true\ntimeout_ms = 0"), "timeout_ms");
        assert_eq!(key("[[register]]\npoint = \"bad\"\naddress = 1"), "register[0].point");
        assert_eq!(key("[[register]]\npoint = \"X1.A\"\naddress = 1\n[[register]]\npoint = \"X1.A\"\naddress = 2"), "register[1].point");
        assert_eq!(key("[[register]]\npoint = \"X1.A\"\naddress = 1\ntable = \"coil\""), "register[0].type");
        assert_eq!(key("[[register]]\npoint = \"X1.A\"\naddress = 65535\ntype = \"u32\""), "register[0].address");
        assert_eq!(key("[[register]]\npoint = \"X1.A\"\naddress = 1\ntype = \"bit\"\nbit = 16"), "register[0].bit");
        assert_eq!(key("[[register]]\npoint = \"X1.A\"\naddress = 1\ntype = \"string\""), "register[0].type");
        let mut c = config("sunspec = true").unwrap();
        c.address = "nohost".into();
        assert_eq!(c.validate().unwrap_err().0, "address");
        c.address = "h:1".into();
        c.logical_device = "PV.1".into();
        assert_eq!(c.validate().unwrap_err().0, "logical_device");
    }

    #[test]
    fn setpoints_scale_and_refuse_what_does_not_fit() {
        let controls = sunspec::model_def(123).unwrap();
        let pct = controls.field("WMaxLimPct").unwrap();
        let n = command_number(pct, &CommandValue::SetpointFloat(40.0)).unwrap();
        assert_eq!(raw_setpoint(pct, n, Some((-1i16) as u16)), Ok(400));
        assert!(raw_setpoint(pct, -5.0, Some(0)).is_err());
        assert!(raw_setpoint(pct, 5.0, Some(0x8000)).is_err());
        let var = controls.field("VArWMaxPct").unwrap();
        assert_eq!(raw_setpoint(var, -12.5, Some((-1i16) as u16)), Ok((-125i16) as u16));
        let conn = controls.field("Conn").unwrap();
        assert_eq!(command_number(conn, &CommandValue::Double(DoublePoint::Off)), Ok(0.0));
        assert!(command_number(conn, &CommandValue::SetpointFloat(1.0)).is_err());
        assert!(command_number(pct, &CommandValue::Single(true)).is_err());
    }
}
