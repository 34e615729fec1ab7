//! `hallqctl device …` on-site checks, run as the technician runs them,
//! against emulated devices on pseudo-terminals.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use hallq::devices::emulator::{BusEmulator, Device, PrinterEmulator};
use hallq::devices::registers as reg;

fn hallqctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .args(args)
        .output()
        .expect("running hallqctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn device_checks_print_list_and_test_the_devices() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_hall_config(dir.path(), "");
    let printer_link = dir.path().join("printer");
    let bus_link = dir.path().join("bus");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        r#"
[devices.printer]
backend = "serial"
port = "{printer}"
qr = "https://q.example/{{label}}"

[devices.bus]
backend = "serial"
port = "{bus}"
timeout_ms = 50
retries = 1
[[devices.bus.windows]]
window = 1
keypad = 1
display = 2
rating = 3
[[devices.bus.windows]]
window = 2
display = 5
"#,
        printer = printer_link.display(),
        bus = bus_link.display()
    ));
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_string_lossy().into_owned();

    let printer = PrinterEmulator::start(&printer_link).unwrap();
    // Address 2 holds a keypad by mistake; address 5 is switched off.
    let bus = BusEmulator::start(
        &bus_link,
        BTreeMap::from([
            (1, Device::keypad()),
            (2, Device::keypad()),
            (3, Device::rating()),
            (5, Device::display()),
        ]),
    )
    .unwrap();
    bus.model.update(|m| {
        m.silent.insert(5);
    });

    let (code, out, err) = hallqctl(&["device", "print-test", "--config", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("printer ready"), "{out}");
    assert!(printer
        .model
        .wait_for(Duration::from_secs(5), |m| m.printed.len() == 1));
    let t = printer.model.read(|m| m.printed[0].clone());
    assert_eq!(t.large, vec!["T000".to_string()]);
    assert!(t.lines.iter().any(|l| l == "测试大厅"));

    let (code, out, _) = hallqctl(&["device", "bus-list", "--config", &cfg]);
    assert_eq!(code, 1, "two devices are not as configured: {out}");
    assert!(out.contains("keypad@1") && out.contains(" OK "), "{out}");
    assert!(out.contains("display@2") && out.contains("WRONG"), "{out}");
    assert!(out.contains("display@5") && out.contains("NO REPLY"), "{out}");
    assert!(out.contains("4 devices, 2 not answering as expected"), "{out}");

    bus.model.update(|m| {
        m.silent.clear();
        m.devices.insert(2, Device::display());
    });
    let (code, out, _) = hallqctl(&["device", "display-test", "--config", &cfg]);
    assert_eq!(code, 0, "{out}");
    for addr in [2u8, 5] {
        let shown = bus.model.read(|m| m.shown(addr)).unwrap();
        assert_eq!(shown.status, reg::STATUS_TEST_PATTERN);
        assert_eq!(shown.ticket, "8888");
        assert!(shown.text.contains("测试"), "{shown:?}");
    }

    // A simulated kiosk has nothing to watch: say so, do not hang.
    let (code, _, err) = hallqctl(&["device", "watch-buttons", "--config", &cfg, "--seconds", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("simulated"), "{err}");
}
