//! CIM mRIDs carried in the SCL Substation section, which the SCL reader does not keep
//! (it skips `<Private>`): the join by mRID is stronger than by name, so it is read here.
//!
//! Accepted form, as the only child content of a `Substation`, `VoltageLevel`, `Bay`,
//! `PowerTransformer` or `ConductingEquipment`:
//!
//! ```xml
//! <ConductingEquipment type="CBR" name="QA1">
//!   <Private type="gridtrust:cim-mrid">5f5d40ae-d52d-4631-9285-b3ceefff784c</Private>
//! </ConductingEquipment>
//! ```
//!
//! A leading `_` (as in RDF `rdf:ID`) is dropped. Containers are keyed by their SCL path name
//! (`Substation/VoltageLevel/Bay/Equipment`, a power transformer directly under a substation or
//! voltage level as `Substation/Transformer` or `Substation/VoltageLevel/Transformer`).

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// The `Private` type this crate reads an mRID from.
pub const CIM_MRID_PRIVATE_TYPE: &str = "gridtrust:cim-mrid";

const CONTAINERS: [&[u8]; 5] = [b"Substation", b"VoltageLevel", b"Bay", b"PowerTransformer", b"ConductingEquipment"];

/// SCL path name -> mRID for every container with a [`CIM_MRID_PRIVATE_TYPE`] private. The
/// document was already read by `gridtrust-scl` (which reports syntax errors with their place),
/// so a syntax error here just ends the scan.
pub fn cim_mrids(scl: &[u8]) -> BTreeMap<String, String> {
    let mut reader = Reader::from_reader(scl);
    let mut found = BTreeMap::new();
    // One entry per open element: the container's name, when it is a container.
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut collecting: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                if is_mrid_private(&start, &reader) {
                    collecting = Some(String::new());
                }
                stack.push(container_name(&start, &reader));
            }
            Ok(Event::End(_)) => {
                if let Some(text) = collecting.take() {
                    let path: Vec<&str> = stack.iter().flatten().map(String::as_str).collect();
                    let mrid = text.trim();
                    if !path.is_empty() && !mrid.is_empty() {
                        found.insert(path.join("/"), mrid.strip_prefix('_').unwrap_or(mrid).to_owned());
                    }
                }
                stack.pop();
            }
            Ok(Event::Text(text)) => {
                if let (Some(buffer), Ok(chunk)) = (collecting.as_mut(), text.xml10_content()) {
                    buffer.push_str(&chunk);
                }
            }
            Ok(Event::Eof) | Err(_) => return found,
            Ok(_) => {}
        }
    }
}

fn attribute(start: &BytesStart<'_>, reader: &Reader<&[u8]>, name: &[u8]) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, reader.decoder()).ok().map(|v| v.into_owned()))
}

fn container_name(start: &BytesStart<'_>, reader: &Reader<&[u8]>) -> Option<String> {
    let local = start.local_name();
    if CONTAINERS.contains(&local.as_ref()) { attribute(start, reader, b"name") } else { None }
}

fn is_mrid_private(start: &BytesStart<'_>, reader: &Reader<&[u8]>) -> bool {
    start.local_name().as_ref() == b"Private" && attribute(start, reader, b"type").as_deref() == Some(CIM_MRID_PRIVATE_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrids_are_keyed_by_path_and_other_privates_ignored() {
        let scl = br#"<SCL><Substation name="S"><Private type="gridtrust:cim-mrid">_s1</Private>
            <VoltageLevel name="V"><Bay name="B"><ConductingEquipment name="Q" type="CBR">
              <Private type="vendor">not this</Private>
              <Private type="gridtrust:cim-mrid"> q1 </Private>
              <Terminal name="T1"/>
            </ConductingEquipment></Bay></VoltageLevel>
            <PowerTransformer name="T"><Private type="gridtrust:cim-mrid">t1</Private></PowerTransformer>
            </Substation></SCL>"#;
        let found = cim_mrids(scl);
        let expected: BTreeMap<String, String> =
            [("S", "s1"), ("S/V/B/Q", "q1"), ("S/T", "t1")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn broken_xml_ends_the_scan_without_panicking() {
        assert!(cim_mrids(b"<SCL><Substation name=\"S\"><Private type=\"gridtrust:cim-mrid\">x</Bay>").is_empty());
    }
}
