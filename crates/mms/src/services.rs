//! IEC 61850-8-1 ACSI services mapped onto MMS, as methods of [`MmsClient`]: identify, browse
//! (logical devices = domains, logical nodes and their data = named variables, data sets = named
//! variable lists), read, write and data sets.

use crate::data::{Data, ObjectName, TypeSpec};
use crate::driver::{DriverError, MmsClient};
use crate::pdu::{AccessResult, ConfirmedRequest, ConfirmedResponse, DataAccessError, NameScope, ObjectClass, VariableAccess};

/// Errors of the ACSI-level services.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceFailure {
    /// The association or request failed.
    #[error("{0}")]
    Driver(#[from] DriverError),
    /// The server refused access to a variable.
    #[error("{name}: {error}")]
    Access {
        /// The variable.
        name: String,
        /// The access error.
        error: DataAccessError,
    },
    /// The server answered with a different service or shape than asked for.
    #[error("unexpected response to {0}")]
    UnexpectedResponse(&'static str),
    /// An IEC 61850 object reference could not be mapped to an MMS name.
    #[error("bad object reference {0:?}: expected LD/LN.DO[.DA] with a functional constraint")]
    BadReference(String),
}

/// The server's identity (MMS identify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Vendor name.
    pub vendor: String,
    /// Model name.
    pub model: String,
    /// Revision.
    pub revision: String,
}

/// Maps an IEC 61850 reference and functional constraint to its MMS name:
/// `LD/LN.DO.DA` with FC `MX` becomes domain `LD`, item `LN$MX$DO$DA`.
pub fn mms_name(reference: &str, fc: &str) -> Result<ObjectName, ServiceFailure> {
    let bad = || ServiceFailure::BadReference(reference.to_owned());
    let (ld, rest) = reference.split_once('/').ok_or_else(bad)?;
    let mut parts = rest.split('.');
    let ln = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    if ld.is_empty() || fc.len() != 2 {
        return Err(bad());
    }
    let mut item = format!("{ln}${fc}");
    for part in parts {
        if part.is_empty() {
            return Err(bad());
        }
        item.push('$');
        item.push_str(part);
    }
    Ok(ObjectName::domain(ld, item))
}

impl MmsClient {
    /// MMS identify: vendor, model and revision of the server.
    pub async fn identify(&self) -> Result<Identity, ServiceFailure> {
        match self.request(ConfirmedRequest::Identify).await? {
            ConfirmedResponse::Identify { vendor, model, revision } => Ok(Identity { vendor, model, revision }),
            _ => Err(ServiceFailure::UnexpectedResponse("identify")),
        }
    }

    /// GetNameList with paging (continueAfter) until the server says no more follow.
    pub async fn get_name_list(&self, class: ObjectClass, scope: NameScope) -> Result<Vec<String>, ServiceFailure> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let continue_after = names.last().cloned();
            let request = ConfirmedRequest::GetNameList { class, scope: scope.clone(), continue_after };
            match self.request(request).await? {
                ConfirmedResponse::GetNameList { identifiers, more_follows } => {
                    let progressed = !identifiers.is_empty();
                    names.extend(identifiers);
                    if !more_follows || !progressed {
                        return Ok(names);
                    }
                }
                _ => return Err(ServiceFailure::UnexpectedResponse("getNameList")),
            }
        }
    }

    /// Logical devices (MMS domains).
    pub async fn logical_devices(&self) -> Result<Vec<String>, ServiceFailure> {
        self.get_name_list(ObjectClass::Domain, NameScope::Vmd).await
    }

    /// Every named variable of a logical device (`LN`, `LN$FC`, `LN$FC$DO`, ...).
    pub async fn variables(&self, logical_device: &str) -> Result<Vec<String>, ServiceFailure> {
        self.get_name_list(ObjectClass::NamedVariable, NameScope::Domain(logical_device.to_owned())).await
    }

    /// Logical nodes of a logical device (the variables without `$`).
    pub async fn logical_nodes(&self, logical_device: &str) -> Result<Vec<String>, ServiceFailure> {
        Ok(self.variables(logical_device).await?.into_iter().filter(|v| !v.contains('$')).collect())
    }

    /// Data objects of a logical node with their functional constraints, as `(FC, DO)` pairs.
    pub async fn data_objects(&self, logical_device: &str, logical_node: &str) -> Result<Vec<(String, String)>, ServiceFailure> {
        let prefix = format!("{logical_node}$");
        Ok(self
            .variables(logical_device)
            .await?
            .into_iter()
            .filter_map(|v| {
                let rest = v.strip_prefix(&prefix)?;
                let mut parts = rest.split('$');
                let (fc, object) = (parts.next()?, parts.next()?);
                parts.next().is_none().then(|| (fc.to_owned(), object.to_owned()))
            })
            .collect())
    }

    /// Data sets (named variable lists) of a logical device.
    pub async fn data_sets(&self, logical_device: &str) -> Result<Vec<String>, ServiceFailure> {
        self.get_name_list(ObjectClass::NamedVariableList, NameScope::Domain(logical_device.to_owned())).await
    }

    /// GetVariableAccessAttributes: the type of a variable.
    pub async fn variable_type(&self, name: &ObjectName) -> Result<TypeSpec, ServiceFailure> {
        match self.request(ConfirmedRequest::GetVariableAccessAttributes(name.clone())).await? {
            ConfirmedResponse::GetVariableAccessAttributes { type_spec, .. } => Ok(type_spec),
            _ => Err(ServiceFailure::UnexpectedResponse("getVariableAccessAttributes")),
        }
    }

    /// Reads several variables in one request.
    pub async fn read(&self, names: &[ObjectName]) -> Result<Vec<AccessResult>, ServiceFailure> {
        let request = ConfirmedRequest::Read { specification_with_result: false, variables: VariableAccess::List(names.to_vec()) };
        match self.request(request).await? {
            ConfirmedResponse::Read(results) if results.len() == names.len() => Ok(results),
            _ => Err(ServiceFailure::UnexpectedResponse("read")),
        }
    }

    /// Reads one variable.
    pub async fn read_value(&self, name: &ObjectName) -> Result<Data, ServiceFailure> {
        let mut results = self.read(std::slice::from_ref(name)).await?;
        match results.pop() {
            Some(Ok(data)) => Ok(data),
            Some(Err(error)) => Err(ServiceFailure::Access { name: name.to_string(), error }),
            None => Err(ServiceFailure::UnexpectedResponse("read")),
        }
    }

    /// Writes one variable.
    pub async fn write_value(&self, name: &ObjectName, value: Data) -> Result<(), ServiceFailure> {
        let request = ConfirmedRequest::Write { variables: VariableAccess::List(vec![name.clone()]), data: vec![value] };
        match self.request(request).await? {
            ConfirmedResponse::Write(results) => match results.first() {
                Some(Ok(())) => Ok(()),
                Some(Err(error)) => Err(ServiceFailure::Access { name: name.to_string(), error: *error }),
                None => Err(ServiceFailure::UnexpectedResponse("write")),
            },
            _ => Err(ServiceFailure::UnexpectedResponse("write")),
        }
    }

    /// Members of a data set (GetNamedVariableListAttributes).
    pub async fn data_set_members(&self, data_set: &ObjectName) -> Result<Vec<ObjectName>, ServiceFailure> {
        match self.request(ConfirmedRequest::GetNamedVariableListAttributes(data_set.clone())).await? {
            ConfirmedResponse::GetNamedVariableListAttributes { variables, .. } => Ok(variables),
            _ => Err(ServiceFailure::UnexpectedResponse("getNamedVariableListAttributes")),
        }
    }

    /// Reads all members of a data set in one request.
    pub async fn read_data_set(&self, data_set: &ObjectName) -> Result<Vec<AccessResult>, ServiceFailure> {
        let request = ConfirmedRequest::Read { specification_with_result: false, variables: VariableAccess::NamedList(data_set.clone()) };
        match self.request(request).await? {
            ConfirmedResponse::Read(results) => Ok(results),
            _ => Err(ServiceFailure::UnexpectedResponse("read")),
        }
    }

    /// Creates a data set (DefineNamedVariableList); use an association-specific name
    /// (`ObjectName::Association`) for a data set that lives only as long as this association.
    pub async fn create_data_set(&self, data_set: &ObjectName, members: &[ObjectName]) -> Result<(), ServiceFailure> {
        let request = ConfirmedRequest::DefineNamedVariableList { name: data_set.clone(), variables: members.to_vec() };
        match self.request(request).await? {
            ConfirmedResponse::DefineNamedVariableList => Ok(()),
            _ => Err(ServiceFailure::UnexpectedResponse("defineNamedVariableList")),
        }
    }

    /// Deletes a data set; returns whether the server deleted it.
    pub async fn delete_data_set(&self, data_set: &ObjectName) -> Result<bool, ServiceFailure> {
        match self.request(ConfirmedRequest::DeleteNamedVariableList(vec![data_set.clone()])).await? {
            ConfirmedResponse::DeleteNamedVariableList { deleted, .. } => Ok(deleted > 0),
            _ => Err(ServiceFailure::UnexpectedResponse("deleteNamedVariableList")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_map_to_mms_names() {
        assert_eq!(
            mms_name("simpleIOGenericIO/GGIO1.AnIn1.mag.f", "MX").unwrap(),
            ObjectName::domain("simpleIOGenericIO", "GGIO1$MX$AnIn1$mag$f")
        );
        assert_eq!(mms_name("LD/LLN0", "BR").unwrap(), ObjectName::domain("LD", "LLN0$BR"));
        for bad in ["nold", "/LN.DO", "LD/", "LD/LN..DA"] {
            assert!(matches!(mms_name(bad, "ST"), Err(ServiceFailure::BadReference(_))), "{bad}");
        }
        assert!(mms_name("LD/LN", "S").is_err());
    }
}
