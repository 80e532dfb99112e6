//! Progress of an import, so a command line can show large files moving.

/// Where the import is in the current file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressUpdate<'a> {
    /// The file being read.
    pub file: &'a str,
    /// Bytes read so far from this file.
    pub bytes_read: u64,
    /// The file's size, when known (always for files on disk and zip entries).
    pub total_bytes: Option<u64>,
}

/// Receives progress reports: at the start of each file, at least every 1 % or 256 KiB, and at
/// its end. Any `FnMut(ProgressUpdate)` closure is one.
pub trait ImportProgress {
    /// Called as the import advances.
    fn report(&mut self, update: ProgressUpdate<'_>);
}

impl<F: FnMut(ProgressUpdate<'_>)> ImportProgress for F {
    fn report(&mut self, update: ProgressUpdate<'_>) {
        self(update)
    }
}

/// Ignores progress (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ImportProgress for NoProgress {
    fn report(&mut self, _update: ProgressUpdate<'_>) {}
}
