//! Diagram layout (DL) and geographical location (GL) objects: where a power system object is
//! drawn on a one-line diagram and where it stands on the ground.
//!
//! DL (IEC 61970-453 as CGMES profiles it) places any `IdentifiedObject` on a `Diagram` through
//! one or more `DiagramObject`s, each with ordered `DiagramObjectPoint`s (one point for a node-like
//! symbol, a polyline or polygon for a line or busbar). GL places a `PowerSystemResource` through a
//! `Location` with ordered `PositionPoint`s in a `CoordinateSystem` (WGS 84, `EPSG::4326`, in the
//! ENTSO-E test models: x is longitude, y latitude). Both editions use the same classes and
//! properties here. [`crate::CgmesModel`] holds these objects, attaches the points to their owner
//! sorted by sequence number, and looks them up by the mRID of the object they place
//! ([`crate::CgmesModel::diagram_objects_of`], [`crate::CgmesModel::locations_of`]).
//!
//! Not typed: `DiagramObjectStyle`, `DiagramObjectGluePoint`, `VisibilityLayer` (read into the
//! graph and counted only).

use serde::Serialize;

use crate::model::Identified;

/// One point of a diagram object (DL `DiagramObjectPoint`, diagram units) or of a location (GL
/// `PositionPoint`, units of the coordinate system).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// `sequenceNumber`: order along the polyline; `None` when the file gives none (then the
    /// points keep file order after those that have one).
    pub sequence_number: Option<i64>,
    /// `xPosition`.
    pub x: Option<f64>,
    /// `yPosition`.
    pub y: Option<f64>,
    /// `zPosition`.
    pub z: Option<f64>,
}

/// `Diagram`: one drawing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagram {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `Diagram.orientation` (`positive`: y grows upwards, `negative`: y grows downwards).
    pub orientation: Option<String>,
}

/// `DiagramObject` or `TextDiagramObject`: one symbol of one object on one diagram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiagramObject {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `DiagramObject.Diagram`.
    pub diagram: Option<String>,
    /// `DiagramObject.IdentifiedObject`: what the symbol stands for.
    pub identified_object: Option<String>,
    /// `DiagramObject.rotation` in degrees, clockwise.
    pub rotation_deg: Option<f64>,
    /// `DiagramObject.drawingOrder`: higher is drawn later (on top).
    pub drawing_order: Option<i64>,
    /// `DiagramObject.isPolygon`: the points close into a polygon.
    pub is_polygon: Option<bool>,
    /// `TextDiagramObject.text`, for text objects.
    pub text: Option<String>,
    /// Its `DiagramObjectPoint`s, by sequence number.
    pub points: Vec<Point>,
}

/// `CoordinateSystem` of GL positions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoordinateSystem {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `CoordinateSystem.crsUrn` (e.g. `urn:ogc:def:crs:EPSG::4326`).
    pub crs_urn: Option<String>,
}

/// `Location`: where one or more power system resources stand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    /// Names.
    #[serde(flatten)]
    pub identity: Identified,
    /// `Location.CoordinateSystem`.
    pub coordinate_system: Option<String>,
    /// `Location.PowerSystemResources`, every one given.
    pub power_system_resources: Vec<String>,
    /// Its `PositionPoint`s, by sequence number.
    pub points: Vec<Point>,
}

/// Sorts points by sequence number, those without one last, keeping file order among equals.
pub(crate) fn sort_points(points: &mut [Point]) {
    points.sort_by_key(|p| p.sequence_number.unwrap_or(i64::MAX));
}
