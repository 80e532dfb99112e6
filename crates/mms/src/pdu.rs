//! MMS PDUs (ISO 9506-2): initiate, conclude, confirmed request/response/error, reject, cancel and
//! the unconfirmed informationReport, with the confirmed services IEC 61850-8-1 clients use
//! (getNameList, identify, read, write, getVariableAccessAttributes, define/get/delete named
//! variable lists). Other confirmed services are recognised by their tag and kept as raw bytes so
//! a PDU from a wider MMS peer still decodes and can be answered or ignored.

use crate::ber::{self, BerError, BitString, Reader, Tag, Tlv};
use crate::data::{Data, ObjectName, TypeSpec, decode_data_list};

/// A whole MMS PDU.
#[derive(Debug, Clone, PartialEq)]
pub enum MmsPdu {
    /// confirmed-RequestPDU [0]
    ConfirmedRequest {
        /// Invoke id chosen by the requester.
        invoke_id: u32,
        /// The service request.
        request: ConfirmedRequest,
    },
    /// confirmed-ResponsePDU [1]
    ConfirmedResponse {
        /// Invoke id of the request answered.
        invoke_id: u32,
        /// The service response.
        response: ConfirmedResponse,
    },
    /// confirmed-ErrorPDU [2]
    ConfirmedError {
        /// Invoke id of the request refused.
        invoke_id: u32,
        /// Why.
        error: ServiceError,
    },
    /// unconfirmed-PDU [3] with an informationReport (the only unconfirmed service IEC 61850 uses).
    InformationReport(InformationReport),
    /// rejectPDU [4]
    Reject(Reject),
    /// cancel-RequestPDU [5]
    CancelRequest(u32),
    /// cancel-ResponsePDU [6]
    CancelResponse(u32),
    /// initiate-RequestPDU [8]
    InitiateRequest(InitiateParams),
    /// initiate-ResponsePDU [9]
    InitiateResponse(InitiateParams),
    /// initiate-ErrorPDU [10]
    InitiateError(ServiceError),
    /// conclude-RequestPDU [11]
    ConcludeRequest,
    /// conclude-ResponsePDU [12]
    ConcludeResponse,
    /// conclude-ErrorPDU [13]
    ConcludeError(ServiceError),
}

/// Parameters of initiate-Request and initiate-Response (same shape, calling/called mirrored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateParams {
    /// localDetailCalling/Called: the largest PDU size this side accepts.
    pub local_detail: Option<i32>,
    /// Max outstanding requests the calling side may have.
    pub max_serv_outstanding_calling: i32,
    /// Max outstanding requests the called side may have.
    pub max_serv_outstanding_called: i32,
    /// Data structure nesting level.
    pub data_structure_nesting_level: Option<i32>,
    /// MMS version (1 for ISO 9506:2003).
    pub version: i32,
    /// Parameter CBBs (str1, str2, vnam, valt, vadr, ..., vlis ...).
    pub parameter_cbb: BitString,
    /// Services supported (bit per service, ISO 9506-2 ServiceSupportOptions).
    pub services_supported: BitString,
}

impl InitiateParams {
    /// What this client proposes: the services and CBBs an IEC 61850 client needs.
    pub fn client_proposal(max_pdu_size: i32) -> InitiateParams {
        // ServiceSupportOptions bits: status 0, getNameList 1, identify 2, read 4, write 5,
        // getVariableAccessAttributes 6, defineNamedVariableList 11,
        // getNamedVariableListAttributes 12, deleteNamedVariableList 13, informationReport 79,
        // conclude 83 (ISO 9506-2 ServiceSupportOptions).
        let services = BitString::with_bits(85, &[0, 1, 2, 4, 5, 6, 11, 12, 13, 79, 83]);
        // ParameterSupportOptions: str1 0, str2 1, vnam 2, valt 3, vlis 7.
        let cbb = BitString::with_bits(11, &[0, 1, 2, 3, 7]);
        InitiateParams {
            local_detail: Some(max_pdu_size),
            max_serv_outstanding_calling: 5,
            max_serv_outstanding_called: 5,
            data_structure_nesting_level: Some(10),
            version: 1,
            parameter_cbb: cbb,
            services_supported: services,
        }
    }
}

/// Scope of a GetNameList request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameScope {
    /// The whole server (e.g. list domains = logical devices).
    Vmd,
    /// One domain (logical device).
    Domain(String),
    /// This association.
    Association,
}

/// ISO 9506 object classes used with GetNameList.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjectClass {
    /// Named variables (IEC 61850: logical nodes and everything below).
    NamedVariable = 0,
    /// Named variable lists (IEC 61850: data sets).
    NamedVariableList = 2,
    /// Journals (IEC 61850: logs).
    Journal = 8,
    /// Domains (IEC 61850: logical devices).
    Domain = 9,
}

impl ObjectClass {
    fn from_code(code: i64) -> Option<ObjectClass> {
        match code {
            0 => Some(ObjectClass::NamedVariable),
            2 => Some(ObjectClass::NamedVariableList),
            8 => Some(ObjectClass::Journal),
            9 => Some(ObjectClass::Domain),
            _ => None,
        }
    }
}

/// Which variables a read, write or report concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableAccess {
    /// A list of named variables.
    List(Vec<ObjectName>),
    /// A named variable list (data set) by name.
    NamedList(ObjectName),
}

/// Confirmed service requests.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmedRequest {
    /// status [0]
    Status {
        /// Extended derivation requested.
        extended: bool,
    },
    /// getNameList [1]
    GetNameList {
        /// Class of objects to list.
        class: ObjectClass,
        /// Where to look.
        scope: NameScope,
        /// Continue after this name (paging).
        continue_after: Option<String>,
    },
    /// identify [2]
    Identify,
    /// read [4]
    Read {
        /// Ask the server to echo the access specification.
        specification_with_result: bool,
        /// What to read.
        variables: VariableAccess,
    },
    /// write [5]
    Write {
        /// What to write.
        variables: VariableAccess,
        /// One value per variable.
        data: Vec<Data>,
    },
    /// getVariableAccessAttributes [6] by name
    GetVariableAccessAttributes(ObjectName),
    /// defineNamedVariableList [11]
    DefineNamedVariableList {
        /// Name of the new list.
        name: ObjectName,
        /// Members.
        variables: Vec<ObjectName>,
    },
    /// getNamedVariableListAttributes [12]
    GetNamedVariableListAttributes(ObjectName),
    /// deleteNamedVariableList [13] with a list of specific names
    DeleteNamedVariableList(Vec<ObjectName>),
    /// Any other confirmed service (program invocations, domains, journals, ...), or no service
    /// element at all: the tag found and the content, undecoded.
    Other {
        /// The element's tag, None when the PDU ended after the invoke id.
        tag: Option<Tag>,
        /// Its content octets.
        body: Vec<u8>,
    },
}

/// Result of accessing one variable.
pub type AccessResult = Result<Data, DataAccessError>;

/// Confirmed service responses.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmedResponse {
    /// getNameList [1]
    GetNameList {
        /// Names in this page.
        identifiers: Vec<String>,
        /// More names after the last one.
        more_follows: bool,
    },
    /// identify [2]
    Identify {
        /// Vendor name.
        vendor: String,
        /// Model name.
        model: String,
        /// Revision.
        revision: String,
    },
    /// read [4]
    Read(Vec<AccessResult>),
    /// write [5]: per variable, success or the access error
    Write(Vec<Result<(), DataAccessError>>),
    /// getVariableAccessAttributes [6]
    GetVariableAccessAttributes {
        /// Whether the variable may be deleted.
        deletable: bool,
        /// Its type.
        type_spec: TypeSpec,
    },
    /// defineNamedVariableList [11]
    DefineNamedVariableList,
    /// getNamedVariableListAttributes [12]
    GetNamedVariableListAttributes {
        /// Whether the list may be deleted.
        deletable: bool,
        /// Members.
        variables: Vec<ObjectName>,
    },
    /// deleteNamedVariableList [13]
    DeleteNamedVariableList {
        /// Lists matched.
        matched: u32,
        /// Lists deleted.
        deleted: u32,
    },
    /// Any other service, or (seen in some captures) no service element at all: the tag found and
    /// the content, undecoded.
    Other {
        /// The element's tag, None when the PDU ended after the invoke id.
        tag: Option<Tag>,
        /// Its content octets.
        body: Vec<u8>,
    },
}

/// DataAccessError codes (ISO 9506-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataAccessError(pub u32);

impl DataAccessError {
    /// object-access-denied
    pub const ACCESS_DENIED: DataAccessError = DataAccessError(3);
    /// object-undefined
    pub const UNDEFINED: DataAccessError = DataAccessError(4);
    /// type-inconsistent
    pub const TYPE_INCONSISTENT: DataAccessError = DataAccessError(7);
    /// object-non-existent
    pub const NON_EXISTENT: DataAccessError = DataAccessError(10);
    /// temporarily-unavailable
    pub const TEMPORARILY_UNAVAILABLE: DataAccessError = DataAccessError(2);

    /// The ISO 9506-2 name of the code.
    pub fn name(&self) -> &'static str {
        match self.0 {
            0 => "object-invalidated",
            1 => "hardware-fault",
            2 => "temporarily-unavailable",
            3 => "object-access-denied",
            4 => "object-undefined",
            5 => "invalid-address",
            6 => "type-unsupported",
            7 => "type-inconsistent",
            8 => "object-attribute-inconsistent",
            9 => "object-access-unsupported",
            10 => "object-non-existent",
            11 => "object-value-invalid",
            _ => "unknown",
        }
    }
}

impl std::fmt::Display for DataAccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A ServiceError: error class (the CHOICE number) and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// 0 vmd-state, 1 application-reference, 2 definition, 3 resource, 4 service,
    /// 5 service-preempt, 6 time-resolution, 7 access, 8 initiate, 9 conclude, 10 cancel, 11 file,
    /// 12 others.
    pub class: u32,
    /// The code within the class.
    pub code: i64,
    /// additionalDescription, when given.
    pub description: Option<String>,
}

/// A rejectPDU: which PDU kind was rejected (CHOICE number) and the reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Invoke id of the rejected PDU, when known.
    pub original_invoke_id: Option<u32>,
    /// 1 confirmed-request, 2 confirmed-response, 3 confirmed-error, 4 unconfirmed, 5 pdu-error, ...
    pub kind: u32,
    /// Reason within that kind.
    pub code: i64,
}

/// An informationReport: reports, LastApplError and CommandTermination all arrive this way.
#[derive(Debug, Clone, PartialEq)]
pub struct InformationReport {
    /// The variables reported (IEC 61850 reports use the VMD-specific list name "RPT").
    pub variables: VariableAccess,
    /// Their values.
    pub results: Vec<AccessResult>,
}

/// Why an MMS PDU could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// Malformed BER or a grammar violation.
    #[error("MMS PDU: {0}")]
    Ber(#[from] BerError),
    /// Bytes after the PDU.
    #[error("{0} trailing byte(s) after the MMS PDU")]
    Trailing(usize),
    /// An unconfirmed service other than informationReport.
    #[error("unsupported unconfirmed service {0}")]
    UnsupportedUnconfirmed(Tag),
}

impl MmsPdu {
    /// Decodes exactly one PDU filling `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<MmsPdu, PduError> {
        let mut r = Reader::new(bytes);
        let tlv = r.next_required("MMSpdu")?;
        if !r.is_empty() {
            return Err(PduError::Trailing(r.remaining().len()));
        }
        let t = tlv.tag;
        if t.class != ber::Class::Context {
            return Err(tlv.unexpected("MMSpdu").into());
        }
        Ok(match (t.number, t.constructed) {
            (0, true) => {
                let mut r = tlv.reader();
                let invoke_id = r.expect(Tag::INTEGER, "invokeID")?.as_u32()?;
                r.optional(Tag::context_constructed(0))?; // listOfModifier (unused by IEC 61850)
                let request =
                    if r.is_empty() { ConfirmedRequest::Other { tag: None, body: Vec::new() } } else { decode_request(&r.read()?)? };
                MmsPdu::ConfirmedRequest { invoke_id, request }
            }
            (1, true) => {
                let mut r = tlv.reader();
                let invoke_id = r.expect(Tag::INTEGER, "invokeID")?.as_u32()?;
                let response =
                    if r.is_empty() { ConfirmedResponse::Other { tag: None, body: Vec::new() } } else { decode_response(&r.read()?)? };
                MmsPdu::ConfirmedResponse { invoke_id, response }
            }
            (2, true) => {
                let mut r = tlv.reader();
                let invoke_id = r.expect(Tag::context(0), "invokeID")?.as_u32()?;
                r.optional(Tag::context(1))?; // modifierPosition
                let error = decode_service_error(&r.expect(Tag::context_constructed(2), "serviceError")?)?;
                MmsPdu::ConfirmedError { invoke_id, error }
            }
            (3, true) => {
                let service = tlv.reader().next_required("unconfirmedService")?;
                if service.tag != Tag::context_constructed(0) {
                    return Err(PduError::UnsupportedUnconfirmed(service.tag));
                }
                let mut r = service.reader();
                let variables = decode_variable_access(&r.next_required("variableAccessSpecification")?)?;
                let list = r.expect(Tag::context_constructed(0), "listOfAccessResult")?;
                MmsPdu::InformationReport(InformationReport { variables, results: decode_access_results(list.reader())? })
            }
            (4, true) => {
                let mut r = tlv.reader();
                let original_invoke_id = r.optional(Tag::context(0))?.map(|t| t.as_u32()).transpose()?;
                let reason = r.next_required("rejectReason")?;
                // rejectReason is a CHOICE of [1]..[11] IMPLICIT INTEGER; any other tag has no
                // meaning and would not survive re-encoding as [n].
                if reason.tag.class != ber::Class::Context || reason.tag.constructed || !(1..=11).contains(&reason.tag.number) {
                    return Err(reason.unexpected("rejectReason [1]..[11]").into());
                }
                MmsPdu::Reject(Reject { original_invoke_id, kind: reason.tag.number, code: reason.as_i64()? })
            }
            (5, false) => MmsPdu::CancelRequest(tlv.as_u32()?),
            (6, false) => MmsPdu::CancelResponse(tlv.as_u32()?),
            (8, true) => MmsPdu::InitiateRequest(decode_initiate(&tlv)?),
            (9, true) => MmsPdu::InitiateResponse(decode_initiate(&tlv)?),
            (10, true) => MmsPdu::InitiateError(decode_service_error(&tlv)?),
            (11, false) => MmsPdu::ConcludeRequest,
            (12, false) => MmsPdu::ConcludeResponse,
            (13, true) => MmsPdu::ConcludeError(decode_service_error(&tlv)?),
            _ => return Err(tlv.unexpected("MMSpdu").into()),
        })
    }

    /// Appends the BER encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MmsPdu::ConfirmedRequest { invoke_id, request } => ber::write_constructed(out, Tag::context_constructed(0), |out| {
                ber::write_u64(out, Tag::INTEGER, u64::from(*invoke_id));
                encode_request(request, out);
            }),
            MmsPdu::ConfirmedResponse { invoke_id, response } => ber::write_constructed(out, Tag::context_constructed(1), |out| {
                ber::write_u64(out, Tag::INTEGER, u64::from(*invoke_id));
                encode_response(response, out);
            }),
            MmsPdu::ConfirmedError { invoke_id, error } => ber::write_constructed(out, Tag::context_constructed(2), |out| {
                ber::write_u64(out, Tag::context(0), u64::from(*invoke_id));
                encode_service_error(error, Tag::context_constructed(2), out);
            }),
            MmsPdu::InformationReport(report) => ber::write_constructed(out, Tag::context_constructed(3), |out| {
                ber::write_constructed(out, Tag::context_constructed(0), |out| {
                    encode_variable_access(&report.variables, out);
                    ber::write_constructed(out, Tag::context_constructed(0), |out| encode_access_results(&report.results, out));
                })
            }),
            MmsPdu::Reject(reject) => ber::write_constructed(out, Tag::context_constructed(4), |out| {
                if let Some(id) = reject.original_invoke_id {
                    ber::write_u64(out, Tag::context(0), u64::from(id));
                }
                ber::write_i64(out, Tag::context(reject.kind), reject.code);
            }),
            MmsPdu::CancelRequest(id) => ber::write_u64(out, Tag::context(5), u64::from(*id)),
            MmsPdu::CancelResponse(id) => ber::write_u64(out, Tag::context(6), u64::from(*id)),
            MmsPdu::InitiateRequest(p) => encode_initiate(p, Tag::context_constructed(8), out),
            MmsPdu::InitiateResponse(p) => encode_initiate(p, Tag::context_constructed(9), out),
            MmsPdu::InitiateError(e) => encode_service_error(e, Tag::context_constructed(10), out),
            MmsPdu::ConcludeRequest => ber::write_primitive(out, Tag::context(11), &[]),
            MmsPdu::ConcludeResponse => ber::write_primitive(out, Tag::context(12), &[]),
            MmsPdu::ConcludeError(e) => encode_service_error(e, Tag::context_constructed(13), out),
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn decode_initiate(tlv: &Tlv<'_>) -> Result<InitiateParams, BerError> {
    let mut r = tlv.reader();
    let local_detail = r.optional(Tag::context(0))?.map(|t| t.as_i32()).transpose()?;
    let max_serv_outstanding_calling = r.expect(Tag::context(1), "maxServOutstandingCalling")?.as_i32()?;
    let max_serv_outstanding_called = r.expect(Tag::context(2), "maxServOutstandingCalled")?.as_i32()?;
    let data_structure_nesting_level = r.optional(Tag::context(3))?.map(|t| t.as_i32()).transpose()?;
    let detail = r.expect(Tag::context_constructed(4), "initDetail")?;
    let mut d = detail.reader();
    let version = d.expect(Tag::context(0), "versionNumber")?.as_i32()?;
    let parameter_cbb = d.expect(Tag::context(1), "parameterCBB")?.as_bit_string()?;
    let services_supported = d.expect(Tag::context(2), "servicesSupported")?.as_bit_string()?;
    Ok(InitiateParams {
        local_detail,
        max_serv_outstanding_calling,
        max_serv_outstanding_called,
        data_structure_nesting_level,
        version,
        parameter_cbb,
        services_supported,
    })
}

fn encode_initiate(p: &InitiateParams, tag: Tag, out: &mut Vec<u8>) {
    ber::write_constructed(out, tag, |out| {
        if let Some(n) = p.local_detail {
            ber::write_i64(out, Tag::context(0), i64::from(n));
        }
        ber::write_i64(out, Tag::context(1), i64::from(p.max_serv_outstanding_calling));
        ber::write_i64(out, Tag::context(2), i64::from(p.max_serv_outstanding_called));
        if let Some(n) = p.data_structure_nesting_level {
            ber::write_i64(out, Tag::context(3), i64::from(n));
        }
        ber::write_constructed(out, Tag::context_constructed(4), |out| {
            ber::write_i64(out, Tag::context(0), i64::from(p.version));
            ber::write_bit_string(out, Tag::context(1), &p.parameter_cbb);
            ber::write_bit_string(out, Tag::context(2), &p.services_supported);
        });
    });
}

fn decode_service_error(tlv: &Tlv<'_>) -> Result<ServiceError, BerError> {
    let mut r = tlv.reader();
    let class_tlv = r.expect(Tag::context_constructed(0), "errorClass")?;
    let class = class_tlv.reader().next_required("errorClass")?;
    let mut error = ServiceError { class: class.tag.number, code: class.as_i64()?, description: None };
    while !r.is_empty() {
        let t = r.read()?;
        if t.tag == Tag::context(2) {
            error.description = Some(t.as_visible_str()?.to_owned());
        }
    }
    Ok(error)
}

fn encode_service_error(e: &ServiceError, tag: Tag, out: &mut Vec<u8>) {
    ber::write_constructed(out, tag, |out| {
        ber::write_constructed(out, Tag::context_constructed(0), |out| ber::write_i64(out, Tag::context(e.class), e.code));
        if let Some(d) = &e.description {
            ber::write_primitive(out, Tag::context(2), d.as_bytes());
        }
    });
}

fn decode_variable_access(tlv: &Tlv<'_>) -> Result<VariableAccess, BerError> {
    match tlv.tag {
        t if t == Tag::context_constructed(0) => {
            let mut list = tlv.reader();
            let mut names = Vec::new();
            while !list.is_empty() {
                let item = list.expect(Tag::SEQUENCE, "listOfVariable item")?;
                let spec = item.reader().next_required("variableSpecification")?;
                if spec.tag != Tag::context_constructed(0) {
                    return Err(spec.unexpected("variableSpecification name"));
                }
                names.push(ObjectName::decode(&spec.reader().next_required("ObjectName")?)?);
            }
            Ok(VariableAccess::List(names))
        }
        t if t == Tag::context_constructed(1) => {
            Ok(VariableAccess::NamedList(ObjectName::decode(&tlv.reader().next_required("ObjectName")?)?))
        }
        _ => Err(tlv.unexpected("VariableAccessSpecification")),
    }
}

fn encode_variable_access(v: &VariableAccess, out: &mut Vec<u8>) {
    match v {
        VariableAccess::List(names) => ber::write_constructed(out, Tag::context_constructed(0), |out| {
            for name in names {
                ber::write_constructed(out, Tag::SEQUENCE, |out| {
                    ber::write_constructed(out, Tag::context_constructed(0), |out| name.encode(out));
                });
            }
        }),
        VariableAccess::NamedList(name) => ber::write_constructed(out, Tag::context_constructed(1), |out| name.encode(out)),
    }
}

fn decode_access_results(mut r: Reader<'_>) -> Result<Vec<AccessResult>, BerError> {
    let mut results = Vec::new();
    while !r.is_empty() {
        let t = r.read()?;
        results.push(if t.tag == Tag::context(0) { Err(DataAccessError(t.as_u32()?)) } else { Ok(Data::decode(&t)?) });
    }
    Ok(results)
}

fn encode_access_results(results: &[AccessResult], out: &mut Vec<u8>) {
    for result in results {
        match result {
            Ok(data) => data.encode(out),
            Err(e) => ber::write_u64(out, Tag::context(0), u64::from(e.0)),
        }
    }
}

fn decode_names(tlv: &Tlv<'_>) -> Result<Vec<ObjectName>, BerError> {
    match decode_variable_access(tlv)? {
        VariableAccess::List(names) => Ok(names),
        VariableAccess::NamedList(_) => Err(tlv.unexpected("listOfVariable")),
    }
}

fn decode_request(service: &Tlv<'_>) -> Result<ConfirmedRequest, BerError> {
    let t = service.tag;
    if t.class != ber::Class::Context {
        return Err(service.unexpected("ConfirmedServiceRequest"));
    }
    Ok(match (t.number, t.constructed) {
        (0, false) => ConfirmedRequest::Status { extended: service.as_bool()? },
        (1, true) => {
            let mut r = service.reader();
            let class_tlv = r.expect(Tag::context_constructed(0), "objectClass")?;
            let basic = class_tlv.reader().expect(Tag::context(0), "basicObjectClass")?;
            let class = ObjectClass::from_code(basic.as_i64()?)
                .ok_or(BerError::InvalidValue { offset: basic.value_offset, what: "object class" })?;
            let scope_tlv = r.expect(Tag::context_constructed(1), "objectScope")?;
            let scope = scope_tlv.reader().next_required("objectScope")?;
            let scope = match (scope.tag.number, scope.tag.constructed) {
                (0, false) => NameScope::Vmd,
                (1, false) => NameScope::Domain(scope.as_visible_str()?.to_owned()),
                (2, false) => NameScope::Association,
                _ => return Err(scope.unexpected("objectScope")),
            };
            let continue_after = r.optional(Tag::context(2))?.map(|t| t.as_visible_str().map(str::to_owned)).transpose()?;
            ConfirmedRequest::GetNameList { class, scope, continue_after }
        }
        (2, false) => ConfirmedRequest::Identify,
        (4, true) => {
            let mut r = service.reader();
            let specification_with_result = r.optional(Tag::context(0))?.map(|t| t.as_bool()).transpose()?.unwrap_or(false);
            let spec = r.expect(Tag::context_constructed(1), "variableAccessSpecification")?;
            let variables = decode_variable_access(&spec.reader().next_required("variableAccessSpecification")?)?;
            ConfirmedRequest::Read { specification_with_result, variables }
        }
        (5, true) => {
            let mut r = service.reader();
            let variables = decode_variable_access(&r.next_required("variableAccessSpecification")?)?;
            let list = r.expect(Tag::context_constructed(0), "listOfData")?;
            ConfirmedRequest::Write { variables, data: decode_data_list(list.reader())? }
        }
        (6, true) => {
            let choice = service.reader().next_required("name")?;
            if choice.tag != Tag::context_constructed(0) {
                return Err(choice.unexpected("getVariableAccessAttributes by name"));
            }
            ConfirmedRequest::GetVariableAccessAttributes(ObjectName::decode(&choice.reader().next_required("ObjectName")?)?)
        }
        (11, true) => {
            let mut r = service.reader();
            let name = ObjectName::decode(&r.next_required("variableListName")?)?;
            let variables = decode_names(&r.expect(Tag::context_constructed(0), "listOfVariable")?)?;
            ConfirmedRequest::DefineNamedVariableList { name, variables }
        }
        (12, true) => ConfirmedRequest::GetNamedVariableListAttributes(ObjectName::decode(&service.reader().next_required("ObjectName")?)?),
        (13, true) => {
            let mut r = service.reader();
            r.optional(Tag::context(0))?; // scopeOfDelete
            let mut names = Vec::new();
            if let Some(list) = r.optional(Tag::context_constructed(1))? {
                let mut l = list.reader();
                while !l.is_empty() {
                    names.push(ObjectName::decode(&l.read()?)?);
                }
            }
            ConfirmedRequest::DeleteNamedVariableList(names)
        }
        _ => ConfirmedRequest::Other { tag: Some(t), body: service.value.to_vec() },
    })
}

fn encode_request(request: &ConfirmedRequest, out: &mut Vec<u8>) {
    match request {
        ConfirmedRequest::Status { extended } => ber::write_bool(out, Tag::context(0), *extended),
        ConfirmedRequest::GetNameList { class, scope, continue_after } => ber::write_constructed(out, Tag::context_constructed(1), |out| {
            ber::write_constructed(out, Tag::context_constructed(0), |out| ber::write_i64(out, Tag::context(0), *class as i64));
            ber::write_constructed(out, Tag::context_constructed(1), |out| match scope {
                NameScope::Vmd => ber::write_primitive(out, Tag::context(0), &[]),
                NameScope::Domain(d) => ber::write_primitive(out, Tag::context(1), d.as_bytes()),
                NameScope::Association => ber::write_primitive(out, Tag::context(2), &[]),
            });
            if let Some(after) = continue_after {
                ber::write_primitive(out, Tag::context(2), after.as_bytes());
            }
        }),
        ConfirmedRequest::Identify => ber::write_primitive(out, Tag::context(2), &[]),
        ConfirmedRequest::Read { specification_with_result, variables } => {
            ber::write_constructed(out, Tag::context_constructed(4), |out| {
                if *specification_with_result {
                    ber::write_bool(out, Tag::context(0), true);
                }
                ber::write_constructed(out, Tag::context_constructed(1), |out| encode_variable_access(variables, out));
            })
        }
        ConfirmedRequest::Write { variables, data } => ber::write_constructed(out, Tag::context_constructed(5), |out| {
            encode_variable_access(variables, out);
            ber::write_constructed(out, Tag::context_constructed(0), |out| data.iter().for_each(|d| d.encode(out)));
        }),
        ConfirmedRequest::GetVariableAccessAttributes(name) => ber::write_constructed(out, Tag::context_constructed(6), |out| {
            ber::write_constructed(out, Tag::context_constructed(0), |out| name.encode(out));
        }),
        ConfirmedRequest::DefineNamedVariableList { name, variables } => ber::write_constructed(out, Tag::context_constructed(11), |out| {
            name.encode(out);
            let list = VariableAccess::List(variables.clone());
            encode_variable_access(&list, out);
        }),
        ConfirmedRequest::GetNamedVariableListAttributes(name) => {
            ber::write_constructed(out, Tag::context_constructed(12), |out| name.encode(out))
        }
        ConfirmedRequest::DeleteNamedVariableList(names) => ber::write_constructed(out, Tag::context_constructed(13), |out| {
            ber::write_i64(out, Tag::context(0), 0); // scopeOfDelete: specific
            ber::write_constructed(out, Tag::context_constructed(1), |out| names.iter().for_each(|n| n.encode(out)));
        }),
        ConfirmedRequest::Other { tag, body } => {
            if let Some(tag) = tag {
                ber::write_primitive(out, *tag, body);
            }
        }
    }
}

fn decode_response(service: &Tlv<'_>) -> Result<ConfirmedResponse, BerError> {
    let t = service.tag;
    let other = || ConfirmedResponse::Other { tag: Some(t), body: service.value.to_vec() };
    if t.class != ber::Class::Context {
        return Ok(other());
    }
    Ok(match (t.number, t.constructed) {
        (1, true) => {
            let mut r = service.reader();
            let list = r.expect(Tag::context_constructed(0), "listOfIdentifier")?;
            let mut l = list.reader();
            let mut identifiers = Vec::new();
            while !l.is_empty() {
                identifiers.push(l.expect(Tag::VISIBLE_STRING, "Identifier")?.as_visible_str()?.to_owned());
            }
            let more_follows = r.optional(Tag::context(1))?.map(|t| t.as_bool()).transpose()?.unwrap_or(true);
            ConfirmedResponse::GetNameList { identifiers, more_follows }
        }
        (2, true) => {
            let mut r = service.reader();
            let vendor = r.expect(Tag::context(0), "vendorName")?.as_visible_str()?.to_owned();
            let model = r.expect(Tag::context(1), "modelName")?.as_visible_str()?.to_owned();
            let revision = r.expect(Tag::context(2), "revision")?.as_visible_str()?.to_owned();
            ConfirmedResponse::Identify { vendor, model, revision }
        }
        (4, true) => {
            let mut r = service.reader();
            r.optional(Tag::context_constructed(0))?; // variableAccessSpecification echo
            let list = r.expect(Tag::context_constructed(1), "listOfAccessResult")?;
            ConfirmedResponse::Read(decode_access_results(list.reader())?)
        }
        (5, true) => {
            let mut r = service.reader();
            let mut results = Vec::new();
            while !r.is_empty() {
                let t = r.read()?;
                results.push(match (t.tag.number, t.tag.constructed) {
                    (0, false) => Err(DataAccessError(t.as_u32()?)),
                    (1, false) => Ok(()),
                    _ => return Err(t.unexpected("write result")),
                });
            }
            ConfirmedResponse::Write(results)
        }
        (6, true) => {
            let mut r = service.reader();
            let deletable = r.expect(Tag::context(0), "mmsDeletable")?.as_bool()?;
            r.optional(Tag::context_constructed(1))?; // address
            r.optional(Tag::context(1))?;
            let ty = r.expect(Tag::context_constructed(2), "typeSpecification")?;
            ConfirmedResponse::GetVariableAccessAttributes {
                deletable,
                type_spec: TypeSpec::decode(&ty.reader().next_required("typeSpecification")?)?,
            }
        }
        (11, false) => ConfirmedResponse::DefineNamedVariableList,
        (12, true) => {
            let mut r = service.reader();
            let deletable = r.expect(Tag::context(0), "mmsDeletable")?.as_bool()?;
            let list = r.expect(Tag::context_constructed(1), "listOfVariable")?;
            let variables = decode_names(&Tlv { tag: Tag::context_constructed(0), ..list })?;
            ConfirmedResponse::GetNamedVariableListAttributes { deletable, variables }
        }
        (13, true) => {
            let mut r = service.reader();
            let matched = r.expect(Tag::context(0), "numberMatched")?.as_u32()?;
            let deleted = r.expect(Tag::context(1), "numberDeleted")?.as_u32()?;
            ConfirmedResponse::DeleteNamedVariableList { matched, deleted }
        }
        _ => other(),
    })
}

fn encode_response(response: &ConfirmedResponse, out: &mut Vec<u8>) {
    match response {
        ConfirmedResponse::GetNameList { identifiers, more_follows } => ber::write_constructed(out, Tag::context_constructed(1), |out| {
            ber::write_constructed(out, Tag::context_constructed(0), |out| {
                identifiers.iter().for_each(|i| ber::write_primitive(out, Tag::VISIBLE_STRING, i.as_bytes()))
            });
            ber::write_bool(out, Tag::context(1), *more_follows);
        }),
        ConfirmedResponse::Identify { vendor, model, revision } => ber::write_constructed(out, Tag::context_constructed(2), |out| {
            ber::write_primitive(out, Tag::context(0), vendor.as_bytes());
            ber::write_primitive(out, Tag::context(1), model.as_bytes());
            ber::write_primitive(out, Tag::context(2), revision.as_bytes());
        }),
        ConfirmedResponse::Read(results) => ber::write_constructed(out, Tag::context_constructed(4), |out| {
            ber::write_constructed(out, Tag::context_constructed(1), |out| encode_access_results(results, out));
        }),
        ConfirmedResponse::Write(results) => ber::write_constructed(out, Tag::context_constructed(5), |out| {
            for r in results {
                match r {
                    Ok(()) => ber::write_primitive(out, Tag::context(1), &[]),
                    Err(e) => ber::write_u64(out, Tag::context(0), u64::from(e.0)),
                }
            }
        }),
        ConfirmedResponse::GetVariableAccessAttributes { deletable, type_spec } => {
            ber::write_constructed(out, Tag::context_constructed(6), |out| {
                ber::write_bool(out, Tag::context(0), *deletable);
                ber::write_constructed(out, Tag::context_constructed(2), |out| type_spec.encode(out));
            })
        }
        ConfirmedResponse::DefineNamedVariableList => ber::write_primitive(out, Tag::context(11), &[]),
        ConfirmedResponse::GetNamedVariableListAttributes { deletable, variables } => {
            ber::write_constructed(out, Tag::context_constructed(12), |out| {
                ber::write_bool(out, Tag::context(0), *deletable);
                let mut list = Vec::new();
                encode_variable_access(&VariableAccess::List(variables.clone()), &mut list);
                // Same content as listOfVariable [0] but tagged [1] here.
                if let Ok(tlv) = Reader::new(&list).read() {
                    ber::write_constructed(out, Tag::context_constructed(1), |out| out.extend_from_slice(tlv.value));
                }
            })
        }
        ConfirmedResponse::DeleteNamedVariableList { matched, deleted } => {
            ber::write_constructed(out, Tag::context_constructed(13), |out| {
                ber::write_u64(out, Tag::context(0), u64::from(*matched));
                ber::write_u64(out, Tag::context(1), u64::from(*deleted));
            })
        }
        ConfirmedResponse::Other { tag, body } => {
            if let Some(tag) = tag {
                ber::write_primitive(out, *tag, body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(pdu: MmsPdu) {
        let bytes = pdu.to_bytes();
        assert_eq!(MmsPdu::decode(&bytes).unwrap(), pdu, "{bytes:02x?}");
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let name = ObjectName::domain("simpleIOGenericIO", "GGIO1$MX$AnIn1$mag$f");
        round_trip(MmsPdu::InitiateRequest(InitiateParams::client_proposal(65000)));
        round_trip(MmsPdu::ConfirmedRequest {
            invoke_id: 7,
            request: ConfirmedRequest::GetNameList {
                class: ObjectClass::NamedVariable,
                scope: NameScope::Domain("LD".into()),
                continue_after: Some("x".into()),
            },
        });
        round_trip(MmsPdu::ConfirmedRequest { invoke_id: 1, request: ConfirmedRequest::Identify });
        round_trip(MmsPdu::ConfirmedRequest {
            invoke_id: 300,
            request: ConfirmedRequest::Read { specification_with_result: false, variables: VariableAccess::List(vec![name.clone()]) },
        });
        round_trip(MmsPdu::ConfirmedRequest {
            invoke_id: 2,
            request: ConfirmedRequest::Write { variables: VariableAccess::List(vec![name.clone()]), data: vec![Data::Float32(2.5)] },
        });
        round_trip(MmsPdu::ConfirmedRequest { invoke_id: 3, request: ConfirmedRequest::GetVariableAccessAttributes(name.clone()) });
        round_trip(MmsPdu::ConfirmedRequest {
            invoke_id: 4,
            request: ConfirmedRequest::DefineNamedVariableList {
                name: ObjectName::Association("@ds".into()),
                variables: vec![name.clone()],
            },
        });
        round_trip(MmsPdu::ConfirmedRequest {
            invoke_id: 5,
            request: ConfirmedRequest::DeleteNamedVariableList(vec![ObjectName::Association("@ds".into())]),
        });
        round_trip(MmsPdu::ConfirmedResponse {
            invoke_id: 1,
            response: ConfirmedResponse::GetNameList { identifiers: vec!["a".into(), "b".into()], more_follows: false },
        });
        round_trip(MmsPdu::ConfirmedResponse {
            invoke_id: 1,
            response: ConfirmedResponse::Identify { vendor: "v".into(), model: "m".into(), revision: "r".into() },
        });
        round_trip(MmsPdu::ConfirmedResponse {
            invoke_id: 1,
            response: ConfirmedResponse::Read(vec![Ok(Data::Boolean(true)), Err(DataAccessError(10))]),
        });
        round_trip(MmsPdu::ConfirmedResponse { invoke_id: 1, response: ConfirmedResponse::Write(vec![Ok(()), Err(DataAccessError(3))]) });
        round_trip(MmsPdu::ConfirmedResponse {
            invoke_id: 1,
            response: ConfirmedResponse::GetNamedVariableListAttributes { deletable: false, variables: vec![name.clone()] },
        });
        round_trip(MmsPdu::ConfirmedError { invoke_id: 9, error: ServiceError { class: 7, code: 2, description: None } });
        round_trip(MmsPdu::InformationReport(InformationReport {
            variables: VariableAccess::NamedList(ObjectName::Vmd("RPT".into())),
            results: vec![Ok(Data::VisibleString("Events1".into()))],
        }));
        round_trip(MmsPdu::Reject(Reject { original_invoke_id: Some(4), kind: 1, code: 3 }));
        round_trip(MmsPdu::ConcludeRequest);
        round_trip(MmsPdu::ConcludeResponse);
    }

    /// Found by the `mms_pdu_decode` fuzz target: a rejectReason under a private constructed
    /// tag decoded as kind 0, whose re-encoding `[0]` then read as the originalInvokeID.
    #[test]
    fn reject_reason_outside_its_choice_is_refused() {
        let bytes = [0xa4, 0x05, 0xff, 0x00, 0x01, 0x8b, 0x00];
        assert!(matches!(MmsPdu::decode(&bytes), Err(PduError::Ber(BerError::UnexpectedTag { .. }))), "{:?}", MmsPdu::decode(&bytes));
        assert!(matches!(MmsPdu::decode(&[0xa4, 0x03, 0x80, 0x01, 0x01]), Err(PduError::Ber(_))));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        assert_eq!(MmsPdu::decode(&[0x8b, 0x00, 0x00]), Err(PduError::Trailing(1)));
    }

    proptest! {
        #[test]
        fn decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = MmsPdu::decode(&bytes);
        }

        #[test]
        fn decoder_never_panics_on_mutated_pdus(flip in 0usize..200, byte in any::<u8>()) {
            let pdu = MmsPdu::ConfirmedResponse { invoke_id: 1, response: ConfirmedResponse::Read(vec![
                Ok(Data::Structure(vec![Data::Float32(1.0), Data::BitString(BitString::zeros(13)), Data::UtcTime(Default::default())])),
            ]) };
            let mut bytes = pdu.to_bytes();
            let at = flip % bytes.len();
            bytes[at] = byte;
            let _ = MmsPdu::decode(&bytes);
        }
    }
}
