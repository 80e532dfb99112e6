//! A role as a separate `gridtrust` process that the harness kills (SIGKILL: a power cut or the
//! OOM killer) or stops (SIGTERM: an operator or systemd) and starts again on the same files.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a role was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGKILL: no chance to flush anything.
    Kill,
    /// SIGTERM: the graceful stop, which must end within the role's bound.
    Term,
}

/// Why a role did not behave as a process should.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {role}: {source}")]
    Spawn { role: String, source: std::io::Error },
    #[error("{role} did not end within {bound:?} of SIGTERM")]
    StopTimeout { role: String, bound: Duration },
    #[error("{role} ended with {status} after SIGTERM (a graceful stop exits 0)")]
    StopStatus { role: String, status: ExitStatus },
    #[error("cannot signal {role}: {source}")]
    Signal { role: String, source: std::io::Error },
}

/// One role: `gridtrust <args>` run in `cwd`, its output appended to `<cwd>/<name>.log` across
/// restarts. Killed when dropped, so a failing run leaves nothing behind.
pub struct Role {
    pub name: String,
    binary: PathBuf,
    cwd: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    clock: Option<PathBuf>,
}

/// libfaketime as Debian installs it (package `faketime`).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// Whether roles can run under libfaketime here.
pub fn faketime_available() -> bool {
    Path::new(LIBFAKETIME).exists()
}

impl Role {
    pub fn new(name: &str, binary: &Path, cwd: &Path, args: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            binary: binary.to_owned(),
            cwd: cwd.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            clock: None,
        }
    }

    /// Runs the role under libfaketime with its wall-clock offset read from a file, so
    /// [`Self::step_clock`] moves the clock of the running process (the monotonic clock stays
    /// true, as it does when NTP or an operator steps a real clock).
    pub fn with_steppable_clock(mut self) -> Self {
        if faketime_available() {
            let file = self.cwd.join(format!("{}.faketime", self.name));
            if std::fs::write(&file, "+0\n").is_ok() {
                self.clock = Some(file);
            }
        }
        self
    }

    /// Whether [`Self::step_clock`] works for this role.
    pub fn clock_steppable(&self) -> bool {
        self.clock.is_some()
    }

    /// Sets the role's wall clock to `offset_s` seconds from the true time (0 sets it right).
    pub fn step_clock(&self, offset_s: i64) {
        if let Some(file) = &self.clock {
            let _ = std::fs::write(file, format!("{offset_s:+}\n"));
        }
    }

    /// Starts the process (again).
    pub fn start(&mut self) -> Result<(), ProcessError> {
        let spawn = |source| ProcessError::Spawn {
            role: self.name.clone(),
            source,
        };
        let log = OpenOptions::new().create(true).append(true).open(self.log_path()).map_err(spawn)?;
        let err = log.try_clone().map_err(spawn)?;
        let mut command = Command::new(&self.binary);
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .env("GRIDTRUST_LOG_FORMAT", "text")
            .stdout(log)
            .stderr(err);
        if let Some(file) = &self.clock {
            command
                .env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME_TIMESTAMP_FILE", file)
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let child = command.spawn().map_err(spawn)?;
        self.child = Some(child);
        Ok(())
    }

    /// Where the process's output goes.
    pub fn log_path(&self) -> PathBuf {
        self.cwd.join(format!("{}.log", self.name))
    }

    /// The last `n` lines of the role's log, for a failure message.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// How many lines of the role's log contain `pattern`.
    pub fn log_count(&self, pattern: &str) -> usize {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(pattern))
            .count()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the process the way `how` says. After SIGTERM it must exit 0 within `bound`.
    pub fn stop(&mut self, how: Stop, bound: Duration) -> Result<(), ProcessError> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        match how {
            Stop::Kill => {
                let _ = child.kill();
                let _ = child.wait();
                Ok(())
            }
            Stop::Term => {
                let status = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .map_err(|source| ProcessError::Signal {
                        role: self.name.clone(),
                        source,
                    })?;
                if !status.success() {
                    // Already gone: nothing to wait for.
                    let _ = child.wait();
                    return Ok(());
                }
                let deadline = Instant::now() + bound;
                loop {
                    if let Ok(Some(status)) = child.try_wait() {
                        return if status.success() {
                            Ok(())
                        } else {
                            Err(ProcessError::StopStatus {
                                role: self.name.clone(),
                                status,
                            })
                        };
                    }
                    if Instant::now() >= deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(ProcessError::StopTimeout {
                            role: self.name.clone(),
                            bound,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
