//! The point registry as engineers write, review and sign it: a TOML file (`registry.toml`)
//! that grants point-reference prefixes to edges, generated from the sources that already name
//! the points (IEC 104 mapping files, an imported grid model) and edited by hand, then signed by
//! an ENGINEER or SECADM identity into the file the hub's `[authority] registry` names.
//!
//! ```toml
//! version = 3
//! [grants]
//! "F1" = "edge-1"          # logical device F1: every point F1/...
//! "PV1" = "edge-1"
//! "F1/XCBR2" = "edge-2"    # a more specific prefix wins
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use gridtrust_model::{PointId, Timestamp};
use gridtrust_transport::identity::{Identity, IdentityConfig};
use gridtrust_trust::registry::{PointRegistry, SignedRegistry};

/// The text form of a registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryToml {
    /// Must increase with every signed change: roles never go back to a lower version.
    pub version: u64,
    /// Point-reference prefix → edge id.
    #[serde(default)]
    pub grants: BTreeMap<String, String>,
}

impl RegistryToml {
    /// Grants the logical device of each point to `edge`.
    pub fn grant_logical_devices<'a>(&mut self, edge: &str, points: impl IntoIterator<Item = &'a PointId>) -> anyhow::Result<()> {
        for p in points {
            self.grant(p.logical_device(), edge)?;
        }
        Ok(())
    }

    /// Grants `prefix` to `edge`; a prefix already granted to another edge is an error.
    pub fn grant(&mut self, prefix: &str, edge: &str) -> anyhow::Result<()> {
        match self.grants.get(prefix) {
            Some(owner) if owner != edge => anyhow::bail!("prefix `{prefix}` would belong to both {owner} and {edge}"),
            _ => {
                self.grants.insert(prefix.to_owned(), edge.to_owned());
                Ok(())
            }
        }
    }

    /// The registry to sign, checked (prefixes and edge ids well-formed), issued now.
    pub fn to_registry(&self) -> anyhow::Result<PointRegistry> {
        let mut r = PointRegistry::new(self.version, Timestamp::now());
        for (prefix, edge) in &self.grants {
            r.grant(prefix, edge).with_context(|| format!("grants.\"{prefix}\""))?;
        }
        Ok(r)
    }

    /// Reads a `registry.toml`; errors name the key.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        Ok(gridtrust_config::read_toml(path)?)
    }

    /// The file's text.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(format!(
            "# Point registry: which edge may report each point and be commanded for it.\n# Sign with `gridtrust registry sign`; raise the version with every change.\n{}",
            toml::to_string(self)?
        ))
    }
}

/// The `[identity]` table of a signer's file (`gridtrust registry sign --identity FILE`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerFile {
    identity: IdentityConfig,
}

/// Loads the signer's identity (key in an HSM or, for development, a file) from a TOML file
/// with an `[identity]` table, paths relative to that file.
pub fn load_signer(path: &Path) -> anyhow::Result<Identity> {
    let mut file: SignerFile = gridtrust_config::read_toml(path)?;
    file.identity.resolve(gridtrust_config::base_dir(path));
    Ok(Identity::load(&file.identity)?)
}

/// Signs `registry` with `signer` and writes the signed file; the PKI decides at every
/// receiver whether the signer may (ENGINEER or SECADM), and this checks it here first.
pub fn sign(registry: &PointRegistry, signer: &Identity, out: &Path) -> anyhow::Result<SignedRegistry> {
    gridtrust_pki::authorize(&signer.me, &[gridtrust_pki::IdentityKind::Operator], gridtrust_pki::REGISTRY_ROLES)
        .context("this identity may not sign the point registry")?;
    let signed = SignedRegistry::sign(registry, signer.signer.as_ref(), &signer.certificate)?;
    std::fs::write(out, signed.to_bytes()?).with_context(|| format!("writing {}", out.display()))?;
    Ok(signed)
}

/// The `[authority]` table of a hub configuration that uses [`DEV_REGISTRY_FILE`].
pub const DEV_AUTHORITY_TABLE: &str = "[authority]\nregistry = \"registry.signed\"\n";
/// Where [`write_dev_registry`] writes the signed registry, next to the hub configuration.
pub const DEV_REGISTRY_FILE: &str = "registry.signed";

/// For tests and benchmarks: grants each `(prefix, edge)`, signs as the development PKI's
/// engineer and writes [`DEV_REGISTRY_FILE`] into `dir`.
pub fn write_dev_registry(pki_dir: &Path, version: u64, grants: &[(&str, &str)], dir: &Path) -> anyhow::Result<SignedRegistry> {
    let mut registry = RegistryToml { version, ..RegistryToml::default() };
    for (prefix, edge) in grants {
        registry.grant(prefix, edge)?;
    }
    let pki = gridtrust_pki::DevPki::open(pki_dir);
    gridtrust_transport::authority::sign_as_dev_engineer(&pki, &registry.to_registry()?, &dir.join(DEV_REGISTRY_FILE))
        .map_err(|e| anyhow::anyhow!("signing the development registry: {e}"))
}
