//! Rebuilds as child processes (`bake build`), so that a change can cancel a build that
//! is still running — one stuck in a canned query that never ends, say — by killing it.
//!
//! A build in a thread of the server could not be stopped from outside: it would keep a
//! core busy and the next build would wait for it. A killed child leaves at most its
//! staging folder, which the next build removes; the swap into place is atomic, so a kill
//! never leaves a half-written site served.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to run one rebuild: `EXE build --config CONFIG [--out OUT]`.
#[derive(Debug, Clone)]
pub(crate) struct Rebuilder {
    /// The bake executable.
    pub exe: PathBuf,
    /// bake.toml, as given to serve.
    pub config: PathBuf,
    /// `--out`, as given to serve.
    pub out: Option<PathBuf>,
}

/// How a finished rebuild ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Exit 0, with what the build printed on stdout (its one-line report).
    Built(String),
    /// Any other end, with what the child wrote on stderr (already passed on to the
    /// server's stderr as it came; at most [`STDERR_KEPT`] bytes are kept).
    Failed(ExitStatus, String),
}

/// A rebuild that was started. Dropping it kills the child (if it still runs) and waits for
/// it, so no build outlives the server.
pub(crate) struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    /// When the child was started.
    pub started: Instant,
}

impl Rebuilder {
    /// Starts the build. Its stderr is passed on to the server's as it comes (errors reach
    /// the terminal as they are) and kept, so a failure can be shown in the open pages; its
    /// stdout is collected for the report line: serve's own stdout stays one line.
    pub fn start(&self) -> std::io::Result<Running> {
        let mut command = Command::new(&self.exe);
        command.arg("build").arg("--config").arg(&self.config);
        if let Some(out) = &self.out {
            command.arg("--out").arg(out);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl and getppid are async-signal-safe and touch no memory of ours.
            // If the server dies without running its destructors (kill -9), the kernel
            // kills the build too instead of leaving it running unseen.
            unsafe {
                let parent = libc::getpid();
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The server died between fork and prctl: nobody would kill us.
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let mut bytes = Vec::new();
                if pipe.read_to_end(&mut bytes).is_ok() {
                    text = String::from_utf8_lossy(&bytes).trim().to_string();
                }
                text
            })
        });
        let stderr = child
            .stderr
            .take()
            .map(|pipe| std::thread::spawn(move || tee(pipe, std::io::stderr())));
        Ok(Running {
            child,
            stdout,
            stderr,
            started: Instant::now(),
        })
    }
}

impl Running {
    /// The outcome if the build has ended, without waiting.
    pub fn try_finish(&mut self) -> Option<Outcome> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(self.outcome(status)),
            Err(e) => {
                eprintln!("warning: cannot check on the build: {e}");
                let status = self.stop()?;
                Some(self.outcome(status))
            }
        }
    }

    /// Kills the build (if still running) and waits for it to end.
    pub fn cancel(mut self) {
        self.stop();
    }

    /// The process id, for tests and messages.
    #[cfg(test)]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        // Fails only if the child has already ended, which `wait` then reports.
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => Some(status),
            Err(e) => {
                eprintln!("warning: cannot stop the build: {e}");
                None
            }
        }
    }

    fn outcome(&mut self, status: ExitStatus) -> Outcome {
        if !status.success() {
            // The child has ended, so its stderr is at its end too (unless a grandchild
            // holds it open: bake build starts none).
            let stderr = self
                .stderr
                .take()
                .and_then(|reader| reader.join().ok())
                .unwrap_or_default();
            return Outcome::Failed(status, stderr);
        }
        let report = self
            .stdout
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        Outcome::Built(report)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// How much of a failed build's stderr is kept for the pages (an error is a few lines; a
/// build that prints without end must not fill the server's memory).
pub(crate) const STDERR_KEPT: usize = 64 * 1024;

/// Copies `pipe` to `out` (the server's stderr) until it ends; returns the first
/// [`STDERR_KEPT`] bytes of it as text, trimmed.
fn tee(mut pipe: impl Read, mut out: impl Write) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

/// How often a running build is checked on while waiting for changes.
pub(crate) const POLL: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake bake: a shell script, run as `SCRIPT build --config X --out Y`.
    struct Fake {
        _dir: tempfile::TempDir,
        rebuilder: Rebuilder,
    }

    fn fake(script: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fake-bake");
        std::fs::write(&exe, format!("#!/bin/sh\n{script}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let rebuilder = Rebuilder {
            exe,
            config: PathBuf::from("site/bake.toml"),
            out: Some(PathBuf::from("out")),
        };
        Fake {
            _dir: dir,
            rebuilder,
        }
    }

    impl Fake {
        fn start(&self) -> Running {
            // A fork in another test thread may briefly hold the script open for writing
            // ("text file busy"); that is the test's race, not the server's.
            for _ in 0..50 {
                match self.rebuilder.start() {
                    Err(e) if e.raw_os_error() == Some(26) => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    other => return other.unwrap(),
                }
            }
            panic!("the fake build never started")
        }
    }

    fn finish(running: &mut Running) -> Outcome {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(outcome) = running.try_finish() {
                return outcome;
            }
            assert!(Instant::now() < deadline, "the build ends");
            std::thread::sleep(POLL);
        }
    }

    #[cfg(unix)]
    #[test]
    fn passes_the_arguments_and_collects_the_report() {
        let fake = fake(r#"echo "built with $*""#);
        let mut running = fake.start();
        match finish(&mut running) {
            Outcome::Built(report) => {
                assert_eq!(report, "built with build --config site/bake.toml --out out")
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_build_is_failed_with_what_it_printed() {
        let fake = fake("echo 'error: content/a.md:3: bad' >&2; echo hint >&2; exit 1");
        let mut running = fake.start();
        match finish(&mut running) {
            Outcome::Failed(status, stderr) => {
                assert_eq!(status.code(), Some(1));
                assert_eq!(stderr, "error: content/a.md:3: bad\nhint");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_flood_on_stderr_is_passed_on_whole_and_kept_in_part() {
        let flood = vec![b'x'; 3 * STDERR_KEPT + 5];
        let mut passed = Vec::new();
        let kept = tee(&flood[..], &mut passed);
        assert_eq!(passed, flood);
        assert_eq!(kept.len(), STDERR_KEPT);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cancel_and_drop_kill_the_build() {
        let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
        let endless = fake("exec sleep 600");
        let running = endless.start();
        let pid = running.id();
        assert!(alive(pid));
        let started = Instant::now();
        running.cancel();
        assert!(!alive(pid), "killed and reaped");
        assert!(started.elapsed() < Duration::from_secs(5));

        let mut running = endless.start();
        let pid = running.id();
        assert!(running.try_finish().is_none(), "still running");
        drop(running);
        assert!(!alive(pid), "dropping kills it too");
    }
}
