//! The imported grid model (`[model] file`, a `gridtrust model import` JSON) as the hub serves
//! it: the tree and points of `gridtrust-gridmodel` in the API's shapes, with every point the
//! hub has data for but the model does not know appended under "unmodelled" substations derived
//! from point references ([`crate::model`]), so nothing the field reports disappears; model
//! points without data yet are listed too.
//!
//! The model is read once at start; the API shapes are converted once from
//! [`GridModel::api_tree`] / [`GridModel::api_points`] (same JSON field for field), so the
//! derivation of bays and points lives only in `gridtrust-gridmodel`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::info;

use gridtrust_api::dto::{Model, PointInfo};
use gridtrust_gridmodel::{GridModel, ModelError};

use crate::model::{KnownPoint, model, point_info};

/// Why the configured model could not be served.
#[derive(Debug, thiserror::Error)]
pub enum GridModelError {
    /// The file is unreadable or not a model this build reads (the message names the file).
    #[error("model.file: {0}")]
    Read(#[from] ModelError),
    /// The model's API shapes no longer match the API's (a build mismatch between crates).
    #[error("model.file: {path}: the model's {what} does not convert to the API shape: {source}")]
    Shape { path: PathBuf, what: &'static str, source: serde_json::Error },
}

/// The model the hub serves, with its API shapes computed once.
#[derive(Debug)]
pub struct ServedModel {
    /// `GET /api/model/full`: the model JSON in canonical order.
    full_json: String,
    tree: Model,
    points: Vec<PointInfo>,
    known: HashSet<String>,
}

/// Converts a `gridtrust-gridmodel` API shape into the API crate's type of the same JSON.
/// `deny`-free on the API side, so a field only gridmodel has would vanish silently: the unit
/// test compares the JSON both ways.
fn to_dto<From: Serialize, To: DeserializeOwned>(value: &From) -> Result<To, serde_json::Error> {
    serde_json::to_value(value).and_then(serde_json::from_value)
}

impl ServedModel {
    /// Reads and checks the model file and logs what it holds.
    pub fn load(path: &Path) -> Result<Self, GridModelError> {
        let grid = GridModel::read(path)?;
        let served = Self::new(&grid).map_err(|(what, source)| GridModelError::Shape { path: path.to_owned(), what, source })?;
        info!(
            file = %path.display(),
            points = grid.points.len(),
            linked = grid.points.values().filter(|p| p.link.is_some()).count(),
            with_cim_measurement = grid.points.values().filter(|p| p.cim.measurement.is_some()).count(),
            equipment = grid.equipment().count(),
            unresolved_links = grid.unresolved.len(),
            sources = grid.sources.len(),
            "grid model loaded"
        );
        Ok(served)
    }

    fn new(grid: &GridModel) -> Result<Self, (&'static str, serde_json::Error)> {
        let tree: Model = to_dto(&grid.api_tree()).map_err(|e| ("tree", e))?;
        let points: Vec<PointInfo> = to_dto(&grid.api_points()).map_err(|e| ("points", e))?;
        let known = points.iter().map(|p| p.id.clone()).collect();
        Ok(Self { full_json: grid.to_json(), tree, points, known })
    }

    /// The whole joined model as imported (unresolved links, sources with SHA-256 included).
    pub fn full_json(&self) -> &str {
        &self.full_json
    }

    fn unmodelled<'a>(&self, with_data: &'a [KnownPoint]) -> Vec<&'a KnownPoint> {
        with_data.iter().filter(|p| !self.known.contains(p.id.as_str())).collect()
    }

    /// The model's tree, then the points with data the model does not know, derived from their
    /// references under substations named "Unmodelled points ...".
    pub fn tree(&self, with_data: &[KnownPoint]) -> Model {
        let unmodelled: Vec<KnownPoint> = self.unmodelled(with_data).into_iter().cloned().collect();
        let mut tree = self.tree.clone();
        tree.substations.extend(model(&unmodelled).substations.into_iter().map(|mut s| {
            let served_by = s.id.clone();
            s.id = format!("unmodelled/{served_by}");
            s.name = format!("Unmodelled points served by {served_by} (not in the grid model)");
            for level in &mut s.voltage_levels {
                level.id = format!("unmodelled/{}", level.id);
            }
            s
        }));
        tree
    }

    /// The model's points (with or without data), then the points with data it does not know.
    pub fn points(&self, with_data: &[KnownPoint]) -> Vec<PointInfo> {
        let mut points = self.points.clone();
        points.extend(self.unmodelled(with_data).into_iter().map(point_info));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_gridmodel::{ApiModel, ApiPoint, ModelInputs, import};
    use gridtrust_model::{PointId, Value};

    fn testdata(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
    }

    /// The gridmodel fixture: an SCD placing logical nodes on ENTSO-E MicroGrid NL equipment.
    fn fixture_model() -> GridModel {
        let base = "../../shared/testdata/cgmes/MicroGrid/BaseCase";
        let inputs = ModelInputs {
            scl: vec![testdata("gridmodel/testdata/microgrid_nl.scd")],
            cgmes: vec![
                testdata(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2")),
                testdata(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
                testdata("gridmodel/testdata/microgrid_nl_measurements_EQ.xml"),
            ],
            mapping: Some(testdata("gridmodel/testdata/microgrid_nl_mapping.toml")),
        };
        match import(&inputs) {
            Ok(imported) => imported.model,
            Err(e) => panic!("fixture import: {e}: {:?}", e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
        }
    }

    #[test]
    fn conversion_keeps_every_field_of_the_gridmodel_shapes() {
        let grid = fixture_model();
        let served = ServedModel::new(&grid).unwrap();
        // Back through JSON into gridmodel's own types: equal only if no field was lost or renamed.
        let tree: ApiModel = to_dto(&served.tree).unwrap();
        assert_eq!(tree, grid.api_tree());
        let points: Vec<ApiPoint> = to_dto(&served.points).unwrap();
        assert_eq!(points, grid.api_points());
        assert!(!served.tree.substations.is_empty() && served.points.len() == grid.points.len());
        assert_eq!(GridModel::from_json("served", served.full_json()).unwrap(), grid);
    }

    #[test]
    fn unmodelled_points_with_data_are_appended_and_model_points_stay() {
        let grid = fixture_model();
        let served = ServedModel::new(&grid).unwrap();
        let modelled = grid.points.keys().next().unwrap().clone();
        let with_data = [
            KnownPoint { id: modelled.clone(), edge: Some("edge-1".into()), value: Value::Float(1.0) },
            KnownPoint { id: PointId::new("F9/XCBR1.Pos").unwrap(), edge: Some("edge-1".into()), value: Value::Float(0.0) },
        ];
        let tree = served.tree(&with_data);
        assert_eq!(tree.substations.len(), served.tree.substations.len() + 1);
        let extra = tree.substations.last().unwrap();
        assert_eq!(extra.id, "unmodelled/edge-1");
        assert!(extra.name.starts_with("Unmodelled points"), "{}", extra.name);
        let bay = &extra.voltage_levels[0].bays[0];
        assert_eq!((bay.id.as_str(), bay.equipment[0].points.as_slice()), ("F9", ["F9/XCBR1.Pos".to_owned()].as_slice()));

        let points = served.points(&with_data);
        assert_eq!(points.len(), grid.points.len() + 1, "the modelled point is listed once, from the model");
        let modelled_info = points.iter().find(|p| p.id == modelled.as_str()).unwrap();
        assert_eq!(modelled_info.kind, grid.points[&modelled].kind);
        assert_eq!(points.last().unwrap().bay.as_deref(), Some("F9"));
        // Without data the model's points are all still there.
        assert_eq!(served.points(&[]).len(), grid.points.len());
        assert_eq!(served.tree(&[]).substations.len(), served.tree.substations.len());
    }
}
