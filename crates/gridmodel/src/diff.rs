//! What changed between two models: points and equipment added, removed or changed (with the
//! fields that changed), and links that became or stopped being unresolved. Used by
//! `gridtrust model diff` to review a new SCD or CGMES export before the hub takes it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::model::{EquipmentNode, GridModel, PointInfo, UnresolvedLink};

/// One changed field: its name and its JSON value before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// An item present in both models with different fields.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Changed {
    pub id: String,
    pub fields: Vec<FieldChange>,
}

/// The differences between model `a` (before) and `b` (after), each list in id order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelDiff {
    pub points_added: Vec<String>,
    pub points_removed: Vec<String>,
    pub points_changed: Vec<Changed>,
    pub equipment_added: Vec<String>,
    pub equipment_removed: Vec<String>,
    pub equipment_changed: Vec<Changed>,
    pub unresolved_added: Vec<UnresolvedLink>,
    pub unresolved_removed: Vec<UnresolvedLink>,
}

impl ModelDiff {
    /// True when the models have the same points, equipment and unresolved links.
    pub fn is_empty(&self) -> bool {
        self.points_added.is_empty()
            && self.points_removed.is_empty()
            && self.points_changed.is_empty()
            && self.equipment_added.is_empty()
            && self.equipment_removed.is_empty()
            && self.equipment_changed.is_empty()
            && self.unresolved_added.is_empty()
            && self.unresolved_removed.is_empty()
    }
}

fn fields_of(value: &impl Serialize) -> BTreeMap<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn compare<T: Serialize>(a: &BTreeMap<String, &T>, b: &BTreeMap<String, &T>) -> (Vec<String>, Vec<String>, Vec<Changed>) {
    let added = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    let removed = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
    let mut changed = Vec::new();
    for (id, before) in a {
        let Some(after) = b.get(id) else { continue };
        let (before, after) = (fields_of(before), fields_of(after));
        let fields: Vec<FieldChange> = before
            .keys()
            .chain(after.keys().filter(|k| !before.contains_key(*k)))
            .filter_map(|field| {
                let was = before.get(field).cloned().unwrap_or(serde_json::Value::Null);
                let now = after.get(field).cloned().unwrap_or(serde_json::Value::Null);
                (was != now).then(|| FieldChange { field: field.clone(), before: was, after: now })
            })
            .collect();
        if !fields.is_empty() {
            changed.push(Changed { id: id.clone(), fields });
        }
    }
    (added, removed, changed)
}

fn points_by_id(model: &GridModel) -> BTreeMap<String, &PointInfo> {
    model.points.iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn equipment_by_id(model: &GridModel) -> BTreeMap<String, &EquipmentNode> {
    model.equipment().map(|e| (e.id.clone(), e)).collect()
}

impl GridModel {
    /// The differences from `self` (before) to `other` (after).
    pub fn diff(&self, other: &GridModel) -> ModelDiff {
        let (points_added, points_removed, points_changed) = compare(&points_by_id(self), &points_by_id(other));
        let (equipment_added, equipment_removed, equipment_changed) = compare(&equipment_by_id(self), &equipment_by_id(other));
        let unresolved_added = other.unresolved.iter().filter(|u| !self.unresolved.contains(u)).cloned().collect();
        let unresolved_removed = self.unresolved.iter().filter(|u| !other.unresolved.contains(u)).cloned().collect();
        ModelDiff {
            points_added,
            points_removed,
            points_changed,
            equipment_added,
            equipment_removed,
            equipment_changed,
            unresolved_added,
            unresolved_removed,
        }
    }
}

impl fmt::Display for ModelDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changes = |f: &mut fmt::Formatter<'_>, what: &str, list: &[Changed]| -> fmt::Result {
            for item in list {
                writeln!(f, "~ {what} {}", item.id)?;
                for change in &item.fields {
                    writeln!(f, "    {}: {} -> {}", change.field, change.before, change.after)?;
                }
            }
            Ok(())
        };
        for id in &self.points_added {
            writeln!(f, "+ point {id}")?;
        }
        for id in &self.points_removed {
            writeln!(f, "- point {id}")?;
        }
        changes(f, "point", &self.points_changed)?;
        for id in &self.equipment_added {
            writeln!(f, "+ equipment {id}")?;
        }
        for id in &self.equipment_removed {
            writeln!(f, "- equipment {id}")?;
        }
        changes(f, "equipment", &self.equipment_changed)?;
        for u in &self.unresolved_added {
            writeln!(f, "+ unresolved {}: {}", u.subject, u.reason)?;
        }
        for u in &self.unresolved_removed {
            writeln!(f, "- unresolved {}: {}", u.subject, u.reason)?;
        }
        Ok(())
    }
}
