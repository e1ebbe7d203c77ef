//! Shared by the end-to-end tests: runs the real `strata` binary on free ports with a
//! temporary data directory, waits until it is ready, and kills it when dropped.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a start (including WAL replay) may take before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `strata serve`.
pub struct StrataProcess {
    child: Option<Child>,
    http: SocketAddr,
    statsd: SocketAddr,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    data_dir: PathBuf,
    log: PathBuf,
    /// Owns the data directory and the log; removed on drop.
    _dir: tempfile::TempDir,
}

impl StrataProcess {
    /// Starts `strata serve` with `extra_args` on free ports and a fresh data directory.
    pub fn start(extra_args: &[&str]) -> Self {
        Self::start_with_env(extra_args, &[])
    }

    /// Like [`StrataProcess::start`], with extra environment variables.
    pub fn start_with_env(extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut process = StrataProcess {
            child: None,
            http: free_tcp_port(),
            statsd: free_udp_and_tcp_port(),
            args: extra_args.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data_dir: dir.path().join("data"),
            log: dir.path().join("strata.log"),
            _dir: dir,
        };
        process.spawn_and_wait();
        process
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Where StatsD listens, UDP and TCP.
    pub fn statsd_addr(&self) -> SocketAddr {
        self.statsd
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and waits for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the server is running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for strata") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("strata did not exit after SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again (SIGKILLing it first if it runs) on the same ports, data
    /// directory and arguments, and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn_and_wait();
    }

    fn spawn_and_wait(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the server log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command.arg("serve");
        // The test's own choice (e.g. `--statsd-addr off`) replaces the default.
        for (flag, value) in [
            ("--data-dir", self.data_dir.display().to_string()),
            ("--http-addr", self.http.to_string()),
            ("--statsd-addr", self.statsd.to_string()),
        ] {
            if !self.args.iter().any(|a| a == flag) {
                command.arg(flag).arg(value);
            }
        }
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        self.child = Some(command.spawn().expect("start strata"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let url = format!("{}/-/ready", self.http_url());
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build an HTTP client");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "strata exited with {status} before ready; log:\n{}",
                    self.log()
                );
            }
            if client
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        panic!(
            "strata was not ready within {READY_TIMEOUT:?}; log:\n{}",
            self.log()
        );
    }
}

impl Drop for StrataProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `strata` with `args` and `envs` to completion (for start-up failures).
pub fn run_strata(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run strata")
}

fn free_tcp_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address")
}

/// A port free for both UDP and TCP, as the StatsD listener needs.
fn free_udp_and_tcp_port() -> SocketAddr {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port");
        let addr = udp.local_addr().expect("local address");
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

/// A blocking HTTP client for the tests.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

/// Reads a file of the shared test data (`/work/shared/data/...` beside the repository).
pub fn shared_data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("shared data {} is missing: {e}", path.display()))
}

/// An HTTP answer: status, headers and body parsed as JSON (`Null` when it is not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: serde_json::Value,
}

impl Answer {
    fn from(response: reqwest::blocking::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().expect("read the answer");
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }
}

impl StrataProcess {
    /// POSTs `body` to `path` with the given headers.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Answer {
        let mut request = client().post(format!("{}{path}", self.http_url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::from(request.body(body.into()).send().expect("POST to strata"))
    }

    /// GETs `path` (with its query string).
    pub fn get(&self, path: &str) -> Answer {
        Answer::from(
            client()
                .get(format!("{}{path}", self.http_url()))
                .send()
                .expect("GET from strata"),
        )
    }

    /// The raw samples of the series matching `selector`, via `/api/v1/export`: each
    /// series' labels with its (timestamp, value) pairs.
    pub fn export(&self, selector: &str) -> Vec<(serde_json::Value, Vec<(i64, f64)>)> {
        let answer = client()
            .get(format!("{}/api/v1/export", self.http_url()))
            .query(&[("match[]", selector)])
            .send()
            .expect("GET /api/v1/export");
        let answer = Answer::from(answer);
        assert_eq!(answer.status, 200, "export {selector}: {}", answer.text);
        answer
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("export line is JSON");
                let ts = v["timestamps"].as_array().expect("timestamps").iter();
                let vals = v["values"].as_array().expect("values").iter();
                let points = ts
                    .zip(vals)
                    .map(|(t, v)| (t.as_i64().expect("timestamp"), json_number(v)))
                    .collect();
                (v["metric"].clone(), points)
            })
            .collect()
    }
}

/// A sample value as JSON writes it: a number, or a string for NaN and infinities.
fn json_number(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().expect("finite number"),
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().expect("numeric string"),
        },
        other => panic!("not a sample value: {other}"),
    }
}

/// A test fixture of this crate (`tests/fixtures/<name>`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} is missing: {e}", path.display()))
}
