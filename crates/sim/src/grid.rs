//! The demo grid, Northfield: the SCD of the simulated substation's RTU and the CGMES 2.4.15 EQ,
//! TP, SSH and DL files of its 110/20 kV substation and two MV feeders, shipped in `grid/` (made
//! by `grid/generate.py`, described in `grid/README.md`).
//!
//! The demo writes them out and imports them with `gridtrust model import` like any user's files;
//! the simulated substation reads the same files ([`DemoGrid::load`]) and drives its
//! measurements from a power flow on them, so the values agree with each other, with the switch
//! states and with the model the hub serves.

use std::path::{Path, PathBuf};

use gridtrust_cgmes::{CgmesModel, Importer};
use gridtrust_grid::cgmes::Untyped;
use gridtrust_gridmodel::{GridModel, SclInput, join};

/// The SCD: file name and text.
pub const SCD: (&str, &str) = ("northfield.scd", include_str!("../grid/northfield.scd"));

/// The CGMES files: file name and text.
pub const CGMES: [(&str, &str); 4] = [
    ("northfield_EQ.xml", include_str!("../grid/northfield_EQ.xml")),
    ("northfield_TP.xml", include_str!("../grid/northfield_TP.xml")),
    ("northfield_SSH.xml", include_str!("../grid/northfield_SSH.xml")),
    ("northfield_DL.xml", include_str!("../grid/northfield_DL.xml")),
];

/// Where [`write_files`] put the files.
#[derive(Clone, Debug)]
pub struct WrittenFiles {
    /// The SCD.
    pub scl: PathBuf,
    /// The CGMES files.
    pub cgmes: Vec<PathBuf>,
}

/// Writes the demo grid's files into `dir` (created if needed).
pub fn write_files(dir: &Path) -> std::io::Result<WrittenFiles> {
    std::fs::create_dir_all(dir)?;
    let write = |(name, text): (&str, &str)| -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    Ok(WrittenFiles { scl: write(SCD)?, cgmes: CGMES.into_iter().map(write).collect::<Result<_, _>>()? })
}

/// The demo grid as the simulator uses it: the CGMES model with the classes the network builder
/// reads beyond it, and the joined model that links the RTU's points to CIM measurements.
pub struct DemoGrid {
    pub cgmes: CgmesModel,
    pub untyped: Untyped,
    pub joined: GridModel,
}

/// Why the shipped files did not load (a bug in them, caught by this crate's tests).
#[derive(Debug, thiserror::Error)]
pub enum DemoGridError {
    #[error("demo grid CGMES: {0}")]
    Cgmes(#[from] gridtrust_cgmes::CgmesError),
    #[error("demo grid SCD: {0}")]
    Scl(String),
    #[error("demo grid join: {0}")]
    Join(String),
}

impl DemoGrid {
    /// Reads the shipped files.
    pub fn load() -> Result<Self, DemoGridError> {
        let mut importer = Importer::new();
        for (name, text) in CGMES {
            importer = importer.add_bytes(name, text.as_bytes())?;
        }
        let graph = importer.finish_graph();
        let untyped = Untyped::from_graph(&graph);
        let cgmes = CgmesModel::from_graph(graph)?;
        let scd = SclInput::from_bytes(SCD.0, SCD.1.as_bytes()).map_err(|e| DemoGridError::Scl(e.to_string()))?;
        let joined = join(&[scd], Some(&cgmes), None)
            .map_err(|errors| DemoGridError::Join(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
        Ok(Self { cgmes, untyped, joined })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts `<cim:Class ` openings in a file's text: an independent count of its objects.
    fn count(text: &str, class: &str) -> usize {
        text.matches(&format!("<cim:{class} ")).count()
    }

    #[test]
    fn the_shipped_files_join_without_unresolved_links() {
        let grid = DemoGrid::load().unwrap();
        assert!(grid.joined.unresolved.is_empty(), "{:?}", grid.joined.unresolved);
        assert!(grid.cgmes.diagnostics.is_empty(), "{:?}", grid.cgmes.diagnostics);
        let eq = CGMES[0].1;
        let measurements = count(eq, "Analog") + count(eq, "Discrete");
        let linked = grid.joined.points.values().filter(|p| p.cim.measurement.is_some()).count();
        assert_eq!(linked, measurements, "every CIM measurement has its IEC 61850 point");
        assert_eq!(grid.cgmes.switches.len(), count(eq, "Breaker") + count(eq, "Disconnector") + count(eq, "LoadBreakSwitch"));
        assert_eq!(grid.cgmes.loads.len(), count(eq, "EnergyConsumer"));
        assert_eq!(grid.cgmes.diagram_objects.len(), count(CGMES[3].1, "DiagramObject"));
        let pv = grid.joined.equipment().find(|e| e.name == "PV1").expect("PV1 in the model");
        assert_eq!(pv.kind, "Inverter", "a solar unit's machine is an inverter, which cannot energise an island");
    }

    #[test]
    fn the_scd_conforms_to_iec_61850_6_strictly() {
        gridtrust_scl::import_bytes_as(SCD.0, SCD.1.as_bytes(), gridtrust_scl::Mode::Strict)
            .unwrap_or_else(|e| panic!("{:?}", e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()));
    }
}
