//! A streaming reader for the RDF/XML subset that CGMES files use.
//!
//! The subset (IEC 61970-552): one `rdf:RDF` document element whose children are objects, each
//! either defined (`<cim:Terminal rdf:ID="_t1">`) or described by reference from another profile
//! (`<cim:Terminal rdf:about="#_t1">`); an object's children are properties holding a literal
//! (`<cim:Terminal.phases>…</…>` text) or a reference (`rdf:resource="#_cn1"` for an object,
//! `rdf:resource="http://…#PhaseCode.ABC"` for an enumeration value). Nothing nests deeper. The
//! reader yields one [`Description`] per object while it reads, so memory does not grow with the
//! file, and it counts lines as it goes so that every error can name file, line and element.

use std::io::{self, BufRead, Read};

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::{QName, ResolveResult};

use crate::error::{CgmesError, RdfProblem};
use crate::names::{self, Interner, Sym};
use crate::version::CgmesVersion;

/// One object statement block: everything one file says about one object in one element.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Canonical class name (e.g. `cim:ACLineSegment`).
    pub class: Sym,
    /// The mRID and whether this element defines the object or adds to one defined elsewhere.
    pub subject: Subject,
    /// 1-based line of the element's start tag.
    pub line: u64,
    /// The properties in file order.
    pub properties: Vec<Property>,
}

/// Whose description this is: `rdf:ID` defines an object, `rdf:about` describes one by reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `rdf:ID="_x"`: the object is defined here (normally in EQ or TP).
    Defined(String),
    /// `rdf:about="#_x"`: properties for an object defined in another file (SSH, TP, SV, DY…).
    Described(String),
}

impl Subject {
    /// The mRID, without `_`, `#` or `urn:uuid:`.
    pub fn mrid(&self) -> &str {
        match self {
            Subject::Defined(m) | Subject::Described(m) => m,
        }
    }
}

/// One property element.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Canonical property name (e.g. `cim:ACLineSegment.r`).
    pub predicate: Sym,
    /// What the property says.
    pub value: Value,
    /// 1-based line of the property's start tag.
    pub line: u64,
}

/// The value of a property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text content, entities resolved.
    Literal(String),
    /// `rdf:resource` naming an object: the target's mRID.
    Reference(String),
    /// `rdf:resource` naming anything else, typically an enumeration value.
    Iri(String),
}

/// Counts consumed bytes and line breaks under the XML parser, which only reports byte offsets.
struct CountingReader<R> {
    inner: R,
    consumed: u64,
    newlines: u64,
}

impl<R: BufRead> Read for CountingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if amount > 0 {
            // The bytes being consumed are still in the inner buffer: a second fill_buf returns
            // them without reading.
            if let Ok(buffer) = self.inner.fill_buf() {
                let seen = buffer.get(..amount).unwrap_or(buffer);
                self.newlines += memchr::memchr_iter(b'\n', seen).count() as u64;
            }
            self.consumed += amount as u64;
        }
        self.inner.consume(amount);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocumentState {
    BeforeRoot,
    InsideRoot,
    Finished,
}

/// Pulls [`Description`]s out of one CGMES RDF/XML file.
pub struct RdfXmlReader<R: BufRead> {
    xml: NsReader<CountingReader<R>>,
    file: String,
    buf: Vec<u8>,
    name: String,
    text: String,
    state: DocumentState,
    versions: Vec<CgmesVersion>,
}

/// What the RDF attributes of an element say.
#[derive(Default)]
struct RdfAttributes {
    id: Option<String>,
    about: Option<String>,
    resource: Option<String>,
}

impl<R: BufRead> RdfXmlReader<R> {
    /// A reader over `source`; `file` is the name used in errors.
    pub fn new(source: R, file: impl Into<String>) -> Self {
        let mut xml = NsReader::from_reader(CountingReader { inner: source, consumed: 0, newlines: 0 });
        let config = xml.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        RdfXmlReader {
            xml,
            file: file.into(),
            buf: Vec::with_capacity(1024),
            name: String::new(),
            text: String::new(),
            state: DocumentState::BeforeRoot,
            versions: Vec::new(),
        }
    }

    /// Bytes consumed so far, for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.xml.get_ref().consumed
    }

    /// The CGMES editions whose namespaces the object elements read so far are in (CIM 16 or
    /// ENTSO-E 3/1 for 2.4.15, CIM 100 or CIM100-European for 3.0), in order of first sight.
    pub fn cim_versions(&self) -> &[CgmesVersion] {
        &self.versions
    }

    /// The next object description, or `None` at the end of the document.
    pub fn next_description(&mut self, names: &mut Interner) -> Result<Option<Description>, CgmesError> {
        loop {
            self.buf.clear();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => return Err(xml_error(&self.file, line_now(&self.xml), "-", &e)),
            };
            match event {
                Event::Start(start) if self.state == DocumentState::BeforeRoot => {
                    check_root(&self.xml, &start, &self.file, &mut self.name)?;
                    self.state = DocumentState::InsideRoot;
                }
                Event::Empty(start) if self.state == DocumentState::BeforeRoot => {
                    check_root(&self.xml, &start, &self.file, &mut self.name)?;
                    self.state = DocumentState::Finished;
                }
                Event::Start(start) | Event::Empty(start) if self.state == DocumentState::Finished => {
                    let line = line_of_tag(&self.xml, &start);
                    let element = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                    return Err(rdf_error(&self.file, line, &element, RdfProblem::ContentAfterRoot));
                }
                Event::Start(start) => {
                    let line = line_of_tag(&self.xml, &start);
                    let (class, subject, version) = node_head(&self.xml, &start, line, &self.file, &mut self.name, names)?;
                    self.note_version(version);
                    let properties = self.read_properties(line, class, names)?;
                    return Ok(Some(Description { class, subject, line, properties }));
                }
                Event::Empty(start) => {
                    let line = line_of_tag(&self.xml, &start);
                    let (class, subject, version) = node_head(&self.xml, &start, line, &self.file, &mut self.name, names)?;
                    self.note_version(version);
                    return Ok(Some(Description { class, subject, line, properties: Vec::new() }));
                }
                Event::End(_) => self.state = DocumentState::Finished,
                Event::Text(text) => require_blank(&text, line_now(&self.xml), &self.file, "-")?,
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(rdf_error(&self.file, line_now(&self.xml), "-", RdfProblem::StrayText("&…; or CDATA".into())));
                }
                Event::DocType(_) => return Err(rdf_error(&self.file, line_now(&self.xml), "-", RdfProblem::Doctype)),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    return match self.state {
                        DocumentState::BeforeRoot => Err(rdf_error(&self.file, line_now(&self.xml), "-", RdfProblem::MissingRoot)),
                        DocumentState::InsideRoot => Err(rdf_error(&self.file, line_now(&self.xml), "rdf:RDF", RdfProblem::Unterminated)),
                        DocumentState::Finished => Ok(None),
                    };
                }
            }
        }
    }

    fn note_version(&mut self, version: Option<CgmesVersion>) {
        if let Some(version) = version.filter(|v| !self.versions.contains(v)) {
            self.versions.push(version);
        }
    }

    /// Reads property elements up to the end tag of the object element.
    fn read_properties(&mut self, node_line: u64, class: Sym, names: &mut Interner) -> Result<Vec<Property>, CgmesError> {
        let mut properties = Vec::new();
        loop {
            self.buf.clear();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => return Err(xml_error(&self.file, line_now(&self.xml), names.name(class), &e)),
            };
            match event {
                Event::Start(start) => {
                    let line = line_of_tag(&self.xml, &start);
                    let (predicate, resource) = property_head(&self.xml, &start, line, &self.file, &mut self.name, class, names)?;
                    let value = self.read_property_text(line, predicate, resource, names)?;
                    properties.push(Property { predicate, value, line });
                }
                Event::Empty(start) => {
                    let line = line_of_tag(&self.xml, &start);
                    let (predicate, resource) = property_head(&self.xml, &start, line, &self.file, &mut self.name, class, names)?;
                    let value = resource.map_or_else(|| Value::Literal(String::new()), resource_value);
                    properties.push(Property { predicate, value, line });
                }
                Event::End(_) => return Ok(properties),
                Event::Text(text) => require_blank(&text, line_now(&self.xml), &self.file, names.name(class))?,
                Event::CData(_) | Event::GeneralRef(_) => {
                    let stray = RdfProblem::StrayText("&…; or CDATA".into());
                    return Err(rdf_error(&self.file, line_now(&self.xml), names.name(class), stray));
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) | Event::Decl(_) => {
                    return Err(xml_error(&self.file, line_now(&self.xml), names.name(class), &"declaration inside an element"));
                }
                Event::Eof => return Err(rdf_error(&self.file, node_line, names.name(class), RdfProblem::Unterminated)),
            }
        }
    }

    /// Reads the content of a property element up to its end tag.
    fn read_property_text(&mut self, line: u64, predicate: Sym, resource: Option<String>, names: &Interner) -> Result<Value, CgmesError> {
        self.text.clear();
        loop {
            self.buf.clear();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => return Err(xml_error(&self.file, line_now(&self.xml), names.name(predicate), &e)),
            };
            match event {
                Event::Text(text) => {
                    let decoded = text.xml10_content().map_err(|e| xml_error(&self.file, line, names.name(predicate), &e))?;
                    self.text.push_str(&decoded);
                }
                Event::CData(data) => {
                    let decoded = data.xml10_content().map_err(|e| xml_error(&self.file, line, names.name(predicate), &e))?;
                    self.text.push_str(&decoded);
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        Ok(None) => {
                            let entity = reference.decode().map_err(|e| xml_error(&self.file, line, names.name(predicate), &e))?;
                            match predefined_entity(&entity) {
                                Some(ch) => ch,
                                None => {
                                    let problem = RdfProblem::UnknownEntity(entity.chars().take(40).collect());
                                    return Err(rdf_error(&self.file, line, names.name(predicate), problem));
                                }
                            }
                        }
                        Err(e) => return Err(xml_error(&self.file, line, names.name(predicate), &e)),
                    };
                    self.text.push(resolved);
                }
                Event::End(_) => {
                    return match resource {
                        Some(resource) if self.text.trim().is_empty() => Ok(resource_value(resource)),
                        Some(_) => Err(rdf_error(&self.file, line, names.name(predicate), RdfProblem::ResourceWithText)),
                        None => Ok(Value::Literal(self.text.clone())),
                    };
                }
                Event::Start(_) | Event::Empty(_) => {
                    return Err(rdf_error(&self.file, line_now(&self.xml), names.name(predicate), RdfProblem::NestedElement));
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) | Event::Decl(_) => {
                    return Err(xml_error(&self.file, line_now(&self.xml), names.name(predicate), &"declaration inside an element"));
                }
                Event::Eof => return Err(rdf_error(&self.file, line, names.name(predicate), RdfProblem::Unterminated)),
            }
        }
    }
}

/// Checks that the document element is `rdf:RDF`.
fn check_root<R: BufRead>(
    xml: &NsReader<CountingReader<R>>,
    start: &BytesStart<'_>,
    file: &str,
    name: &mut String,
) -> Result<(), CgmesError> {
    let line = line_of_tag(xml, start);
    canonical_element_name(xml, start, name).map_err(|p| rdf_error(file, line, "-", p))?;
    if name != "rdf:RDF" {
        return Err(rdf_error(file, line, name, RdfProblem::NotRdfRoot));
    }
    Ok(())
}

/// Class, subject and (for a CIM or CGMES extension class) edition of an object element.
fn node_head<R: BufRead>(
    xml: &NsReader<CountingReader<R>>,
    start: &BytesStart<'_>,
    line: u64,
    file: &str,
    name: &mut String,
    names: &mut Interner,
) -> Result<(Sym, Subject, Option<CgmesVersion>), CgmesError> {
    let version = canonical_element_name(xml, start, name).map_err(|p| rdf_error(file, line, "-", p))?;
    let class = names.intern(name);
    let attributes = rdf_attributes(xml, start).map_err(|e| e.into_error(file, line, name))?;
    let subject = match (attributes.id, attributes.about) {
        (Some(id), _) => Subject::Defined(names::mrid_of(&id).to_owned()),
        (None, Some(about)) => Subject::Described(names::mrid_of(&about).to_owned()),
        (None, None) => return Err(rdf_error(file, line, name, RdfProblem::MissingSubject)),
    };
    if subject.mrid().is_empty() {
        return Err(rdf_error(file, line, name, RdfProblem::EmptySubject));
    }
    Ok((class, subject, version))
}

/// Name and `rdf:resource` of a property element.
fn property_head<R: BufRead>(
    xml: &NsReader<CountingReader<R>>,
    start: &BytesStart<'_>,
    line: u64,
    file: &str,
    name: &mut String,
    class: Sym,
    names: &mut Interner,
) -> Result<(Sym, Option<String>), CgmesError> {
    canonical_element_name(xml, start, name).map_err(|p| rdf_error(file, line, names.name(class), p))?;
    let predicate = names.intern(name);
    let attributes = rdf_attributes(xml, start).map_err(|e| e.into_error(file, line, names.name(predicate)))?;
    Ok((predicate, attributes.resource))
}

/// Text between elements must be white space: CGMES has no mixed content.
fn require_blank(text: &BytesText<'_>, line: u64, file: &str, element: &str) -> Result<(), CgmesError> {
    let decoded = text.decode().map_err(|e| xml_error(file, line, element, &e))?;
    let trimmed = decoded.trim();
    if trimmed.is_empty() { Ok(()) } else { Err(rdf_error(file, line, element, RdfProblem::StrayText(trimmed.chars().take(40).collect()))) }
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

fn resource_value(resource: String) -> Value {
    if names::is_object_reference(&resource) { Value::Reference(names::mrid_of(&resource).to_owned()) } else { Value::Iri(resource) }
}

/// The line the reader has reached (after the last event).
fn line_now<R: BufRead>(xml: &NsReader<CountingReader<R>>) -> u64 {
    xml.get_ref().newlines + 1
}

/// The line a just-read start tag began on: line breaks inside the tag are already counted.
fn line_of_tag<R: BufRead>(xml: &NsReader<CountingReader<R>>, start: &BytesStart<'_>) -> u64 {
    let inside = memchr::memchr_iter(b'\n', start.as_ref()).count() as u64;
    line_now(xml).saturating_sub(inside).max(1)
}

/// Writes the canonical name of an element into `out`; returns the CGMES edition its namespace
/// belongs to, if any.
fn canonical_element_name<R: BufRead>(
    xml: &NsReader<CountingReader<R>>,
    start: &BytesStart<'_>,
    out: &mut String,
) -> Result<Option<CgmesVersion>, RdfProblem> {
    let (namespace, local) = xml.resolver().resolve_element(start.name());
    let local = String::from_utf8_lossy(local.as_ref());
    match namespace {
        ResolveResult::Bound(ns) => {
            let uri = String::from_utf8_lossy(ns.as_ref());
            names::write_canonical(out, Some(&uri), &local);
            Ok(CgmesVersion::of_namespace(&uri))
        }
        ResolveResult::Unbound => {
            names::write_canonical(out, None, &local);
            Ok(None)
        }
        ResolveResult::Unknown(prefix) => Err(RdfProblem::UndeclaredPrefix(String::from_utf8_lossy(&prefix).into_owned())),
    }
}

/// Why the attributes of an element could not be read.
enum AttributeError {
    Xml(String),
    Rdf(RdfProblem),
}

impl AttributeError {
    fn into_error(self, file: &str, line: u64, element: &str) -> CgmesError {
        match self {
            AttributeError::Xml(message) => CgmesError::Xml { file: file.to_owned(), line, element: element.to_owned(), message },
            AttributeError::Rdf(problem) => rdf_error(file, line, element, problem),
        }
    }
}

/// `rdf:ID`, `rdf:about` and `rdf:resource` of an element, whatever prefix the file binds RDF to.
fn rdf_attributes<R: BufRead>(xml: &NsReader<CountingReader<R>>, start: &BytesStart<'_>) -> Result<RdfAttributes, AttributeError> {
    let mut found = RdfAttributes::default();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| AttributeError::Xml(e.to_string()))?;
        let key: QName<'_> = attribute.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let (namespace, local) = xml.resolver().resolve_attribute(key);
        let in_rdf = match namespace {
            ResolveResult::Bound(ns) => ns.as_ref() == names::RDF.as_bytes(),
            ResolveResult::Unbound => false,
            ResolveResult::Unknown(prefix) => {
                return Err(AttributeError::Rdf(RdfProblem::UndeclaredPrefix(String::from_utf8_lossy(&prefix).into_owned())));
            }
        };
        if !in_rdf {
            continue;
        }
        let slot = match local.as_ref() {
            b"ID" => &mut found.id,
            b"about" => &mut found.about,
            b"resource" => &mut found.resource,
            _ => continue,
        };
        let value = attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| AttributeError::Xml(e.to_string()))?;
        *slot = Some(value.into_owned());
    }
    Ok(found)
}

fn xml_error(file: &str, line: u64, element: &str, error: &dyn std::fmt::Display) -> CgmesError {
    CgmesError::Xml { file: file.to_owned(), line, element: element.to_owned(), message: error.to_string() }
}

fn rdf_error(file: &str, line: u64, element: &str, problem: RdfProblem) -> CgmesError {
    CgmesError::Rdf { file: file.to_owned(), line, element: element.to_owned(), problem }
}
