//! Qualified names of classes and properties, written with a fixed prefix per namespace.
//!
//! Files choose their own prefixes (`cim:`, `cim16:`, …); the graph must not care, so every name
//! is rewritten to one canonical prefix per known namespace URI ([`CIM`] and [`CIM100`] both to
//! `cim:`, [`ENTSOE`], [`EU`], [`MD`], [`RDF`]) and to Clark notation (`{uri}Local`) for any other
//! namespace. CIM 16 and CIM 100 share `cim:` because the classes and properties CGMES 2.4.15 and
//! 3.0 have in common keep their names; the edition is recorded per file
//! ([`crate::CgmesVersion`]). Names are interned as
//! [`Sym`] so the millions of property statements of a large model do not each own a string.

use std::collections::HashMap;

/// The CIM 16 namespace of CGMES 2.4.15; written `cim:`.
pub const CIM: &str = "http://iec.ch/TC57/2013/CIM-schema-cim16#";
/// The ENTSO-E extension namespace of CGMES 2.4.15; written `entsoe:`.
pub const ENTSOE: &str = "http://entsoe.eu/CIM/SchemaExtension/3/1#";
/// The CIM 100 namespace of CGMES 3.0 (IEC 61970-600-2); written `cim:` like CIM 16.
pub const CIM100: &str = "http://iec.ch/TC57/CIM100#";
/// The European extension namespace of CGMES 3.0; written `eu:`.
pub const EU: &str = "http://iec.ch/TC57/CIM100-European#";
/// The IEC 61970-552 model description namespace (the `md:FullModel` header); written `md:`.
pub const MD: &str = "http://iec.ch/TC57/61970-552/ModelDescription/1#";
/// The RDF syntax namespace; written `rdf:`.
pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

const KNOWN: [(&str, &str); 6] = [(CIM, "cim"), (CIM100, "cim"), (ENTSOE, "entsoe"), (EU, "eu"), (MD, "md"), (RDF, "rdf")];

/// The canonical prefix for a namespace URI, if it is one CGMES 2.4.15 or 3.0 uses.
pub fn canonical_prefix(namespace_uri: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(uri, _)| *uri == namespace_uri).map(|(_, prefix)| *prefix)
}

/// Writes the canonical form of `{namespace}local` into `out` (cleared first).
pub(crate) fn write_canonical(out: &mut String, namespace_uri: Option<&str>, local: &str) {
    out.clear();
    if let Some(uri) = namespace_uri {
        match canonical_prefix(uri) {
            Some(prefix) => {
                out.push_str(prefix);
                out.push(':');
            }
            None => {
                out.push('{');
                out.push_str(uri);
                out.push('}');
            }
        }
    }
    out.push_str(local);
}

/// An interned canonical name; compare symbols instead of strings on hot paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(u32);

/// Owns the canonical names seen so far and hands out one [`Sym`] per distinct name.
#[derive(Debug, Default)]
pub struct Interner {
    by_name: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// The symbol of `name`, created on first sight.
    pub fn intern(&mut self, name: &str) -> Sym {
        if let Some(sym) = self.by_name.get(name) {
            return *sym;
        }
        // More than 4 billion distinct names cannot come from a file that fits in memory; the
        // saturating fallback only keeps the conversion total.
        let sym = Sym(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
        self.names.push(name.into());
        self.by_name.insert(name.into(), sym);
        sym
    }

    /// The symbol of `name` if any file used it (lookups never create names).
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.by_name.get(name).copied()
    }

    /// The canonical name behind a symbol.
    pub fn name(&self, sym: Sym) -> &str {
        usize::try_from(sym.0).ok().and_then(|i| self.names.get(i)).map_or("", |n| n)
    }
}

/// The mRID named by an `rdf:ID`, `rdf:about` or `rdf:resource` value: CGMES 2.4.15 writes
/// `_<uuid>` / `#_<uuid>`, CGMES 3 `urn:uuid:<uuid>`; the key is the bare identifier.
pub fn mrid_of(iri: &str) -> &str {
    let bare = iri.strip_prefix("urn:uuid:").or_else(|| iri.strip_prefix('#')).unwrap_or(iri);
    bare.strip_prefix('_').unwrap_or(bare)
}

/// True when an `rdf:resource` value points at an object (`#_id`, `urn:uuid:…`, a bare id)
/// rather than at a schema IRI such as an enumeration literal (`http://…#PhaseCode.ABC`).
pub fn is_object_reference(iri: &str) -> bool {
    iri.starts_with('#') || iri.starts_with("urn:uuid:") || !iri.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_namespaces_get_fixed_prefixes_and_others_clark_notation() {
        let mut s = String::new();
        write_canonical(&mut s, Some(CIM), "ACLineSegment");
        assert_eq!(s, "cim:ACLineSegment");
        write_canonical(&mut s, Some(CIM100), "ACLineSegment");
        assert_eq!(s, "cim:ACLineSegment", "CIM 100 shares the prefix of CIM 16");
        write_canonical(&mut s, Some(EU), "IdentifiedObject.shortName");
        assert_eq!(s, "eu:IdentifiedObject.shortName");
        write_canonical(&mut s, Some("http://example.org/x#"), "Thing");
        assert_eq!(s, "{http://example.org/x#}Thing");
        write_canonical(&mut s, None, "bare");
        assert_eq!(s, "bare");
    }

    #[test]
    fn mrids_lose_hash_underscore_and_urn_prefix() {
        assert_eq!(mrid_of("#_abc"), "abc");
        assert_eq!(mrid_of("_abc"), "abc");
        assert_eq!(mrid_of("urn:uuid:abc"), "abc");
        assert_eq!(mrid_of("abc"), "abc");
        assert!(is_object_reference("#_abc"));
        assert!(!is_object_reference("http://iec.ch/TC57/2013/CIM-schema-cim16#PhaseCode.ABC"));
    }

    #[test]
    fn interning_is_stable() {
        let mut i = Interner::default();
        let a = i.intern("cim:Terminal");
        assert_eq!(i.intern("cim:Terminal"), a);
        assert_ne!(i.intern("cim:Bay"), a);
        assert_eq!(i.name(a), "cim:Terminal");
        assert_eq!(i.get("cim:Nope"), None);
    }
}
