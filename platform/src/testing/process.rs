//! The real platform binary as a child process, on free loopback ports, in a temporary data
//! directory, stopped when dropped (zero2prod's `spawn_app`, but a real process).
//!
//! The process is started with `--web-listen 127.0.0.1:0 --agency-listen 127.0.0.1:0` and JSON
//! logs; it reports the addresses it bound in its `platform ready` log event, which
//! [`PlatformBuilder::spawn`] waits for.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a platform may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Configures a platform process before it starts.
#[derive(Debug)]
pub struct PlatformBuilder {
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    web_listen: String,
}

/// A running platform process; killed (after a polite SIGTERM) when dropped.
#[derive(Debug)]
pub struct PlatformProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` of the website.
    pub web_url: String,
    /// Address of the agency API (mutual TLS), when the process runs one.
    pub agency_addr: Option<SocketAddr>,
    /// `http://127.0.0.1:PORT` of the operator console (and `/metrics`).
    pub admin_url: String,
    /// The data directory in use.
    pub data_dir: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    bin: PathBuf,
    database_url: Option<String>,
    env: Vec<(String, String)>,
    _temp: Option<tempfile::TempDir>,
}

impl PlatformBuilder {
    /// A platform started from the binary at `bin` with a fresh temporary data directory. The
    /// end-to-end suite finds the binary in one place (`e2e_tests::binaries`) and starts it with
    /// `e2e_tests::platform()`.
    pub fn new(bin: impl Into<PathBuf>) -> PlatformBuilder {
        PlatformBuilder {
            bin: bin.into(),
            args: Vec::new(),
            env: Vec::new(),
            data_dir: None,
            database_url: None,
            web_listen: "127.0.0.1:0".into(),
        }
    }

    /// Listens for the website on a free port chosen now (not `:0`) and makes it the public
    /// address, so the links in the mails it sends lead back to this process.
    pub fn web_public_on_free_port(mut self) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        self.web_listen = format!("127.0.0.1:{port}");
        self.env.push((
            "PLATFORM_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port}"),
        ));
        self
    }

    /// Adds command-line arguments (after the built-in ones).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the process.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Uses `dir` as data directory instead of a fresh temporary one (e.g. to restart on the
    /// same data).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Uses this database instead of the SQLite file in the data directory.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// The command this builder would run, with a data directory at `data_dir`.
    fn command(&self, data_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.bin);
        // Hermetic: nothing from the developer's environment configures the platform.
        for (key, _) in std::env::vars() {
            if key.starts_with("PLATFORM_") || key == "DATABASE_URL" {
                cmd.env_remove(key);
            }
        }
        cmd.env("PLATFORM_LOG_FORMAT", "json")
            .env("PLATFORM_LOG", "info")
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--web-listen",
                &self.web_listen,
                "--agency-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ]);
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the process and waits until it reports `platform ready`. Fails with the process's
    /// log when it exits first or does not get ready in time.
    pub fn spawn(self) -> Result<PlatformProcess, String> {
        let (temp, data_dir) = match &self.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::tempdir().map_err(|e| e.to_string())?;
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        let mut child = self
            .command(&data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped stderr")),
        ] {
            let logs = Arc::clone(&logs);
            let ready_tx = ready_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addrs) = parse_ready(&line) {
                        let _ = ready_tx.send(addrs);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        drop(ready_tx);
        let mut process = PlatformProcess {
            child: Some(child),
            web_url: String::new(),
            agency_addr: None,
            admin_url: String::new(),
            data_dir,
            logs,
            bin: self.bin.clone(),
            database_url: self.database_url.clone(),
            env: self.env.clone(),
            _temp: temp,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(100)) {
                Ok((web, agency, admin)) => {
                    process.web_url = format!("http://{web}");
                    process.agency_addr = agency;
                    process.admin_url = admin.map(|a| format!("http://{a}")).unwrap_or_default();
                    return Ok(process);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = process.try_wait() {
                        return Err(format!(
                            "platform exited with {status} before it was ready; its log:\n{}",
                            process.logs().join("\n")
                        ));
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "platform not ready after {START_TIMEOUT:?}; its log:\n{}",
                            process.logs().join("\n")
                        ));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = process.wait_exit(Duration::from_secs(10));
                    return Err(format!(
                        "platform closed its output before it was ready (exit {status:?}); its log:\n{}",
                        process.logs().join("\n")
                    ));
                }
            }
        }
    }

    /// Runs the binary with `args` (plus a data directory) to completion, for commands that
    /// exit, and returns its status, stdout and stderr. Killed after `timeout`.
    pub fn run_to_exit<I, S>(
        &self,
        args: I,
        timeout: Duration,
    ) -> Result<(ExitStatus, String, String), String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars() {
            if key.starts_with("PLATFORM_") || key == "DATABASE_URL" {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--data-dir").arg(&data_dir);
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd.args(args), timeout)
    }
}

/// Runs `cmd` with piped output; kills it after `timeout`.
pub fn run_with_timeout(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<(ExitStatus, String, String), String> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Ok((
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            Err(format!("{cmd:?} did not finish within {timeout:?}"))
        }
    }
}

/// The web, agency and admin addresses of a `platform ready` line.
type ReadyAddrs = (SocketAddr, Option<SocketAddr>, Option<SocketAddr>);

/// Reads the web, agency and admin addresses out of a `platform ready` JSON log line.
fn parse_ready(line: &str) -> Option<ReadyAddrs> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "platform ready" {
        return None;
    }
    let web = fields.get("web")?.as_str()?.parse().ok()?;
    let addr = |name: &str| {
        fields
            .get(name)
            .and_then(|a| a.as_str())
            .and_then(|a| a.parse().ok())
    };
    Some((web, addr("agency"), addr("admin")))
}

impl PlatformProcess {
    /// Everything the process has logged so far, one entry per line.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status if the process has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }

    /// Sends SIGTERM and waits up to `timeout` for a graceful exit; returns its status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.pid()?;
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        self.wait_exit(timeout)
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A URL on the website, e.g. `url("/healthz")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.web_url, path)
    }

    /// A URL on the operator console, e.g. `admin("/metrics")`.
    pub fn admin(&self, path: &str) -> String {
        format!("{}{}", self.admin_url, path)
    }

    /// `https://127.0.0.1:PORT` of the agency API.
    pub fn agency_url(&self) -> String {
        format!(
            "https://{}",
            self.agency_addr.expect("the platform runs an agency API")
        )
    }

    /// Runs an operator command (`agency add …`, `cert revoke …`) on the same data directory and
    /// database as this process; returns exit status, stdout and stderr. Killed after 60 s.
    pub fn cli<I, S>(&self, args: I) -> (ExitStatus, String, String)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars() {
            if key.starts_with("PLATFORM_") || key == "DATABASE_URL" {
                cmd.env_remove(key);
            }
        }
        cmd.arg("--data-dir").arg(&self.data_dir);
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd.args(args), Duration::from_secs(60)).expect("operator command")
    }

    /// Runs an operator command with `--json`, asserts it succeeded, and parses its output.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (status, out, err) = self.cli(&all);
        assert!(status.success(), "platform {args:?} failed: {err}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("platform {args:?} printed no JSON ({e}): {out}"))
    }
}

impl Drop for PlatformProcess {
    fn drop(&mut self) {
        if self.try_wait().is_none() && self.terminate(Duration::from_secs(10)).is_none() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ready_line_is_parsed() {
        let line = r#"{"timestamp":"x","level":"INFO","fields":{"message":"platform ready","web":"127.0.0.1:4000","agency":"127.0.0.1:4001","admin":"127.0.0.1:4002"},"target":"platform"}"#;
        let (web, agency, admin) = super::parse_ready(line).unwrap();
        assert_eq!(web.port(), 4000);
        assert_eq!(agency.unwrap().port(), 4001);
        assert_eq!(admin.unwrap().port(), 4002);
        assert!(super::parse_ready("not json").is_none());
        assert!(super::parse_ready(r#"{"fields":{"message":"other"}}"#).is_none());
    }
}
