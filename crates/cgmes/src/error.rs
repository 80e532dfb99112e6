//! Why an import failed, and where: every error names the file, and those about content name the
//! line and the element as well.

use std::path::PathBuf;

/// A failed import. Unresolved references are not errors (partial models are normal, e.g. an IGM
/// without its boundary set); they are [`crate::Diagnostic`]s on the model.
#[derive(Debug, thiserror::Error)]
pub enum CgmesError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A zip archive could not be opened or one of its entries read.
    #[error("{path}: zip archive: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        source: zip::result::ZipError,
    },
    /// A path given for import holds no `.xml` or `.zip` file.
    #[error("{path}: no CGMES files (*.xml, *.zip) found")]
    NoFiles {
        /// The folder.
        path: PathBuf,
    },
    /// The bytes are not well-formed XML (or not UTF-8).
    #[error("{file}:{line}: not well-formed XML near <{element}>: {message}")]
    Xml {
        /// The file (for zip entries: `archive.zip/entry.xml`).
        file: String,
        /// 1-based line.
        line: u64,
        /// The element being read, or `-` outside any element.
        element: String,
        /// What the XML parser said.
        message: String,
    },
    /// Well-formed XML that is not the RDF/XML subset CGMES uses.
    #[error("{file}:{line}: <{element}>: {problem}")]
    Rdf {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The element at fault, or `-` outside any element.
        element: String,
        /// What is wrong.
        problem: RdfProblem,
    },
    /// A literal that the CIM type of its property does not allow (e.g. `abc` for a float).
    #[error("{file}:{line}: <{element}> of {mrid}: {value:?} is not a valid {expected}")]
    InvalidValue {
        /// The file that stated the value.
        file: String,
        /// 1-based line of the property element.
        line: u64,
        /// The property (canonical name, e.g. `cim:ACLineSegment.r`).
        element: String,
        /// The object the property belongs to.
        mrid: String,
        /// The literal as written.
        value: String,
        /// The expected type (`float`, `integer`, `non-negative integer`, `boolean`).
        expected: &'static str,
    },
}

/// What is wrong with a well-formed document as CGMES RDF/XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdfProblem {
    /// The document element is not `rdf:RDF`.
    #[error("the document element must be rdf:RDF")]
    NotRdfRoot,
    /// The document has no element at all.
    #[error("the document has no rdf:RDF element")]
    MissingRoot,
    /// Another element follows the closed `rdf:RDF`.
    #[error("content after the closing rdf:RDF")]
    ContentAfterRoot,
    /// The file ends inside an element.
    #[error("the file ends inside this element")]
    Unterminated,
    /// A node element has neither `rdf:ID` nor `rdf:about`.
    #[error("object without rdf:ID or rdf:about")]
    MissingSubject,
    /// A node element has an empty identifier.
    #[error("empty rdf:ID or rdf:about")]
    EmptySubject,
    /// A node element inside a property: CGMES never nests objects.
    #[error("nested elements inside a property are not part of CGMES RDF/XML")]
    NestedElement,
    /// Non-blank text where only elements may be.
    #[error("text outside a property: {0:?}")]
    StrayText(String),
    /// A property element with both `rdf:resource` and text.
    #[error("property has both rdf:resource and a text value")]
    ResourceWithText,
    /// An entity other than the five predefined XML entities or a character reference.
    #[error("undefined entity &{0};")]
    UnknownEntity(String),
    /// A `<!DOCTYPE>`: CGMES files have none, and a DTD could declare entities.
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
    /// An element or attribute prefix that no `xmlns` declares.
    #[error("undeclared namespace prefix {0:?}")]
    UndeclaredPrefix(String),
}
