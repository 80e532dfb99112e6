//! Where each logical node sits in the single-line diagram: the `<LNode>` references of the
//! Substation section flattened into (logical node -> substation / voltage level / bay /
//! equipment, and the functions on the way). This is the key for joining IEC 61850 points to CIM
//! equipment (by name path).

use serde::Serialize;

use crate::model::*;

/// One `<LNode>` and the container it is placed in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LNodePlacement {
    pub lnode: LNodeRef,
    pub substation: String,
    pub voltage_level: Option<String>,
    pub bay: Option<String>,
    /// The conducting, general or transformer equipment holding the LNode (also through a
    /// sub-equipment or a function of that equipment), if any.
    pub equipment: Option<String>,
    /// Its SCL type code (CBR, DIS, CTR, VTR, PTR, BAT, ...), if it is equipment.
    pub equipment_type: Option<String>,
    /// `Substation/VoltageLevel/Bay/Equipment[/Part]`, with the names of functions and
    /// sub-functions where the LNode sits in one: the SCL path name of the container.
    pub path: String,
}

impl LNodePlacement {
    /// The logical node as an object reference prefix: `IED LD/LN` (IED name, then `LD/LN`).
    pub fn ln_reference(&self) -> (String, String) {
        (self.lnode.ied_name.clone(), format!("{}/{}", self.lnode.ld_inst, self.lnode.ln_name()))
    }
}

struct Container<'a> {
    substation: &'a str,
    voltage_level: Option<&'a str>,
    bay: Option<&'a str>,
    equipment: Option<(&'a str, &'a str)>,
    path: String,
}

impl<'a> Container<'a> {
    fn child(&self, name: &str) -> String {
        format!("{}/{}", self.path, name)
    }

    fn place(&self, lnodes: &[LNodeRef], out: &mut Vec<LNodePlacement>) {
        out.extend(lnodes.iter().map(|lnode| LNodePlacement {
            lnode: lnode.clone(),
            substation: self.substation.to_owned(),
            voltage_level: self.voltage_level.map(str::to_owned),
            bay: self.bay.map(str::to_owned),
            equipment: self.equipment.map(|(name, _)| name.to_owned()),
            equipment_type: self.equipment.map(|(_, kind)| kind.to_owned()),
            path: self.path.clone(),
        }));
    }

    /// Functions and their sub-functions (and the general equipment in them) keep the equipment
    /// they belong to, if any; their names extend the path.
    fn functions(&self, functions: &'a [Function], out: &mut Vec<LNodePlacement>) {
        for function in functions {
            let at = Container { path: self.child(&function.name), ..*self };
            at.place(&function.lnodes, out);
            at.functions(&function.sub_functions, out);
            at.general_equipment(&function.general_equipment, out);
        }
    }

    fn general_equipment(&self, list: &'a [GeneralEquipment], out: &mut Vec<LNodePlacement>) {
        for equipment in list {
            let at =
                Container { equipment: Some((&equipment.name, &equipment.equipment_type)), path: self.child(&equipment.name), ..*self };
            at.place(&equipment.lnodes, out);
            at.functions(&equipment.functions, out);
        }
    }

    fn transformers(&self, transformers: &'a [PowerTransformer], out: &mut Vec<LNodePlacement>) {
        for transformer in transformers {
            let at = Container { equipment: Some((&transformer.name, "PTR")), path: self.child(&transformer.name), ..*self };
            at.place(&transformer.lnodes, out);
            at.functions(&transformer.functions, out);
            for winding in &transformer.windings {
                let at_winding = Container { equipment: Some((&transformer.name, "PTR")), path: at.child(&winding.name), ..*self };
                at_winding.place(&winding.lnodes, out);
                at_winding.functions(&winding.functions, out);
                if let Some(tap) = &winding.tap_changer {
                    let at_tap = Container { path: at_winding.child(&tap.name), ..at_winding };
                    at_tap.place(&tap.lnodes, out);
                    at_tap.functions(&tap.functions, out);
                }
            }
        }
    }
}

impl SclDocument {
    /// Every `<LNode>` of the Substation section with the container it is placed in, container by
    /// container (each container's own LNodes, then its transformers, functions, general
    /// equipment, bays, equipment).
    pub fn lnode_placements(&self) -> Vec<LNodePlacement> {
        let mut out = Vec::new();
        for substation in &self.substations {
            let at =
                Container { substation: &substation.name, voltage_level: None, bay: None, equipment: None, path: substation.name.clone() };
            at.place(&substation.lnodes, &mut out);
            at.transformers(&substation.power_transformers, &mut out);
            at.functions(&substation.functions, &mut out);
            at.general_equipment(&substation.general_equipment, &mut out);
            for level in &substation.voltage_levels {
                let at_level = Container { voltage_level: Some(&level.name), path: at.child(&level.name), ..at };
                at_level.place(&level.lnodes, &mut out);
                at_level.transformers(&level.power_transformers, &mut out);
                at_level.functions(&level.functions, &mut out);
                at_level.general_equipment(&level.general_equipment, &mut out);
                for bay in &level.bays {
                    let at_bay = Container { bay: Some(&bay.name), path: at_level.child(&bay.name), ..at_level };
                    at_bay.place(&bay.lnodes, &mut out);
                    at_bay.transformers(&bay.power_transformers, &mut out);
                    at_bay.functions(&bay.functions, &mut out);
                    at_bay.general_equipment(&bay.general_equipment, &mut out);
                    for equipment in &bay.conducting_equipment {
                        let at_equipment = Container {
                            equipment: Some((&equipment.name, &equipment.equipment_type)),
                            path: at_bay.child(&equipment.name),
                            ..at_bay
                        };
                        at_equipment.place(&equipment.lnodes, &mut out);
                        at_equipment.functions(&equipment.functions, &mut out);
                        for sub in &equipment.sub_equipment {
                            let at_sub = Container { path: at_equipment.child(&sub.name), ..at_equipment };
                            at_sub.place(&sub.lnodes, &mut out);
                            at_sub.functions(&sub.functions, &mut out);
                        }
                    }
                }
            }
        }
        out
    }
}
