//! A role's data folder on its own small tmpfs, so the harness can fill it to the last byte
//! (ENOSPC) and free it again: a full disk at the substation or in the cloud.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A data folder moved onto a tmpfs; unmounted (contents lost) when dropped.
pub struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Moves `folder`'s files onto a fresh tmpfs of `size` mounted on `folder`. `None` when the
    /// harness may not mount (not root): the disk faults are then left out of the run.
    pub fn mount_over(folder: &Path, size: &str) -> Option<Self> {
        let saved = folder.with_extension("before-tmpfs");
        std::fs::rename(folder, &saved).ok()?;
        std::fs::create_dir(folder).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(folder)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(folder);
            let _ = std::fs::rename(&saved, folder);
            return None;
        }
        let copied = Command::new("cp")
            .arg("-a")
            .arg(saved.join("."))
            .arg(folder)
            .status()
            .is_ok_and(|s| s.success());
        if !copied {
            let _ = Command::new("umount").arg(folder).status();
            let _ = std::fs::remove_dir(folder);
            let _ = std::fs::rename(&saved, folder);
            return None;
        }
        Some(Self { path: folder.to_owned() })
    }

    /// Fills the disk to the last byte.
    pub fn fill(&self) {
        let Ok(mut f) = std::fs::File::create(self.filler()) else { return };
        let chunk = vec![0xA5u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let mut small = vec![0u8; 512];
        while !small.is_empty() {
            if f.write_all(&small).is_err() {
                small.truncate(small.len() / 2);
            }
        }
    }

    /// Gives the space back.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
