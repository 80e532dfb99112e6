//! Configuration frames: CFG-1 (what a PMU can send), CFG-2 (what it sends) and CFG-3 (CFG-2
//! with variable-length names, float scaling, location and filter facts; C37.118.2-2011). A data
//! frame can only be read with the configuration that describes it.

use crate::frame::{DecodeError, EncodeError, FrameTime, FrameType, RawFrame, Reader, VERSION_2011, encode_frame};
use gridtrust_model::num;

/// Which configuration frame this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigKind {
    Cfg1,
    Cfg2,
    Cfg3,
}

impl ConfigKind {
    /// The frame type that carries this configuration.
    pub const fn frame_type(self) -> FrameType {
        match self {
            Self::Cfg1 => FrameType::Config1,
            Self::Cfg2 => FrameType::Config2,
            Self::Cfg3 => FrameType::Config3,
        }
    }
}

/// A decoded configuration frame: the stream and, per PMU, what its data blocks contain.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigFrame {
    pub kind: ConfigKind,
    /// SYNC version nibble: 1 for C37.118-2005, 2 for C37.118.2-2011 (CFG-3 is always 2011).
    pub version: u8,
    /// The stream's IDCODE (a PDC's own when it aggregates several PMUs).
    pub idcode: u16,
    pub time: FrameTime,
    /// Subdivisions of a second that FRACSEC counts (24 bits; never 0 once decoded).
    pub time_base: u32,
    /// Frames per second when positive, seconds per frame when negative.
    pub data_rate: i16,
    /// One entry per PMU in the stream, in the order their blocks appear in data frames.
    pub stations: Vec<StationConfig>,
}

/// FORMAT: how a PMU's data block encodes its values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DataFormat {
    /// Phasors as magnitude and angle (otherwise real and imaginary).
    pub polar: bool,
    pub phasors_float: bool,
    pub analogs_float: bool,
    /// FREQ and DFREQ as floats (otherwise 16-bit deviation in mHz and ROCOF × 100).
    pub frequency_float: bool,
}

impl DataFormat {
    /// Reads the FORMAT word; bits 15–4 are unused.
    pub const fn from_word(w: u16) -> Self {
        Self { polar: w & 1 != 0, phasors_float: w & 2 != 0, analogs_float: w & 4 != 0, frequency_float: w & 8 != 0 }
    }

    /// The FORMAT word on the wire.
    pub const fn to_word(self) -> u16 {
        (self.polar as u16) | (self.phasors_float as u16) << 1 | (self.analogs_float as u16) << 2 | (self.frequency_float as u16) << 3
    }
}

/// Whether a phasor measures voltage or current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhasorKind {
    Voltage,
    Current,
}

/// How to turn a phasor's integer value into volts or amperes, as the configuration said it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PhasorUnit {
    /// CFG-1/2 PHUNIT: an unsigned 24-bit factor in 10⁻⁵ V or A per bit.
    Factor { kind: PhasorKind, factor: u32 },
    /// CFG-3 PHSCALE: modification flags, phasor type, a float magnitude scale and an angle
    /// offset in radians.
    Scale {
        /// Bit-mapped data modification flags (0 = unmodified).
        modification: u16,
        kind: PhasorKind,
        /// 0 zero, 1 positive, 2 negative sequence; 4, 5, 6 phase A, B, C.
        component: u8,
        user_designation: u8,
        magnitude: f32,
        angle_offset: f32,
    },
}

/// One phasor channel.
#[derive(Clone, Debug, PartialEq)]
pub struct PhasorChannel {
    pub name: String,
    pub unit: PhasorUnit,
}

impl PhasorChannel {
    /// Voltage or current.
    pub fn kind(&self) -> PhasorKind {
        match self.unit {
            PhasorUnit::Factor { kind, .. } | PhasorUnit::Scale { kind, .. } => kind,
        }
    }

    /// Multiplier from integer phasor counts to volts or amperes.
    pub fn magnitude_scale(&self) -> f32 {
        match self.unit {
            // A 24-bit integer is exact in f64; the product is then rounded once.
            PhasorUnit::Factor { factor, .. } => num::to_f32(f64::from(factor) * 1e-5),
            PhasorUnit::Scale { magnitude, .. } => magnitude,
        }
    }

    /// Radians to add to integer phasor angles.
    pub fn angle_offset(&self) -> f32 {
        match self.unit {
            PhasorUnit::Factor { .. } => 0.0,
            PhasorUnit::Scale { angle_offset, .. } => angle_offset,
        }
    }
}

/// How to turn an analog channel's integer value into its unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnalogUnit {
    /// CFG-1/2 ANUNIT: the type (0 point-on-wave, 1 RMS, 2 peak, ≥65 user) and a signed 24-bit
    /// user-defined factor, applied as a multiplier (0 means "unscaled").
    Factor { kind: u8, factor: i32 },
    /// CFG-3 ANSCALE: value = raw × scale + offset.
    Scale { scale: f32, offset: f32 },
}

/// One analog channel.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalogChannel {
    pub name: String,
    pub unit: AnalogUnit,
}

impl AnalogChannel {
    /// Converts a 16-bit integer analog value to its unit.
    pub fn scale_integer(&self, raw: i16) -> f32 {
        match self.unit {
            AnalogUnit::Factor { factor: 0, .. } => f32::from(raw),
            AnalogUnit::Factor { factor, .. } => num::to_f32(f64::from(raw) * f64::from(factor)),
            AnalogUnit::Scale { scale, offset } => f32::from(raw) * scale + offset,
        }
    }
}

/// One 16-bit digital status word: a name per bit (bit 0 first) and its DIGUNIT masks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitalWord {
    pub names: Vec<String>,
    /// Bits in their normal state XOR to 0 with this mask.
    pub normal: u16,
    /// Bits that carry a valid input.
    pub valid: u16,
}

/// CFG-3 facts about a PMU that CFG-1/2 do not carry.
#[derive(Clone, Debug, PartialEq)]
pub struct StationExtras {
    pub global_pmu_id: [u8; 16],
    /// Degrees, WGS 84; infinity when unspecified.
    pub latitude: f32,
    pub longitude: f32,
    /// Metres above mean sea level.
    pub elevation: f32,
    /// C37.118.1 service class, `M` or `P`.
    pub service_class: u8,
    /// Measurement window, microseconds.
    pub window_us: i32,
    /// Group delay, microseconds.
    pub group_delay_us: i32,
}

/// One PMU's block of a configuration frame.
#[derive(Clone, Debug, PartialEq)]
pub struct StationConfig {
    /// STN, with CFG-1/2 padding removed.
    pub name: String,
    pub idcode: u16,
    pub format: DataFormat,
    pub phasors: Vec<PhasorChannel>,
    pub analogs: Vec<AnalogChannel>,
    pub digitals: Vec<DigitalWord>,
    /// 50 or 60 Hz (FNOM).
    pub nominal_hz: u8,
    /// CFGCNT: bumped by the PMU on every configuration change.
    pub cfgcnt: u16,
    /// Present in CFG-3 only.
    pub extras: Option<StationExtras>,
}

impl StationConfig {
    /// Bytes this PMU's block takes in a data frame: STAT, phasors, FREQ, DFREQ, analogs,
    /// digitals.
    pub fn data_block_len(&self) -> usize {
        let f = self.format;
        let phasor = if f.phasors_float { 8 } else { 4 };
        let freq = if f.frequency_float { 8 } else { 4 };
        let analog = if f.analogs_float { 4 } else { 2 };
        2 + self.phasors.len() * phasor + freq + self.analogs.len() * analog + self.digitals.len() * 2
    }
}

impl ConfigFrame {
    /// Bytes of a data frame's body under this configuration.
    pub fn data_body_len(&self) -> usize {
        self.stations.iter().map(StationConfig::data_block_len).sum()
    }

    /// Decodes a CFG-1, CFG-2 or CFG-3 frame.
    pub fn decode(raw: &RawFrame<'_>) -> Result<Self, DecodeError> {
        let kind = match raw.header.frame_type {
            FrameType::Config1 => ConfigKind::Cfg1,
            FrameType::Config2 => ConfigKind::Cfg2,
            FrameType::Config3 => ConfigKind::Cfg3,
            got => return Err(DecodeError::WrongFrameType { expected: "configuration", got }),
        };
        let mut r = Reader::body(raw);
        if kind == ConfigKind::Cfg3 {
            let cont_idx = r.u16("CONT_IDX")?;
            if cont_idx != 0 {
                return Err(DecodeError::Cfg3Continuation { cont_idx });
            }
        }
        let time_base = r.u32("TIME_BASE")? & 0x00ff_ffff;
        if time_base == 0 {
            return Err(DecodeError::ZeroTimeBase);
        }
        let num_pmu = r.u16("NUM_PMU")?;
        // Each block needs well over 16 bytes, so the remaining length bounds the allocation.
        let mut stations = Vec::with_capacity(usize::from(num_pmu).min(r.remaining() / 16));
        for _ in 0..num_pmu {
            stations.push(match kind {
                ConfigKind::Cfg3 => decode_station_cfg3(&mut r)?,
                _ => decode_station_cfg12(&mut r)?,
            });
        }
        let data_rate = r.i16("DATA_RATE")?;
        r.finish("DATA_RATE")?;
        Ok(Self { kind, version: raw.header.version, idcode: raw.header.idcode, time: raw.header.time, time_base, data_rate, stations })
    }

    /// Appends this configuration as a frame of its [`ConfigKind`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let version = if self.kind == ConfigKind::Cfg3 { VERSION_2011 } else { self.version };
        encode_frame(out, self.kind.frame_type(), version, self.idcode, self.time, |b| {
            if self.kind == ConfigKind::Cfg3 {
                b.extend_from_slice(&0u16.to_be_bytes());
            }
            b.extend_from_slice(&(self.time_base & 0x00ff_ffff).to_be_bytes());
            b.extend_from_slice(&count16("NUM_PMU", self.stations.len())?.to_be_bytes());
            for s in &self.stations {
                match self.kind {
                    ConfigKind::Cfg3 => encode_station_cfg3(s, b)?,
                    _ => encode_station_cfg12(s, b)?,
                }
            }
            b.extend_from_slice(&self.data_rate.to_be_bytes());
            Ok(())
        })
    }

    /// The same configuration as another kind (a PMU answers CFG-1, CFG-2 and CFG-3 requests
    /// from one description).
    pub fn as_kind(&self, kind: ConfigKind) -> Self {
        Self { kind, ..self.clone() }
    }
}

fn count16(what: &'static str, count: usize) -> Result<u16, EncodeError> {
    u16::try_from(count).map_err(|_| EncodeError::TooMany { what, count })
}

/// CFG-1/2 names: 16 bytes, ASCII, padded with spaces or NULs.
fn fixed_name(r: &mut Reader<'_>, field: &'static str) -> Result<String, DecodeError> {
    let raw = r.bytes(16, field)?;
    let text = String::from_utf8_lossy(raw);
    Ok(text.trim_end_matches(['\0', ' ']).to_owned())
}

/// CFG-3 names: a length byte, then that many UTF-8 bytes.
fn counted_name(r: &mut Reader<'_>, field: &'static str) -> Result<String, DecodeError> {
    let len = r.u8(field)?;
    Ok(String::from_utf8_lossy(r.bytes(usize::from(len), field)?).into_owned())
}

struct Counts {
    phasors: u16,
    analogs: u16,
    digitals: u16,
}

fn counts(r: &mut Reader<'_>) -> Result<Counts, DecodeError> {
    Ok(Counts { phasors: r.u16("PHNMR")?, analogs: r.u16("ANNMR")?, digitals: r.u16("DGNMR")? })
}

/// Channel names: phasors, analogs, and 16 per digital word.
type ChannelNames = (Vec<String>, Vec<String>, Vec<Vec<String>>);

/// Reads the channel names of every phasor, analog and digital bit with `name`.
fn names(
    r: &mut Reader<'_>,
    c: &Counts,
    name: fn(&mut Reader<'_>, &'static str) -> Result<String, DecodeError>,
) -> Result<ChannelNames, DecodeError> {
    let remaining = r.remaining();
    let cap = |n: u16| usize::from(n).min(remaining);
    let mut phasors = Vec::with_capacity(cap(c.phasors));
    for _ in 0..c.phasors {
        phasors.push(name(r, "CHNAM (phasor)")?);
    }
    let mut analogs = Vec::with_capacity(cap(c.analogs));
    for _ in 0..c.analogs {
        analogs.push(name(r, "CHNAM (analog)")?);
    }
    let mut digitals = Vec::with_capacity(cap(c.digitals));
    for _ in 0..c.digitals {
        let mut bits = Vec::with_capacity(16);
        for _ in 0..16 {
            bits.push(name(r, "CHNAM (digital)")?);
        }
        digitals.push(bits);
    }
    Ok((phasors, analogs, digitals))
}

fn kind_of(current: bool) -> PhasorKind {
    if current { PhasorKind::Current } else { PhasorKind::Voltage }
}

fn digital_words(r: &mut Reader<'_>, names: Vec<Vec<String>>) -> Result<Vec<DigitalWord>, DecodeError> {
    names.into_iter().map(|names| Ok(DigitalWord { names, normal: r.u16("DIGUNIT")?, valid: r.u16("DIGUNIT")? })).collect()
}

fn nominal(r: &mut Reader<'_>) -> Result<u8, DecodeError> {
    Ok(if r.u16("FNOM")? & 1 == 1 { 50 } else { 60 })
}

fn decode_station_cfg12(r: &mut Reader<'_>) -> Result<StationConfig, DecodeError> {
    let name = fixed_name(r, "STN")?;
    let idcode = r.u16("IDCODE (PMU)")?;
    let format = DataFormat::from_word(r.u16("FORMAT")?);
    let c = counts(r)?;
    let (phasor_names, analog_names, digital_names) = names(r, &c, fixed_name)?;
    let phasors = phasor_names
        .into_iter()
        .map(|name| {
            let w = r.u32("PHUNIT")?;
            Ok(PhasorChannel { name, unit: PhasorUnit::Factor { kind: kind_of(w >> 24 != 0), factor: w & 0x00ff_ffff } })
        })
        .collect::<Result<_, DecodeError>>()?;
    let analogs = analog_names
        .into_iter()
        .map(|name| {
            let w = r.u32("ANUNIT")?;
            // Sign-extend the low 24 bits.
            let factor = ((w << 8) as i32) >> 8;
            Ok(AnalogChannel { name, unit: AnalogUnit::Factor { kind: (w >> 24) as u8, factor } })
        })
        .collect::<Result<_, DecodeError>>()?;
    let digitals = digital_words(r, digital_names)?;
    let nominal_hz = nominal(r)?;
    let cfgcnt = r.u16("CFGCNT")?;
    Ok(StationConfig { name, idcode, format, phasors, analogs, digitals, nominal_hz, cfgcnt, extras: None })
}

fn decode_station_cfg3(r: &mut Reader<'_>) -> Result<StationConfig, DecodeError> {
    let name = counted_name(r, "STN")?;
    let idcode = r.u16("IDCODE (PMU)")?;
    let global_pmu_id = r.array::<16>("G_PMU_ID")?;
    let format = DataFormat::from_word(r.u16("FORMAT")?);
    let c = counts(r)?;
    let (phasor_names, analog_names, digital_names) = names(r, &c, counted_name)?;
    let phasors = phasor_names
        .into_iter()
        .map(|name| {
            let modification = r.u16("PHSCALE flags")?;
            let type_byte = r.u8("PHSCALE type")?;
            let user_designation = r.u8("PHSCALE user")?;
            let magnitude = r.f32("PHSCALE magnitude")?;
            let angle_offset = r.f32("PHSCALE angle")?;
            let unit = PhasorUnit::Scale {
                modification,
                kind: kind_of(type_byte & 0x08 != 0),
                component: type_byte & 0x07,
                user_designation,
                magnitude,
                angle_offset,
            };
            Ok(PhasorChannel { name, unit })
        })
        .collect::<Result<_, DecodeError>>()?;
    let analogs = analog_names
        .into_iter()
        .map(|name| Ok(AnalogChannel { name, unit: AnalogUnit::Scale { scale: r.f32("ANSCALE")?, offset: r.f32("ANSCALE")? } }))
        .collect::<Result<_, DecodeError>>()?;
    let digitals = digital_words(r, digital_names)?;
    let latitude = r.f32("PMU_LAT")?;
    let longitude = r.f32("PMU_LON")?;
    let elevation = r.f32("PMU_ELEV")?;
    let service_class = r.u8("SVC_CLASS")?;
    let window_us = r.i32("WINDOW")?;
    let group_delay_us = r.i32("GRP_DLY")?;
    let nominal_hz = nominal(r)?;
    let cfgcnt = r.u16("CFGCNT")?;
    let extras = StationExtras { global_pmu_id, latitude, longitude, elevation, service_class, window_us, group_delay_us };
    Ok(StationConfig { name, idcode, format, phasors, analogs, digitals, nominal_hz, cfgcnt, extras: Some(extras) })
}

fn put_fixed_name(b: &mut Vec<u8>, what: &'static str, name: &str) -> Result<(), EncodeError> {
    if name.len() > 16 {
        return Err(EncodeError::NameTooLong { what, name: name.to_owned(), max: 16 });
    }
    b.extend_from_slice(name.as_bytes());
    b.resize(b.len() + 16 - name.len(), b' ');
    Ok(())
}

fn put_counted_name(b: &mut Vec<u8>, what: &'static str, name: &str) -> Result<(), EncodeError> {
    let len = u8::try_from(name.len()).map_err(|_| EncodeError::NameTooLong { what, name: name.to_owned(), max: 255 })?;
    b.push(len);
    b.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_counts_and_names(
    s: &StationConfig,
    b: &mut Vec<u8>,
    put_name: fn(&mut Vec<u8>, &'static str, &str) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    b.extend_from_slice(&s.format.to_word().to_be_bytes());
    b.extend_from_slice(&count16("PHNMR", s.phasors.len())?.to_be_bytes());
    b.extend_from_slice(&count16("ANNMR", s.analogs.len())?.to_be_bytes());
    b.extend_from_slice(&count16("DGNMR", s.digitals.len())?.to_be_bytes());
    for p in &s.phasors {
        put_name(b, "phasor name", &p.name)?;
    }
    for a in &s.analogs {
        put_name(b, "analog name", &a.name)?;
    }
    for d in &s.digitals {
        for i in 0..16 {
            put_name(b, "digital name", d.names.get(i).map_or("", String::as_str))?;
        }
    }
    Ok(())
}

fn put_tail(s: &StationConfig, b: &mut Vec<u8>) {
    b.extend_from_slice(&u16::from(s.nominal_hz == 50).to_be_bytes());
    b.extend_from_slice(&s.cfgcnt.to_be_bytes());
}

fn put_digunits(s: &StationConfig, b: &mut Vec<u8>) {
    for d in &s.digitals {
        b.extend_from_slice(&d.normal.to_be_bytes());
        b.extend_from_slice(&d.valid.to_be_bytes());
    }
}

fn encode_station_cfg12(s: &StationConfig, b: &mut Vec<u8>) -> Result<(), EncodeError> {
    put_fixed_name(b, "station name", &s.name)?;
    b.extend_from_slice(&s.idcode.to_be_bytes());
    put_counts_and_names(s, b, put_fixed_name)?;
    for p in &s.phasors {
        let factor = match p.unit {
            PhasorUnit::Factor { factor, .. } => factor & 0x00ff_ffff,
            // Nearest 10⁻⁵ step of the float scale, clamped to the 24-bit field; NaN writes 0.
            PhasorUnit::Scale { magnitude, .. } => {
                num::whole((f64::from(magnitude) * 1e5).round().clamp(0.0, 16_777_215.0)).and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
            }
        };
        b.extend_from_slice(&(u32::from(p.kind() == PhasorKind::Current) << 24 | factor).to_be_bytes());
    }
    for a in &s.analogs {
        let (kind, factor) = match a.unit {
            AnalogUnit::Factor { kind, factor } => (kind, factor),
            // Clamped to the signed 24-bit field; NaN writes 0.
            AnalogUnit::Scale { scale, .. } => {
                (1, num::whole(f64::from(scale.round().clamp(-8_388_608.0, 8_388_607.0))).and_then(|n| i32::try_from(n).ok()).unwrap_or(0))
            }
        };
        b.extend_from_slice(&(u32::from(kind) << 24 | (factor as u32 & 0x00ff_ffff)).to_be_bytes());
    }
    put_digunits(s, b);
    put_tail(s, b);
    Ok(())
}

fn encode_station_cfg3(s: &StationConfig, b: &mut Vec<u8>) -> Result<(), EncodeError> {
    put_counted_name(b, "station name", &s.name)?;
    b.extend_from_slice(&s.idcode.to_be_bytes());
    let extras = s.extras.clone().unwrap_or(StationExtras {
        global_pmu_id: [0; 16],
        latitude: f32::INFINITY,
        longitude: f32::INFINITY,
        elevation: f32::INFINITY,
        service_class: b'M',
        window_us: 0,
        group_delay_us: 0,
    });
    b.extend_from_slice(&extras.global_pmu_id);
    put_counts_and_names(s, b, put_counted_name)?;
    for p in &s.phasors {
        let (modification, component, user) = match p.unit {
            PhasorUnit::Scale { modification, component, user_designation, .. } => (modification, component, user_designation),
            PhasorUnit::Factor { .. } => (0, 0, 0),
        };
        b.extend_from_slice(&modification.to_be_bytes());
        b.push(u8::from(p.kind() == PhasorKind::Current) << 3 | (component & 0x07));
        b.push(user);
        b.extend_from_slice(&p.magnitude_scale().to_be_bytes());
        b.extend_from_slice(&p.angle_offset().to_be_bytes());
    }
    for a in &s.analogs {
        let (scale, offset) = match a.unit {
            AnalogUnit::Scale { scale, offset } => (scale, offset),
            AnalogUnit::Factor { factor: 0, .. } => (1.0, 0.0),
            AnalogUnit::Factor { factor, .. } => (factor as f32, 0.0),
        };
        b.extend_from_slice(&scale.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
    }
    put_digunits(s, b);
    for v in [extras.latitude, extras.longitude, extras.elevation] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.push(extras.service_class);
    b.extend_from_slice(&extras.window_us.to_be_bytes());
    b.extend_from_slice(&extras.group_delay_us.to_be_bytes());
    put_tail(s, b);
    Ok(())
}
