//! A pull cursor over quick-xml events that knows line and column of every element and walks the
//! tree one child at a time, skipping whatever the caller does not ask for. The SCL reader is
//! written as plain recursive descent on top of it; the skipping is iterative, so deeply nested
//! unknown elements cannot overflow the stack.

use std::sync::Arc;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::{Location, Problem, SclError};

/// Line and column (both from 1; the column counts bytes) of an element's `<`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// Counts newlines lazily: positions only move forward during a parse, so each byte is scanned
/// once (memchr), which keeps line tracking cheap next to the XML parsing itself.
struct LineCounter {
    scanned_to: usize,
    line: u32,
    line_start: usize,
}

impl LineCounter {
    fn position(&mut self, input: &[u8], offset: usize) -> Pos {
        let offset = offset.min(input.len());
        if offset < self.scanned_to {
            // Only error positions can lie behind; recount from the start for them.
            self.scanned_to = 0;
            self.line = 1;
            self.line_start = 0;
        }
        let window = input.get(self.scanned_to..offset).unwrap_or_default();
        for newline in memchr::memchr_iter(b'\n', window) {
            self.line = self.line.saturating_add(1);
            self.line_start = self.scanned_to + newline + 1;
        }
        self.scanned_to = offset;
        let column = u32::try_from(offset - self.line_start + 1).unwrap_or(u32::MAX);
        Pos { line: self.line, column }
    }
}

macro_rules! tags {
    ($($variant:ident),* $(,)?) => {
        /// The SCL elements this reader understands; everything else is `Other` and skipped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(clippy::upper_case_acronyms)]
        pub(crate) enum Tag { $($variant,)* Other }

        impl Tag {
            fn from_local_name(name: &[u8]) -> Tag {
                $(if name == stringify!($variant).as_bytes() { return Tag::$variant; })*
                Tag::Other
            }

            /// The element name as written in SCL, for error locations.
            pub fn name(self) -> &'static str {
                match self { $(Tag::$variant => stringify!($variant),)* Tag::Other => "element" }
            }
        }
    };
}

tags!(
    SCL,
    Header,
    Substation,
    VoltageLevel,
    Voltage,
    Bay,
    ConductingEquipment,
    SubEquipment,
    PowerTransformer,
    TransformerWinding,
    TapChanger,
    Terminal,
    ConnectivityNode,
    LNode,
    Function,
    SubFunction,
    EqFunction,
    EqSubFunction,
    GeneralEquipment,
    Communication,
    SubNetwork,
    ConnectedAP,
    Address,
    P,
    GSE,
    SMV,
    IED,
    AccessPoint,
    Server,
    LDevice,
    LN0,
    LN,
    DOI,
    SDI,
    DAI,
    Val,
    DataSet,
    FCDA,
    ReportControl,
    TrgOps,
    OptFields,
    RptEnabled,
    ClientLN,
    GSEControl,
    SampledValueControl,
    LogControl,
    SettingControl,
    Inputs,
    ExtRef,
    DataTypeTemplates,
    LNodeType,
    DO,
    DOType,
    SDO,
    DA,
    DAType,
    BDA,
    EnumType,
    EnumVal,
);

macro_rules! attribute_names {
    ($($name:literal),* $(,)?) => {
        /// Interns the attribute names the reader uses, so attributes are collected in one pass
        /// without allocating keys; attributes the reader never asks for are dropped unread.
        fn intern_attribute(key: &[u8]) -> Option<&'static str> {
            match key { $(k if k == $name.as_bytes() => Some($name),)* _ => None }
        }
    };
}

attribute_names!(
    "name",
    "desc",
    "id",
    "version",
    "revision",
    "toolID",
    "nameStructure",
    "manufacturer",
    "type",
    "configVersion",
    "inst",
    "ldName",
    "lnClass",
    "lnType",
    "prefix",
    "lnInst",
    "ldInst",
    "iedName",
    "apName",
    "cbName",
    "doName",
    "daName",
    "fc",
    "bType",
    "count",
    "cdc",
    "ord",
    "datSet",
    "rptID",
    "confRev",
    "buffered",
    "bufTime",
    "intgPd",
    "indexed",
    "dchg",
    "qchg",
    "dupd",
    "period",
    "gi",
    "seqNum",
    "timeStamp",
    "dataSet",
    "reasonCode",
    "dataRef",
    "entryID",
    "configRef",
    "bufOvfl",
    "max",
    "appID",
    "fixedOffs",
    "smvID",
    "smpRate",
    "nofASDU",
    "multicast",
    "sGroup",
    "unit",
    "multiplier",
    "connectivityNode",
    "substationName",
    "voltageLevelName",
    "bayName",
    "cNodeName",
    "pathName",
    "virtual",
    "phase",
    "nomFreq",
    "numPhases",
    "transient",
    "valKind",
    "ix",
    "logName",
    "logEna",
    "numOfSGs",
    "actSG",
    "intAddr",
    "serviceType",
    "srcLDInst",
    "srcPrefix",
    "srcLNClass",
    "srcLNInst",
    "srcCBName",
);

/// One opened element: its tag, where it starts, its attributes, and how to find its end.
pub(crate) struct Element {
    pub tag: Tag,
    pub pos: Pos,
    /// Nesting depth after this element opened; its children live one level below.
    level: usize,
    /// `<X/>`: no children and no text.
    empty: bool,
    attributes: Vec<(&'static str, String)>,
}

impl Element {
    /// Looks at an attribute without taking it.
    pub fn peek(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    /// Takes an attribute's (unescaped) value out of the element.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let index = self.attributes.iter().position(|(key, _)| *key == name)?;
        Some(self.attributes.swap_remove(index).1)
    }
}

pub(crate) struct XmlCursor<'a> {
    reader: Reader<&'a [u8]>,
    input: &'a [u8],
    file: Arc<str>,
    lines: LineCounter,
    depth: usize,
}

impl<'a> XmlCursor<'a> {
    pub fn new(file: Arc<str>, input: &'a [u8]) -> Self {
        let reader = Reader::from_reader(input);
        XmlCursor { reader, input, file, lines: LineCounter { scanned_to: 0, line: 1, line_start: 0 }, depth: 0 }
    }

    pub fn location(&self, pos: Pos, element: &'static str) -> Location {
        Location { file: self.file.clone(), line: pos.line, column: pos.column, element }
    }

    fn syntax_error(&mut self, element: &'static str, message: String) -> Box<SclError> {
        let offset = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
        let pos = self.lines.position(self.input, offset);
        Box::new(SclError { location: self.location(pos, element), problem: Problem::Syntax(message) })
    }

    fn next_event(&mut self, context: &'static str) -> Result<(Event<'a>, usize), Box<SclError>> {
        let offset = usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX);
        match self.reader.read_event() {
            Ok(event) => Ok((event, offset)),
            Err(error) => Err(self.syntax_error(context, error.to_string())),
        }
    }

    fn open(&mut self, start: &BytesStart<'_>, offset: usize, empty: bool) -> Result<Element, Box<SclError>> {
        let tag = Tag::from_local_name(start.local_name().as_ref());
        let pos = self.lines.position(self.input, offset);
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| self.syntax_error(tag.name(), e.to_string()))?;
            let Some(key) = intern_attribute(attribute.key.as_ref()) else { continue };
            let value = attribute
                .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, self.reader.decoder())
                .map_err(|e| Box::new(SclError { location: self.location(pos, tag.name()), problem: Problem::Syntax(e.to_string()) }))?;
            attributes.push((key, value.into_owned()));
        }
        if !empty {
            self.depth += 1;
        }
        Ok(Element { tag, pos, level: self.depth, empty, attributes })
    }

    /// The document's root element and its name as written (to name a wrong root).
    pub fn root(&mut self) -> Result<Option<(Element, String)>, Box<SclError>> {
        loop {
            match self.next_event("SCL")? {
                (Event::Start(start), offset) => {
                    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                    return self.open(&start, offset, false).map(|e| Some((e, name)));
                }
                (Event::Empty(start), offset) => {
                    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                    return self.open(&start, offset, true).map(|e| Some((e, name)));
                }
                (Event::Eof, _) => return Ok(None),
                _ => {}
            }
        }
    }

    /// Reads on to the end of the input so that syntax errors after the root are reported too.
    pub fn finish(&mut self) -> Result<(), Box<SclError>> {
        loop {
            if let (Event::Eof, _) = self.next_event("SCL")? {
                return Ok(());
            }
        }
    }

    fn skip_to(&mut self, level: usize, context: &'static str) -> Result<(), Box<SclError>> {
        while self.depth > level {
            match self.next_event(context)? {
                (Event::Start(_), _) => self.depth += 1,
                (Event::End(_), _) => self.depth = self.depth.saturating_sub(1),
                (Event::Eof, _) => return Err(self.unexpected_eof(context)),
                _ => {}
            }
        }
        Ok(())
    }

    fn unexpected_eof(&mut self, context: &'static str) -> Box<SclError> {
        let pos = self.lines.position(self.input, self.input.len());
        Box::new(SclError { location: self.location(pos, context), problem: Problem::Syntax(format!("the file ends inside <{context}>")) })
    }

    /// The next child element of `parent`, skipping the rest of the previous child; `None` once
    /// `parent` has ended.
    pub fn next_child(&mut self, parent: &Element) -> Result<Option<Element>, Box<SclError>> {
        if parent.empty || self.depth < parent.level {
            return Ok(None);
        }
        self.skip_to(parent.level, parent.tag.name())?;
        loop {
            match self.next_event(parent.tag.name())? {
                (Event::Start(start), offset) => return self.open(&start, offset, false).map(Some),
                (Event::Empty(start), offset) => return self.open(&start, offset, true).map(Some),
                (Event::End(_), _) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(None);
                }
                (Event::Eof, _) => return Err(self.unexpected_eof(parent.tag.name())),
                _ => {}
            }
        }
    }

    /// The text content of `element` (entities resolved, child elements ignored). Call it instead
    /// of walking the children.
    pub fn text(&mut self, element: &Element) -> Result<String, Box<SclError>> {
        let mut text = String::new();
        if element.empty || self.depth < element.level {
            return Ok(text);
        }
        let context = element.tag.name();
        while self.depth >= element.level {
            match self.next_event(context)? {
                (Event::Text(chunk), _) => {
                    let chunk = chunk.xml10_content().map_err(|e| self.syntax_error(context, e.to_string()))?;
                    text.push_str(&chunk);
                }
                (Event::CData(chunk), _) => {
                    let chunk = chunk.decode().map_err(|e| self.syntax_error(context, e.to_string()))?;
                    text.push_str(&chunk);
                }
                (Event::GeneralRef(reference), _) => {
                    let name = reference.decode().map_err(|e| self.syntax_error(context, e.to_string()))?;
                    let escaped = format!("&{name};");
                    let resolved = quick_xml::escape::unescape(&escaped).map_err(|e| self.syntax_error(context, e.to_string()))?;
                    text.push_str(&resolved);
                }
                (Event::Start(_), _) => {
                    self.depth += 1;
                    self.skip_to(element.level, context)?;
                }
                (Event::End(_), _) => self.depth = self.depth.saturating_sub(1),
                (Event::Eof, _) => return Err(self.unexpected_eof(context)),
                _ => {}
            }
        }
        Ok(text)
    }
}
