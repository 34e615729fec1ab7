//! The technician CLI, `hallqctl`, run as a real binary: offline
//! configuration checks, then the API wrappers against a real `hallqd`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn hallqctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .args(args)
        .env_remove("HALLQ_API")
        .env_remove("TZ")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running hallqctl")
}

/// Exit code, stdout and stderr, for assertions and their messages.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = hallqctl(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run against the daemon at `api`, expecting success; returns stdout.
fn ok(api: &str, args: &[&str]) -> String {
    let mut all = vec!["--api", api];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    assert_eq!(code, Some(0), "hallqctl {args:?}\nstdout: {out}\nstderr: {err}");
    out
}

#[test]
fn check_config_accepts_the_demo_hall() {
    let (code, out, err) = run(&["check-config", "config/demo.toml"]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("config/demo.toml: OK"), "{out}");
    assert!(out.contains("demo-hall"), "{out}");
    assert!(out.contains("queues     3: A 归集业务, B 支取业务"), "{out}");
    assert!(out.contains("windows    6:"), "{out}");
    assert!(out.contains("catalogue  34 items"), "{out}");
    assert!(out.contains("mon 00:00-23:59"), "{out}");

    let (code, out, _) = run(&["check-config", "config/example.toml"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("mon 08:30-12:00, 13:30-17:00"), "{out}");
    assert!(out.contains("sat closed"), "{out}");
}

/// Write `text` (from the test hall with replacements) and check it.
fn check_bad(dir: &Path, name: &str, text: &str) -> (String, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = run(&["check-config", path.to_str().unwrap()]);
    assert_eq!(
        code,
        Some(1),
        "{name} should be rejected\nstdout: {out}\nstderr: {err}"
    );
    (path.display().to_string(), format!("{out}{err}"))
}

#[test]
fn check_config_lists_every_problem_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(common::write_hall_config(dir.path(), "")).unwrap();

    // Duplicate window number, a queue nobody serves, bad hours: all at once.
    let text = good
        .replacen("number = 1\n", "number = 1\nqueues = [\"A\"]\n", 1)
        .replacen("number = 2\n", "number = 1\nqueues = [\"B\"]\n", 1)
        .replacen("number = 3\n", "number = 3\nqueues = [\"B\"]\n", 1)
        .replacen("queues = [\"C\"]", "queues = [\"A\"]", 1)
        .replacen("mon = [\"00:00-23:59\"]", "mon = [\"17:00-08:30\"]", 1)
        .replacen("[hall]\n", "[hall]\ntimezone = \"Asia/Beijing\"\n", 1);
    let (file, all) = check_bad(dir.path(), "bad.toml", &text);
    for key in ["windows[1].number", "windows", "hours.mon[0]", "hall.timezone"] {
        assert!(
            all.contains(&format!("{file}: {key}: ")),
            "no line for {key}:\n{all}"
        );
    }
    assert!(
        all.contains(&format!("{file}: windows[1].number: window 1 is defined twice")),
        "{all}"
    );
    assert!(all.contains("no window serves queue C"), "{all}");

    // An unknown key: the line names the file, the position and the key.
    let text = good.replacen(
        "[[windows]]\nnumber = 4\n",
        "[[windows]]\nnumber = 4\ngreen = true\n",
        1,
    );
    let (file, all) = check_bad(dir.path(), "typo.toml", &text);
    let line = text.lines().position(|l| l == "green = true").unwrap() + 1;
    assert!(
        all.lines()
            .any(|l| l.starts_with(&format!("{file}: line {line}, column 1: ")) && l.contains("`green`")),
        "{all}"
    );

    // A missing file.
    let (code, _, err) = run(&["check-config", dir.path().join("nope.toml").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("nope.toml: cannot read"), "{err}");
}

#[test]
fn unreachable_daemon_exits_2_with_a_hint() {
    let (code, out, err) = run(&["--api", "http://127.0.0.1:9", "status"]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("cannot reach hallqd at http://127.0.0.1:9"), "{err}");
    assert!(err.contains("is hallqd running?"), "{err}");

    // The environment variable picks the daemon too.
    let out = Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .args(["issue", "A"])
        .env("HALLQ_API", "http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:9"));
}

#[test]
fn drives_a_running_hall() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_hall_config(dir.path(), "");
    let d = common::Daemon::start(&cfg);
    let api = d.base.as_str();

    let out = ok(api, &["issue", "A"]);
    assert_eq!(out.trim(), "A001 issued: 0 ahead, about 0 min");
    let out = ok(api, &["issue", "A", "--priority"]);
    assert!(out.starts_with("A002 (绿色通道) issued: "), "{out}");

    // Refused by the hall: exit 1 with the API's message.
    let (code, out, err) = run(&["--api", api, "call-next", "2"]);
    assert_eq!(code, Some(1), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("window 2 is closed (未开放): log in first"), "{err}");
    assert!(err.contains("409"), "{err}");
    let (code, _, err) = run(&["--api", api, "issue", "Q"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no queue `Q`"), "{err}");

    // The hall manager pauses a queue: the kiosk refuses it until resumed.
    assert_eq!(
        ok(api, &["pause-queue", "C"]).trim(),
        "queue C paused: the kiosk issues none of its tickets"
    );
    let (code, _, err) = run(&["--api", api, "issue", "C"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("queue C is paused"), "{err}");
    assert_eq!(
        ok(api, &["resume-queue", "c"]).trim(),
        "queue C issues tickets again"
    );
    assert_eq!(
        ok(api, &["resume-queue", "C"]).trim(),
        "queue C: nothing changed (already resumed)"
    );

    assert_eq!(
        ok(api, &["login", "2", "S001"]).trim(),
        "S001 logged in at window 2"
    );
    // The priority ticket goes first.
    assert_eq!(
        ok(api, &["call-next", "2"]).trim(),
        "window 2 calls A002 (staff S001)"
    );
    let out = ok(api, &["finish", "2", "--item", "1"]);
    assert!(
        out.starts_with("A002 finished at window 2 as transaction 1: done; items 1;"),
        "{out}"
    );
    assert_eq!(
        ok(api, &["rate", "2", "1"]).trim(),
        "transaction 1 rated 满意 (key 1 at window 2)"
    );
    assert!(ok(api, &["rate", "2", "1"]).contains("stray press"));

    assert_eq!(
        ok(api, &["call-next", "2"]).trim(),
        "window 2 calls A001 (staff S001)"
    );

    let out = ok(api, &["status"]);
    assert!(out.contains("测试大厅 (test-hall)"), "{out}");
    // Times are the hall's (Asia/Shanghai), whatever this machine's zone.
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.ends_with("+08:00 hall time")),
        "{out}"
    );
    assert!(out.contains("OPEN"), "{out}");
    let window2 = out
        .lines()
        .find(|l| l.starts_with("2 "))
        .unwrap_or_else(|| panic!("no row for window 2:\n{out}"));
    assert!(
        window2.contains("办理中") && window2.contains("S001") && window2.contains("A001"),
        "{window2}"
    );
    let queue_a = out.lines().find(|l| l.starts_with("A ")).unwrap();
    assert!(queue_a.contains("归集业务"), "{queue_a}");
    assert!(out.contains("postponed (过号): none"), "{out}");

    let raw: serde_json::Value = serde_json::from_str(&ok(api, &["status", "--json"])).unwrap();
    assert_eq!(raw["hall_id"], "test-hall");
    assert_eq!(raw["windows"][1]["serving"], "A001");

    let out = ok(api, &["skip", "2"]);
    assert!(
        out.starts_with("A001 skipped at window 2: can be called back until "),
        "{out}"
    );
    assert!(ok(api, &["status"]).contains("postponed (过号): A001 (until "));

    let out = ok(api, &["transactions"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("1 ") && l.contains("A002") && l.contains("满意")),
        "{out}"
    );
    let out = ok(api, &["tickets"]);
    assert!(
        out.lines().any(|l| l.starts_with("2 ") && l.contains("priority")),
        "{out}"
    );
    let out = ok(api, &["events", "--after", "4", "--limit", "2"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("staff_logged_in"), "{out}");
    let (code, _, err) = run(&["--api", api, "events", "--limit", "0"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("limit must be 1–5000"), "{err}");

    assert_eq!(d.terminate(), Some(0));
}
