//! Shared harness for whole-daemon tests: run the real `hallqd` binary on a
//! throw-away hall, talk to it over loopback HTTP, stop or kill it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's `config/` folder (catalogue, calendars).
pub fn repo_config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Write a small test hall (3 queues, 4 windows, open every day round the
/// clock, no holiday calendar) into `dir`, with `extra` TOML appended to the
/// `[rules]` table. Returns the config path.
pub fn write_hall_config(dir: &Path, rules_extra: &str) -> PathBuf {
    let catalog = repo_config_dir().join("catalog.toml");
    let text = format!(
        r#"
[hall]
id = "test-hall"
name = "测试大厅"
phone = "0530-0000000"

[store]
database = "hall.db"

[data]
catalog = "{catalog}"
calendars = []

[hours]
mon = ["00:00-23:59"]
tue = ["00:00-23:59"]
wed = ["00:00-23:59"]
thu = ["00:00-23:59"]
fri = ["00:00-23:59"]
sat = ["00:00-23:59"]
sun = ["00:00-23:59"]

[rules]
{rules_extra}

[[queues]]
prefix = "A"
name = "归集业务"
groups = ["归集"]

[[queues]]
prefix = "B"
name = "支取业务"
groups = ["支取"]

[[queues]]
prefix = "C"
name = "贷款业务"
groups = ["贷款"]

[[windows]]
number = 1
green_channel = true

[[windows]]
number = 2

[[windows]]
number = 3

[[windows]]
number = 4
queues = ["C"]
"#,
        catalog = catalog.display()
    );
    let path = dir.join("hall.toml");
    std::fs::write(&path, text).expect("writing test config");
    path
}

/// A running `hallqd`.
pub struct Daemon {
    child: Child,
    pub base: String,
    agent: ureq::Agent,
}

impl Daemon {
    /// Start `hallqd --config CONFIG` on a free loopback port and wait (at
    /// most 20 s) for it to say where it listens.
    pub fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hallqd"))
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting hallqd");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("hallqd listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("hallqd did not report a listening address within 20 s");
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Daemon { child, base, agent }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the power cut.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping hallqd");
    }

    /// SIGTERM, then wait (at most 10 s) for a clean exit; returns its status code.
    pub fn terminate(mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for hallqd") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hallqd did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20)); // poll interval, bounded by the deadline
        }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut resp = self
            .agent
            .get(&format!("{}{}", self.base, path))
            .call()
            .expect("GET");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut resp = self
            .agent
            .post(&format!("{}{}", self.base, path))
            .send_json(body)
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn post_empty(&self, path: &str) -> (u16, Value) {
        let mut resp = self
            .agent
            .post(&format!("{}{}", self.base, path))
            .send_empty()
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// POST raw bytes with a content type, for malformed-request tests.
    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut resp = self
            .agent
            .post(&format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .send(body)
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or(Value::Null))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10)); // poll interval, bounded by the deadline
    }
    cond()
}
pub mod devices;
