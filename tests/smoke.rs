mod common;

use serde_json::json;

#[test]
fn daemon_issues_a_ticket_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_hall_config(dir.path(), "");
    let d = common::Daemon::start(&cfg);
    let (status, t) = d.post("/api/v1/tickets", json!({"queue": "A"}));
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["label"], "A001");
    assert_eq!(d.terminate(), Some(0));
    // Restarted, the next number follows on.
    let d = common::Daemon::start(&cfg);
    let (_, t) = d.post("/api/v1/tickets", json!({"queue": "A"}));
    assert_eq!(t["label"], "A002");
}
