//! The roles' files: `gridtrust demo` writes a complete, consistent set (PKI, signed point
//! registry, hub, edge and cc configuration); the harness then points the edge and the cc at
//! its proxies and its numbered RTU, and shortens the cc's staleness bounds so a CI run sees
//! them.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use toml::{Table, Value};

/// Why the files could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("`gridtrust demo` failed: {0}")]
    Demo(String),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The cc's staleness bounds the harness runs with (seconds).
#[derive(Clone, Copy, Debug)]
pub struct Staleness {
    pub not_topical_s: u64,
    pub invalid_s: u64,
    pub hub_silence_s: u64,
}

/// What the harness needs to know of the written files.
#[derive(Clone, Debug)]
pub struct Files {
    /// The demo's folder, the working directory of every role.
    pub dir: PathBuf,
    /// Where the hub listens for edges and for connectors.
    pub hub_edge_listen: SocketAddr,
    pub hub_cc_listen: SocketAddr,
    /// Where the cc serves SCADA, its common address, and its IOA of the numbered point.
    pub scada_listen: SocketAddr,
    pub scada_common_address: u16,
    pub scada_numbered_ioa: u32,
    pub scada_command_ioa: u32,
}

/// Free loopback ports: all bound at once, then released.
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let socks = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    socks.iter().map(|s| s.local_addr().map(|a| a.port())).collect()
}

/// Runs `gridtrust demo` for two seconds in `work` and returns its folder.
pub fn write_demo_files(gridtrust: &Path, work: &Path) -> Result<PathBuf, SetupError> {
    let flags = [
        "--scada-listen",
        "--api-listen",
        "--cc-ui-listen",
        "--rtu-listen",
        "--pv-listen",
        "--pmu-listen",
    ];
    let ports = free_ports(flags.len()).map_err(|e| SetupError::Demo(e.to_string()))?;
    let mut args = vec![
        "demo".to_owned(),
        "--dir".to_owned(),
        "demo-data".to_owned(),
        "--seconds".to_owned(),
        "2".to_owned(),
    ];
    for (flag, port) in flags.iter().zip(ports) {
        args.extend([(*flag).to_owned(), format!("127.0.0.1:{port}")]);
    }
    let out = Command::new(gridtrust)
        .args(&args)
        .current_dir(work)
        .output()
        .map_err(|e| SetupError::Demo(e.to_string()))?;
    if !out.status.success() {
        return Err(SetupError::Demo(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    Ok(work.join("demo-data"))
}

fn read(path: &Path) -> Result<Table, SetupError> {
    let err = |message: String| SetupError::File {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    text.parse::<Table>().map_err(|e| err(e.to_string()))
}

fn write(path: &Path, table: &Table) -> Result<(), SetupError> {
    let err = |message: String| SetupError::File {
        path: path.to_owned(),
        message,
    };
    let text = toml::to_string(table).map_err(|e| err(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| err(e.to_string()))
}

/// `table.key` (dotted) as a string.
fn string<'a>(path: &Path, table: &'a Table, key: &str) -> Result<&'a str, SetupError> {
    let mut parts = key.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        let value = current.get(part);
        if parts.peek().is_none() {
            return value.and_then(Value::as_str).ok_or_else(|| SetupError::File {
                path: path.to_owned(),
                message: format!("no string `{key}`"),
            });
        }
        current = value.and_then(Value::as_table).ok_or_else(|| SetupError::File {
            path: path.to_owned(),
            message: format!("no table for `{key}`"),
        })?;
    }
    Err(SetupError::File {
        path: path.to_owned(),
        message: format!("empty key `{key}`"),
    })
}

fn addr(path: &Path, table: &Table, key: &str) -> Result<SocketAddr, SetupError> {
    string(path, table, key)?.parse().map_err(|e| SetupError::File {
        path: path.to_owned(),
        message: format!("`{key}`: {e}"),
    })
}

/// Reads the demo's addresses (before [`point_roles_at`] changes them).
pub fn read_files(dir: &Path, numbered_point: &str, command_point: &str) -> Result<Files, SetupError> {
    let hub_path = dir.join("hub.toml");
    let hub = read(&hub_path)?;
    let cc_path = dir.join("cc.toml");
    let cc = read(&cc_path)?;
    let mapping_path = dir.join(string(&cc_path, &cc, "iec104.mapping")?);
    let mapping = read(&mapping_path)?;
    let ioa_of = |table: &str, id: &str| -> Result<u32, SetupError> {
        mapping
            .get(table)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_table)
            .find(|p| p.get("id").and_then(Value::as_str) == Some(id))
            .and_then(|p| p.get("ioa").and_then(Value::as_integer))
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| SetupError::File {
                path: mapping_path.clone(),
                message: format!("no [[{table}]] with id `{id}`"),
            })
    };
    let common_address = cc
        .get("iec104")
        .and_then(|t| t.get("station"))
        .and_then(|t| t.get("common_address"))
        .and_then(Value::as_integer)
        .and_then(|i| u16::try_from(i).ok())
        .unwrap_or(1);
    Ok(Files {
        dir: dir.to_owned(),
        hub_edge_listen: addr(&hub_path, &hub, "edge_listen")?,
        hub_cc_listen: addr(&hub_path, &hub, "cc_listen")?,
        scada_listen: addr(&cc_path, &cc, "iec104.listen")?,
        scada_common_address: common_address,
        scada_numbered_ioa: ioa_of("point", numbered_point)?,
        scada_command_ioa: ioa_of("command", command_point)?,
    })
}

/// Points the edge at `rtu` and `hub` (the proxies), leaves out its other devices, and points
/// the cc at `hub` with the harness's staleness bounds.
pub fn point_roles_at(
    dir: &Path,
    rtu: SocketAddr,
    edge_hub: SocketAddr,
    cc_hub: SocketAddr,
    staleness: Staleness,
) -> Result<(), SetupError> {
    let edge_path = dir.join("edge.toml");
    let mut edge = read(&edge_path)?;
    for table in ["modbus", "pmu", "mqtt", "ied"] {
        edge.remove(table);
    }
    set_address(&edge_path, &mut edge, "hub", edge_hub)?;
    let rtus = edge.get_mut("rtu").and_then(Value::as_array_mut).ok_or_else(|| SetupError::File {
        path: edge_path.clone(),
        message: "no [[rtu]]".into(),
    })?;
    for r in rtus.iter_mut().filter_map(Value::as_table_mut) {
        r.insert("address".into(), Value::String(rtu.to_string()));
    }
    write(&edge_path, &edge)?;

    let cc_path = dir.join("cc.toml");
    let mut cc = read(&cc_path)?;
    set_address(&cc_path, &mut cc, "hub", cc_hub)?;
    let mut s = Table::new();
    s.insert("not_topical_s".into(), Value::Integer(staleness.not_topical_s as i64));
    s.insert("invalid_s".into(), Value::Integer(staleness.invalid_s as i64));
    s.insert("hub_silence_s".into(), Value::Integer(staleness.hub_silence_s as i64));
    cc.insert("staleness".into(), Value::Table(s));
    write(&cc_path, &cc)
}

fn set_address(path: &Path, table: &mut Table, section: &str, to: SocketAddr) -> Result<(), SetupError> {
    let t = table
        .get_mut(section)
        .and_then(Value::as_table_mut)
        .ok_or_else(|| SetupError::File {
            path: path.to_owned(),
            message: format!("no [{section}]"),
        })?;
    t.insert("address".into(), Value::String(to.to_string()));
    Ok(())
}
