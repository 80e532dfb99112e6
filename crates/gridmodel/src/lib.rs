//! # gridtrust-gridmodel: the joined IEC 61850 / CIM model
//!
//! A point is named by its IEC 61850 object reference and carries the CIM identities (mRIDs) of
//! the measurement, the equipment and the terminal it corresponds to, so that 61850 tools and
//! CIM tools (network models, CGMES exchanges, the control centre) talk about the same datum.
//!
//! - [`model`]: [`GridModel`] (Substation -> VoltageLevel -> Bay -> Equipment tree, points,
//!   [`UnresolvedLink`]s, source files with SHA-256), the CIM topology (the node each terminal
//!   connects to, [`NodeInfo`]s) and the DL placements ([`DiagramPlacement`]), JSON in a
//!   canonical order.
//! - [`join`]: how the model is built from SCL ([`SclInput`]), CGMES and a mapping file, and the
//!   join rules in their order: mapping file, SCD Substation `<LNode>` placements, names.
//! - [`oneline`]: the one-line diagram ([`OneLine`]): DL positions or an automatic layout, and
//!   the topology walk deciding what is energised ([`energise`]).
//! - [`kinds`]: the data object -> CIM measurementType table and the kind vocabularies.
//! - [`mapping`]: the explicit mapping file ([`Mapping`]), errors naming the TOML key.
//! - [`private`]: mRIDs carried in the SCL Substation section (`gridtrust:cim-mrid` privates).
//! - [`import`]: [`import_files`] from paths (with CGMES progress), model JSON read/write.
//! - [`data_object`]: [`GridModel::resolve_point`], the model point that a protocol's point name
//!   (an IEC 104 point named by its data object, `F1/MMXU1.TotW`) stands for.
//! - [`diff`]: [`ModelDiff`], points and equipment added, removed or changed.
//! - [`error`]: [`ModelError`], [`ImportErrors`].
//!
//! Links that cannot be made (no counterpart, or more than one) are reported with the reason in
//! [`GridModel::unresolved`]; nothing is guessed. Not done here: writing SCL or CGMES, CIM
//! measurements on containers rather than equipment, and links from SCL `Terminal`s to CIM
//! terminals (the terminal comes from the CIM measurement or the mapping file).

pub mod data_object;
pub mod diff;
pub mod error;
pub mod import;
pub mod join;
pub mod kinds;
pub mod mapping;
pub mod model;
pub mod oneline;
pub mod private;

pub use data_object::Resolved;
pub use diff::{Changed, FieldChange, ModelDiff};
pub use error::{ImportErrors, ModelError};
pub use import::{Imported, ModelInputs, import, import_files};
pub use join::{SclInput, join};
pub use mapping::{Iec104Address, Mapping, MappingEntry};
pub use model::*;
pub use oneline::{DiagramEquipment, DiagramNode, Energised, EquipmentKind, LayoutSource, OneLine, energise};
