//! Where the bytes come from: files, folders of files, zip archives (as ENTSO-E publishes
//! conformity models) or memory, all read into one [`RdfGraph`] and built into a [`CgmesModel`].

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::CgmesError;
use crate::graph::RdfGraph;
use crate::model::CgmesModel;
use crate::progress::{ImportProgress, NoProgress};

/// Collects CGMES files (any mix of profiles and boundary sets) and builds one model from them.
///
/// ```no_run
/// let model = gridtrust_cgmes::Importer::new()
///     .add_path("MicroGrid/BaseCase/CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2")?
///     .add_path("MicroGrid/BaseCase/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")?
///     .finish()?;
/// println!("{} substations", model.substations.len());
/// # Ok::<(), gridtrust_cgmes::CgmesError>(())
/// ```
pub struct Importer<'p> {
    graph: RdfGraph,
    progress: Box<dyn ImportProgress + 'p>,
}

impl Default for Importer<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'p> Importer<'p> {
    /// An importer with no files yet and no progress reporting.
    pub fn new() -> Self {
        Importer { graph: RdfGraph::new(), progress: Box::new(NoProgress) }
    }

    /// Reports progress of every file read from now on to `progress`.
    pub fn with_progress(mut self, progress: impl ImportProgress + 'p) -> Self {
        self.progress = Box::new(progress);
        self
    }

    /// Adds a `.xml` file, a `.zip` archive (its `.xml` entries), or a folder (its `.xml` and
    /// `.zip` files, recursively, in name order).
    pub fn add_path(mut self, path: impl AsRef<Path>) -> Result<Self, CgmesError> {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|source| CgmesError::Io { path: path.to_owned(), source })?;
        if metadata.is_dir() {
            let files = files_in(path)?;
            if files.is_empty() {
                return Err(CgmesError::NoFiles { path: path.to_owned() });
            }
            for file in files {
                self = self.add_file(&file)?;
            }
            Ok(self)
        } else {
            self.add_file(path)
        }
    }

    fn add_file(mut self, path: &Path) -> Result<Self, CgmesError> {
        let io_error = |source| CgmesError::Io { path: path.to_owned(), source };
        let file = File::open(path).map_err(io_error)?;
        if has_extension(path, "zip") {
            return self.add_zip(path, file);
        }
        let total = file.metadata().map_err(io_error)?.len();
        let name = path.display().to_string();
        self.graph.read_file(&name, BufReader::with_capacity(64 * 1024, file), Some(total), self.progress.as_mut())?;
        Ok(self)
    }

    fn add_zip(mut self, path: &Path, file: File) -> Result<Self, CgmesError> {
        let zip_error = |source| CgmesError::Zip { path: path.to_owned(), source };
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
        let mut entries: Vec<String> = archive.file_names().filter(|n| has_extension(Path::new(n), "xml")).map(str::to_owned).collect();
        entries.sort();
        if entries.is_empty() {
            return Err(CgmesError::NoFiles { path: path.to_owned() });
        }
        for entry_name in entries {
            let entry = archive.by_name(&entry_name).map_err(zip_error)?;
            let total = entry.size();
            let name = format!("{}/{}", path.display(), entry_name);
            self.graph.read_file(&name, BufReader::with_capacity(64 * 1024, entry), Some(total), self.progress.as_mut())?;
        }
        Ok(self)
    }

    /// Adds one RDF/XML document from any reader; `name` is used in errors and diagnostics.
    pub fn add_reader(mut self, name: &str, source: impl BufRead, total_bytes: Option<u64>) -> Result<Self, CgmesError> {
        self.graph.read_file(name, source, total_bytes, self.progress.as_mut())?;
        Ok(self)
    }

    /// Adds one RDF/XML document held in memory.
    pub fn add_bytes(self, name: &str, bytes: &[u8]) -> Result<Self, CgmesError> {
        let total = u64::try_from(bytes.len()).ok();
        self.add_reader(name, bytes, total)
    }

    /// Checks references across all files and builds the typed model.
    pub fn finish(mut self) -> Result<CgmesModel, CgmesError> {
        self.graph.check_references();
        CgmesModel::from_graph(self.graph)
    }

    /// Checks references and returns the merged graph without building typed objects (for
    /// tools that need every class, not only the ones [`CgmesModel`] types).
    pub fn finish_graph(mut self) -> RdfGraph {
        self.graph.check_references();
        self.graph
    }
}

/// Imports files, folders and zip archives into one model, without progress reports.
pub fn import_paths<P: AsRef<Path>>(paths: &[P]) -> Result<CgmesModel, CgmesError> {
    let mut importer = Importer::new();
    for path in paths {
        importer = importer.add_path(path)?;
    }
    importer.finish()
}

fn has_extension(path: &Path, wanted: &str) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(wanted))
}

/// `.xml` and `.zip` files under `folder`, recursively, sorted by path.
fn files_in(folder: &Path) -> Result<Vec<PathBuf>, CgmesError> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_owned()];
    while let Some(dir) = pending.pop() {
        let io_error = |source| CgmesError::Io { path: dir.clone(), source };
        for entry in std::fs::read_dir(&dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path.is_dir() {
                pending.push(path);
            } else if has_extension(&path, "xml") || has_extension(&path, "zip") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
