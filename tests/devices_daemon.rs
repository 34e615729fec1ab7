//! The whole daemon on its real drivers: `hallqd` with a `[devices]` section
//! naming a serial printer and an RS-485 bus, played by the emulators.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{wait_until, Daemon};
use hallq::devices::emulator::{BusEmulator, Device, PrinterEmulator};
use hallq::devices::registers as reg;
use serde_json::json;

#[test]
fn hallqd_prints_tickets_and_drives_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_hall_config(dir.path(), "");
    let printer_link = dir.path().join("printer");
    let bus_link = dir.path().join("bus");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[devices.printer]\nbackend = \"serial\"\nport = \"{}\"\npoll_ms = 100\n\n[devices.bus]\nbackend = \"serial\"\nport = \"{}\"\ntimeout_ms = 50\n[[devices.bus.windows]]\nwindow = 3\nkeypad = 7\ndisplay = 8\n",
        printer_link.display(),
        bus_link.display()
    ));
    std::fs::write(&cfg, text).unwrap();
    let printer = PrinterEmulator::start(&printer_link).unwrap();
    let bus = BusEmulator::start(
        &bus_link,
        BTreeMap::from([(7, Device::keypad()), (8, Device::display())]),
    )
    .unwrap();
    let d = Daemon::start(&cfg);
    let limit = Duration::from_secs(10);
    // The printer is polled and ready before tickets go out.
    assert!(printer.model.wait_for(limit, |m| m.status_requests >= 4));
    assert!(wait_until(limit, || d
        .post("/api/v1/tickets", json!({"queue": "B"}))
        .0
        == 201));
    assert!(printer.model.wait_for(limit, |m| m.printed.len() == 1));
    assert_eq!(
        printer.model.read(|m| m.printed[0].large.clone()),
        vec!["B001".to_string()]
    );
    assert!(bus.model.wait_for(limit, |m| m
        .shown(8)
        .is_some_and(|c| c.window == 3 && c.text == "未开放")));
    bus.press(7, reg::KEY_LOGIN, 42);
    bus.press(7, reg::KEY_CALL_NEXT, 0);
    assert!(
        bus.model.wait_for(limit, |m| m
            .shown(8)
            .is_some_and(|c| c.ticket == "B001" && c.text == "办理中")),
        "{:?}",
        bus.model.read(|m| m.shown(8))
    );
    let (_, status) = d.get("/api/v1/status");
    let w3 = status["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["number"] == 3)
        .unwrap()
        .clone();
    assert_eq!(w3["serving"], "B001");
    assert_eq!(w3["staff"], "42");
    assert_eq!(status["printer"]["ready"], true, "{status}");
    assert_eq!(status["offline_devices"], json!([]), "{status}");
    // The printer is unplugged: the hall status says so, and no ticket goes out.
    let mut printer = printer;
    printer.unplug();
    assert!(
        wait_until(limit, || {
            let (_, s) = d.get("/api/v1/status");
            s["printer"]["ready"] == false
                && s["printer"]["problems"]
                    .as_str()
                    .is_some_and(|p| p.contains("离线"))
        }),
        "{}",
        d.get("/api/v1/status").1
    );
    assert_eq!(
        d.post("/api/v1/tickets", json!({"queue": "B"})).1["code"],
        "printer_not_ready"
    );
    assert_eq!(d.terminate(), Some(0));
}
