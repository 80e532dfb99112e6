//! `gridtrust probe`: the commissioning tool an integrator runs on site before any configuration
//! exists. It connects to a live device, shows what the device offers, and returns the edge
//! configuration that reads it (the device's table for `edge.toml`, plus the IEC 104 mapping
//! file or the IED's SCL file it names), ready to be edited and merged.
//!
//! - [`iec104`]: a station interrogation, dumped with type, common address, IOA, value and quality.
//! - [`mms`]: the IED's logical devices, nodes, data objects, data sets and report control blocks,
//!   written as IID-like SCL with the `[[ied]]` table that reads it.
//! - [`modbus`]: the SunSpec model chain with the values of every model gridtrust parses.
//! - [`pmu`]: the C37.118 CFG-2 (stations, channels, units, rate) and one data frame.
//!
//! Protocol logic stays in the protocol crates; this module drives their clients once, within
//! a deadline, and turns what the device answered into text. Every failure says what the device
//! did answer (a refusal, an exception code, nothing at all within the deadline).

pub mod iec104;
pub mod mms;
pub mod modbus;
pub mod pmu;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("`{0}` is not an ip:port address")]
    Address(String),
    #[error("the device did not answer {what} within {} s (--timeout)", .within.as_secs_f64())]
    Timeout { what: &'static str, within: Duration },
    #[error("IEC 104: {0}")]
    Iec104(#[from] gridtrust_iec104::client::ClientError),
    #[error("the RTU refused the station interrogation of common address {common_address}: cause {cause}{}", if *.negative { " (negative confirmation)" } else { "" })]
    InterrogationRefused { common_address: u16, cause: String, negative: bool },
    #[error(
        "the RTU confirmed and ended the station interrogation of common address {common_address} without sending any information object"
    )]
    NoObjects { common_address: u16 },
    #[error("the RTU closed the connection during the interrogation: {0}")]
    Iec104Closed(String),
    #[error("MMS: {0}")]
    Mms(#[from] gridtrust_mms::services::ServiceFailure),
    #[error("the SCL written from the IED's model does not import: {0}")]
    Scl(#[from] gridtrust_scl::SclErrors),
    #[error("the edge could not use the SCL written from the IED's model: {key}: {message}")]
    Plan { key: String, message: String },
    #[error("Modbus: {0}")]
    Modbus(#[from] gridtrust_modbus::client::ClientError),
    #[error("no SunSpec map: no SunS marker at 40000, 0 or 50000; the device answered {0}")]
    NoSunSpec(String),
    #[error("the device has no usable SunSpec map: {0}")]
    SunSpec(#[from] gridtrust_modbus::sunspec::DiscoveryError),
    #[error("C37.118: {0}")]
    Pmu(#[from] gridtrust_c37118::client::ClientFailure),
    #[error("`{name}` does not make a valid point id: {source}")]
    PointId { name: String, source: gridtrust_model::PointIdError },
    #[error("the generated mapping is not valid: {0}")]
    Mapping(#[from] gridtrust_config::ConfigError),
    #[error("the generated table does not read back: {0}")]
    Generated(#[from] toml::de::Error),
    #[error("{} already exists; pass --force to overwrite it", .0.display())]
    Exists(PathBuf),
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// What a probe found: the dump for people and the files for the edge.
#[derive(Clone, Debug)]
pub struct Probed {
    /// The device's offer as text, one line per item.
    pub report: String,
    /// (file name, contents): the device table for `edge.toml` first, then any mapping file it
    /// names (by a path relative to the folder they are written to).
    pub files: Vec<(String, String)>,
}

impl Probed {
    /// Writes [`Probed::files`] into `dir` (created if missing); an existing file is kept unless
    /// `force`. Returns the paths written.
    pub fn write(&self, dir: &Path, force: bool) -> Result<Vec<PathBuf>, ProbeError> {
        std::fs::create_dir_all(dir).map_err(|source| ProbeError::Write { path: dir.to_owned(), source })?;
        let paths: Vec<PathBuf> = self.files.iter().map(|(name, _)| dir.join(name)).collect();
        if !force && let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Err(ProbeError::Exists(existing.clone()));
        }
        for (path, (_, text)) in paths.iter().zip(&self.files) {
            std::fs::write(path, text).map_err(|source| ProbeError::Write { path: path.clone(), source })?;
        }
        Ok(paths)
    }
}

/// Parses `ip:port`, the form every probe takes.
fn socket_addr(address: &str) -> Result<SocketAddr, ProbeError> {
    address.parse().map_err(|_| ProbeError::Address(address.to_owned()))
}

/// An IEC 61850 logical-device name made of `name`: ASCII letters and digits, upper case,
/// starting with a letter (`rtu-1` → `RTU1`), `fallback` when nothing is left.
pub fn logical_device_of(name: &str, fallback: &str) -> String {
    let s: String = name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    match s.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => s,
        Some(_) => format!("{fallback}{s}"),
        None => fallback.to_owned(),
    }
}

/// A TOML basic string: quoted, with `"` and `\` escaped, so device-provided text cannot break
/// the generated file.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `s` made safe for a `#` comment line (device-provided text stays on one line).
fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_device_names_are_made_of_the_device_name() {
        assert_eq!(logical_device_of("rtu-1", "RTU"), "RTU1");
        assert_eq!(logical_device_of("1st", "RTU"), "RTU1ST");
        assert_eq!(logical_device_of("--", "PV"), "PV");
    }

    #[test]
    fn device_text_cannot_break_the_generated_toml() {
        let v: toml::Table = toml::from_str(&format!("x = {}", toml_str("a\"b\\c\nd"))).unwrap();
        assert_eq!(v["x"].as_str(), Some("a\"b\\c\nd"));
        assert_eq!(comment("a\nb"), "a b");
    }

    #[test]
    fn existing_files_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let probed = Probed { report: String::new(), files: vec![("edge-x.toml".into(), "a = 1\n".into())] };
        probed.write(dir.path(), false).unwrap();
        assert!(matches!(probed.write(dir.path(), false), Err(ProbeError::Exists(_))));
        probed.write(dir.path(), true).unwrap();
    }
}
