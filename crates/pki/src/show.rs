//! `pki show`: a certificate or CRL explained in the terms gridtrust uses (kind, name, IEC
//! 62351-8 role names, fingerprint as evidence refers to it), so an operator can answer "who is
//! this and what may it do" without reading `openssl x509 -text`.
//!
//! It explains; it does not validate (that needs the trust anchors: [`crate::validate()`]).
//! Whatever the bytes, it returns text or an error, never panics.

use std::fmt::Write;
use std::time::SystemTime;

use rustls::pki_types::pem::{PemObject, SectionKind};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;

use crate::error::PkiError;
use crate::identity::{Serial, hex, ip_from_bytes, read_identity, unknown_critical};
use crate::keys::PublicKey;
use crate::role::{ROLE_EXTENSION_OID_STR, Role, UserRoles};

/// Explains every certificate or CRL in `input` (PEM, or a single DER object), judging
/// validity at the current time.
pub fn show(input: &[u8]) -> Result<String, PkiError> {
    show_at(input, SystemTime::now())
}

/// [`show`] with validity judged at `now`.
pub fn show_at(input: &[u8], now: SystemTime) -> Result<String, PkiError> {
    let mut out = String::new();
    let mut sections = 0;
    let mut pem_iter = <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(input);
    for section in pem_iter.by_ref() {
        let (kind, der) = section.map_err(|e| PkiError::Malformed { what: "PEM", reason: e.to_string() })?;
        if sections > 0 {
            out.push('\n');
        }
        match kind {
            SectionKind::Certificate => show_certificate(&mut out, &der, now)?,
            SectionKind::Crl => show_crl(&mut out, &der, now)?,
            other => {
                let _ = writeln!(out, "({other:?} section skipped: not a certificate or CRL)");
            }
        }
        sections += 1;
    }
    if sections == 0 {
        if input.starts_with(b"-----BEGIN") {
            return Err(PkiError::Malformed { what: "PEM", reason: "no complete PEM section".into() });
        }
        // DER: a certificate, else a CRL.
        if x509_parser::parse_x509_certificate(input).is_ok() {
            show_certificate(&mut out, input, now)?;
        } else if x509_parser::parse_x509_crl(input).is_ok() {
            show_crl(&mut out, input, now)?;
        } else {
            return Err(PkiError::Malformed { what: "input", reason: "neither a certificate nor a CRL (PEM or DER)".into() });
        }
    }
    Ok(out)
}

fn show_certificate(out: &mut String, der: &[u8], now: SystemTime) -> Result<(), PkiError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Malformed { what: "certificate", reason: e.to_string() })?;
    let _ = writeln!(out, "Certificate{}", if rest.is_empty() { "" } else { " (followed by trailing bytes)" });
    let _ = writeln!(out, "  subject:            {}", cert.subject());
    if cert.is_ca() {
        let _ = writeln!(out, "  identity:           a CA certificate");
    } else {
        match read_identity(&cert) {
            Ok(id) => {
                let _ = writeln!(out, "  identity:           {} {:?}", id.kind, id.name);
            }
            Err(e) => {
                let _ = writeln!(out, "  identity:           none ({e})");
            }
        }
    }
    show_roles(out, &cert);
    let _ = writeln!(out, "  issuer:             {}", cert.issuer());
    let serial = Serial::from_be_bytes(cert.raw_serial());
    let _ = writeln!(out, "  serial:             {serial} (hex {})", serial.to_hex());
    let validity = cert.validity();
    let (from, until) = (validity.not_before, validity.not_after);
    let _ = writeln!(out, "  valid from:         {}", fmt_time(from));
    let now_ts = OffsetDateTime::from(now).unix_timestamp();
    let status = if now_ts < from.timestamp() {
        "NOT YET VALID".to_owned()
    } else if now_ts > until.timestamp() {
        "EXPIRED".to_owned()
    } else {
        let days = (until.timestamp() - now_ts) / 86_400;
        format!("valid now, {days} days left")
    };
    let _ = writeln!(out, "  valid until:        {} ({status})", fmt_time(until));
    match cert.key_usage() {
        Ok(Some(ku)) => {
            let _ = writeln!(out, "  key usage:          {}{}", ku.value, critical(ku.critical));
        }
        Ok(None) => {
            let _ = writeln!(out, "  key usage:          (none)");
        }
        Err(e) => {
            let _ = writeln!(out, "  key usage:          malformed ({e})");
        }
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            let mut names = Vec::new();
            for (set, name) in [
                (e.any, "any"),
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
            ] {
                if set {
                    names.push(name.to_owned());
                }
            }
            for oid in &e.other {
                let id = oid.to_id_string();
                names.push(if id == "1.3.6.1.5.5.7.3.36" { "documentSigning".to_owned() } else { id });
            }
            let _ = writeln!(out, "  extended key usage: {}{}", names.join(", "), critical(eku.critical));
        }
        Ok(None) => {
            let _ = writeln!(out, "  extended key usage: (none)");
        }
        Err(e) => {
            let _ = writeln!(out, "  extended key usage: malformed ({e})");
        }
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) => {
            let path_len = bc.value.path_len_constraint.map(|n| format!(", path length {n}")).unwrap_or_default();
            let _ = writeln!(out, "  basic constraints:  CA:{}{path_len}{}", bc.value.ca, critical(bc.critical));
        }
        Ok(None) => {
            let _ = writeln!(out, "  basic constraints:  (none)");
        }
        Err(e) => {
            let _ = writeln!(out, "  basic constraints:  malformed ({e})");
        }
    }
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            let names: Vec<String> = san.value.general_names.iter().map(general_name).collect();
            let _ = writeln!(out, "  alternative names:  {}", names.join(", "));
        }
        Ok(None) => {}
        Err(e) => {
            let _ = writeln!(out, "  alternative names:  malformed ({e})");
        }
    }
    match PublicKey::from_spki_der(cert.public_key().raw) {
        Ok(key) => {
            let _ = writeln!(out, "  public key:         ECDSA P-256 {}", hex(key.sec1()));
        }
        Err(_) => {
            let _ =
                writeln!(out, "  public key:         {} (not ECDSA P-256: unusable in gridtrust)", cert.public_key().algorithm.algorithm);
        }
    }
    let sig = cert.signature_algorithm.algorithm.to_id_string();
    let sig = if sig == "1.2.840.10045.4.3.2" { "ecdsa-with-SHA256".to_owned() } else { sig };
    let _ = writeln!(out, "  signature:          {sig}");
    let _ = writeln!(out, "  SHA-256 (cert id):  {}", hex(&gridtrust_trust::signing::certificate_id(der)));
    let unknown = unknown_critical(&cert);
    if !unknown.is_empty() {
        let _ = writeln!(out, "  unknown critical extensions (certificate unusable): {}", unknown.join(", "));
    }
    Ok(())
}

fn show_roles(out: &mut String, cert: &X509Certificate<'_>) {
    let exts: Vec<_> = cert.extensions().iter().filter(|e| e.oid.to_id_string() == ROLE_EXTENSION_OID_STR).collect();
    match exts.as_slice() {
        [] => {
            let _ = writeln!(out, "  roles:              (no IEC 62351-8 role extension)");
        }
        [ext] => match UserRoles::decode(ext.value) {
            Ok(roles) => {
                for info in &roles.0 {
                    let names: Vec<String> = info
                        .role_ids
                        .iter()
                        .map(|id| match Role::from_id(*id) {
                            Some(role) => format!("{role} ({id})"),
                            None if *id < 0 => format!("private role {id}"),
                            None => format!("reserved role {id}"),
                        })
                        .collect();
                    let _ = writeln!(out, "  roles:              {}", names.join(", "));
                    let _ = write!(
                        out,
                        "                      area {:?}, revision {}, definition {:?}",
                        info.aor, info.revision, info.role_definition
                    );
                    if let Some(op) = info.operation {
                        let _ = write!(out, ", operation {op}");
                    }
                    if let Some(n) = info.status_change_sequence_number {
                        let _ = write!(out, ", status change {n}");
                    }
                    out.push('\n');
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  roles:              malformed ({e})");
            }
        },
        _ => {
            let _ = writeln!(out, "  roles:              malformed (the role extension appears more than once)");
        }
    }
}

fn show_crl(out: &mut String, der: &[u8], now: SystemTime) -> Result<(), PkiError> {
    let (_, crl) = x509_parser::parse_x509_crl(der).map_err(|e| PkiError::Malformed { what: "CRL", reason: e.to_string() })?;
    show_crl_parsed(out, &crl, now);
    Ok(())
}

fn show_crl_parsed(out: &mut String, crl: &CertificateRevocationList<'_>, now: SystemTime) {
    let _ = writeln!(out, "Certificate revocation list");
    let _ = writeln!(out, "  issuer:             {}", crl.issuer());
    if let Some(n) = crl.crl_number() {
        let _ = writeln!(out, "  CRL number:         {n}");
    }
    let _ = writeln!(out, "  this update:        {}", fmt_time(crl.last_update()));
    match crl.next_update() {
        Some(next) => {
            let expired = OffsetDateTime::from(now).unix_timestamp() > next.timestamp();
            let _ =
                writeln!(out, "  next update:        {}{}", fmt_time(next), if expired { " (EXPIRED: validators refuse it)" } else { "" });
        }
        None => {
            let _ = writeln!(out, "  next update:        (none)");
        }
    }
    let revoked: Vec<_> = crl.iter_revoked_certificates().collect();
    let _ = writeln!(out, "  revoked:            {}", revoked.len());
    for r in revoked {
        let serial = Serial::from_be_bytes(r.raw_serial());
        let reason = r.reason_code().map(|(_, code)| format!(", {code}")).unwrap_or_default();
        let _ = writeln!(out, "    serial {serial} since {}{reason}", fmt_time(r.revocation_date));
    }
    let _ = writeln!(out, "  SHA-256:            {}", hex(&gridtrust_trust::signing::certificate_id(crl.as_raw())));
}

fn general_name(gn: &GeneralName<'_>) -> String {
    match gn {
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::RFC822Name(m) => format!("email:{m}"),
        GeneralName::IPAddress(ip) => match ip_from_bytes(ip) {
            Some(ip) => format!("IP:{ip}"),
            None => format!("IP:(malformed {})", hex(ip)),
        },
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::RegisteredID(oid) => format!("RID:{oid}"),
        other => format!("{other:?}"),
    }
}

fn critical(c: bool) -> &'static str {
    if c { " (critical)" } else { "" }
}

fn fmt_time(t: ASN1Time) -> String {
    t.to_datetime().format(&Rfc3339).unwrap_or_else(|_| t.timestamp().to_string())
}
