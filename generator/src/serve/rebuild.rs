//! Rebuilds as child processes (`bake build`), so that a change can cancel a build that
//! is still running — one stuck in a canned query that never ends, say — by killing it.
//!
//! A build in a thread of the server could not be stopped from outside: it would keep a
//! core busy and the next build would wait for it. A killed child leaves at most its
//! staging folder, which the next build removes; the swap into place is atomic, so a kill
//! never leaves a half-written site served.

use std::io::Read;
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
    /// Any other end; the child has printed its error on the inherited stderr.
    Failed(ExitStatus),
}

/// A rebuild that was started. Dropping it kills the child (if it still runs) and waits for
/// it, so no build outlives the server.
pub(crate) struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    /// When the child was started.
    pub started: Instant,
}

impl Rebuilder {
    /// Starts the build. Its stderr is the server's (errors reach the terminal as they are),
    /// its stdout is collected for the report line: serve's own stdout stays one line.
    pub fn start(&self) -> std::io::Result<Running> {
        let mut command = Command::new(&self.exe);
        command.arg("build").arg("--config").arg(&self.config);
        if let Some(out) = &self.out {
            command.arg("--out").arg(out);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
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
        Ok(Running {
            child,
            stdout,
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
            return Outcome::Failed(status);
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
    fn a_failed_build_is_failed() {
        let fake = fake("exit 1");
        let mut running = fake.start();
        assert!(matches!(finish(&mut running), Outcome::Failed(s) if s.code() == Some(1)));
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
