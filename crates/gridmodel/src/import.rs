//! Building a model from files: SCL files, CGMES files/folders/zips, a mapping file; each file's
//! SHA-256 is recorded so a model says exactly what it was built from. Also reading and writing
//! the model JSON.

use std::io::Read;
use std::path::{Path, PathBuf};

use gridtrust_cgmes::{CgmesModel, CgmesVersion, ImportProgress, Importer, NoProgress};
use sha2::{Digest, Sha256};

use crate::error::{ImportErrors, ModelError};
use crate::join::{SclInput, join};
use crate::mapping::Mapping;
use crate::model::{FORMAT_VERSION, GridModel, SourceFile};

/// The files to build a model from.
#[derive(Clone, Debug, Default)]
pub struct ModelInputs {
    pub scl: Vec<PathBuf>,
    /// CGMES `.xml` files, `.zip` archives or folders of them (read recursively, in name order).
    pub cgmes: Vec<PathBuf>,
    pub mapping: Option<PathBuf>,
}

/// A built model and the problems that did not stop it.
#[derive(Clone, Debug)]
pub struct Imported {
    pub model: GridModel,
    /// SCL warnings and CGMES diagnostics (dangling references), one line each with the place.
    pub warnings: Vec<String>,
    /// The CGMES editions of the CGMES files read (detected per file), empty without CGMES.
    pub cgmes_versions: Vec<CgmesVersion>,
}

fn io_error(path: &Path, error: impl std::fmt::Display) -> ModelError {
    ModelError::Io { path: path.display().to_string(), message: error.to_string() }
}

fn source(kind: &str, path: &Path, bytes: &[u8]) -> SourceFile {
    SourceFile {
        kind: kind.to_owned(),
        path: path.display().to_string(),
        sha256: hex(&Sha256::digest(bytes)),
        bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The files a CGMES path stands for, as the CGMES importer reads them: a file itself, or a
/// folder's `.xml` and `.zip` files, recursively, in name order.
fn cgmes_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ModelError> {
    if !path.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(path).map_err(|e| io_error(path, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        let wanted = entry.is_dir() || entry.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml") || x.eq_ignore_ascii_case("zip"));
        if wanted {
            cgmes_files(&entry, out)?;
        }
    }
    Ok(())
}

fn hash_file(kind: &str, path: &Path) -> Result<SourceFile, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| io_error(path, e))?;
        let Some(chunk) = buffer.get(..n) else { break };
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    Ok(SourceFile { kind: kind.to_owned(), path: path.display().to_string(), sha256: hex(&hasher.finalize()), bytes: total })
}

fn read_cgmes(paths: &[PathBuf], progress: impl ImportProgress) -> Result<(CgmesModel, Vec<PathBuf>), ModelError> {
    let mut files = Vec::new();
    let mut importer = Importer::new().with_progress(progress);
    for path in paths {
        cgmes_files(path, &mut files)?;
        importer = importer.add_path(path)?;
    }
    Ok((importer.finish()?, files))
}

/// Reads every input and joins them; all problems found are returned together.
pub fn import_files(inputs: &ModelInputs, progress: impl ImportProgress) -> Result<Imported, ImportErrors> {
    let mut failed = ImportErrors::default();
    let mut sources = Vec::new();
    let mut scl = Vec::new();
    for path in &inputs.scl {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                failed.errors.push(io_error(path, e));
                continue;
            }
        };
        sources.push(source("scl", path, &bytes));
        match SclInput::from_bytes(&path.display().to_string(), &bytes) {
            Ok(input) => {
                failed.warnings.extend(input.import.warnings.iter().map(|w| format!("warning: {w}")));
                scl.push(input);
            }
            Err(errors) => {
                failed.warnings.extend(errors.warnings.iter().map(|w| format!("warning: {w}")));
                failed.errors.extend(errors.errors.into_iter().map(|e| ModelError::Scl(Box::new(e))));
            }
        }
    }
    let cgmes = if inputs.cgmes.is_empty() {
        None
    } else {
        match read_cgmes(&inputs.cgmes, progress) {
            Ok((model, files)) => {
                for file in &files {
                    match hash_file("cgmes", file) {
                        Ok(s) => sources.push(s),
                        Err(e) => failed.errors.push(e),
                    }
                }
                failed.warnings.extend(model.diagnostics.iter().map(|d| format!("warning: {d}")));
                Some(model)
            }
            Err(e) => {
                failed.errors.push(e);
                None
            }
        }
    };
    let mapping = match &inputs.mapping {
        None => None,
        Some(path) => match std::fs::read(path) {
            Err(e) => {
                failed.errors.push(io_error(path, e));
                None
            }
            Ok(bytes) => {
                sources.push(source("mapping", path, &bytes));
                let text = String::from_utf8_lossy(&bytes);
                match Mapping::from_toml(&path.display().to_string(), &text) {
                    Ok(mapping) => Some(mapping),
                    Err(e) => {
                        failed.errors.push(e);
                        None
                    }
                }
            }
        },
    };
    if !failed.errors.is_empty() {
        return Err(failed);
    }
    let cgmes_versions = cgmes.as_ref().map(CgmesModel::versions).unwrap_or_default();
    match join(&scl, cgmes.as_ref(), mapping.as_ref()) {
        Ok(mut model) => {
            model.sources = sources;
            model.canonicalize();
            tracing::info!(points = model.points.len(), unresolved = model.unresolved.len(), sources = model.sources.len(), "model joined");
            Ok(Imported { model, warnings: failed.warnings, cgmes_versions })
        }
        Err(errors) => {
            failed.errors = errors;
            Err(failed)
        }
    }
}

/// [`import_files`] without progress reports.
pub fn import(inputs: &ModelInputs) -> Result<Imported, ImportErrors> {
    import_files(inputs, NoProgress)
}

impl GridModel {
    /// The model as pretty JSON in canonical order (what `gridtrust model import -o` writes).
    pub fn to_json(&self) -> String {
        let mut canonical = self.clone();
        canonical.canonicalize();
        // A model holds only strings, numbers, maps with string keys and lists: serialising it
        // cannot fail, and an empty string would be refused by `from_json` anyway.
        serde_json::to_string_pretty(&canonical).unwrap_or_default()
    }

    /// Reads a model JSON; `name` is the file name errors carry.
    pub fn from_json(name: &str, text: &str) -> Result<GridModel, ModelError> {
        let model: GridModel =
            serde_json::from_str(text).map_err(|e| ModelError::ModelFile { path: name.to_owned(), message: e.to_string() })?;
        if model.format != FORMAT_VERSION {
            return Err(ModelError::ModelFile {
                path: name.to_owned(),
                message: format!("format {} is not the format {FORMAT_VERSION} this build reads", model.format),
            });
        }
        Ok(model)
    }

    /// Reads a model JSON file.
    pub fn read(path: &Path) -> Result<GridModel, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
        GridModel::from_json(&path.display().to_string(), &text)
    }
}
