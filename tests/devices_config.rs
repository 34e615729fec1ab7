//! The `[devices]` section: what it turns into, and what a technician is told
//! when it is wrong.

mod common;

use std::path::Path;
use std::time::Duration;

use hallq::config::Config;
use hallq::devices::config::PinsBackend;
use hallq::domain::TicketClass;

fn with_devices(dir: &Path, devices: &str) -> Result<Config, hallq::config::ConfigError> {
    let cfg = common::write_hall_config(dir, "");
    let text = std::fs::read_to_string(&cfg).unwrap() + devices;
    Config::from_str_at(&text, &cfg)
}

#[test]
fn no_devices_section_means_every_device_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let c = with_devices(dir.path(), "").unwrap();
    assert!(c.devices.kiosk.is_none() && c.devices.printer.is_none() && c.devices.bus.is_none());
    let demo = Config::load(&common::repo_config_dir().join("demo.toml")).unwrap();
    assert!(
        demo.devices.printer.is_none() && demo.devices.bus.is_none(),
        "the demo stays simulated"
    );
}

#[test]
fn a_simulated_kiosk_runs_with_a_button_per_queue() {
    let dir = tempfile::tempdir().unwrap();
    let c = with_devices(
        dir.path(),
        "\n[devices.kiosk]\nbackend = \"sim\"\nlockout_ms = 500\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let k = c
        .devices
        .kiosk
        .expect("a simulated kiosk is started, not left out");
    assert_eq!(k.backend, PinsBackend::Sim);
    let queues: Vec<&str> = k.kiosk.buttons.iter().map(|b| b.queue.as_str()).collect();
    let want: Vec<&str> = c.setup.queues.iter().map(|q| q.prefix.as_str()).collect();
    assert_eq!(queues, want);
    assert_eq!(k.kiosk.lockout, Duration::from_millis(500));
    let demo = Config::load(&common::repo_config_dir().join("demo.toml")).unwrap();
    assert_eq!(
        demo.devices.kiosk.expect("the demo's kiosk").backend,
        PinsBackend::Sim
    );
}

#[test]
fn the_example_hall_names_real_devices() {
    let c = Config::load(&common::repo_config_dir().join("example.toml")).unwrap_or_else(|e| panic!("{e}"));
    let k = c.devices.kiosk.expect("kiosk");
    assert_eq!(
        k.backend,
        PinsBackend::Gpiocdev {
            chip: "/dev/gpiochip0".into()
        }
    );
    assert_eq!(k.kiosk.buttons.len(), 6);
    assert_eq!(k.kiosk.buttons[4].class, TicketClass::Priority);
    assert_eq!(k.kiosk.debounce, Duration::from_millis(30));
    let p = c.devices.printer.expect("printer");
    assert_eq!((p.port.as_str(), p.baud), ("/dev/ttyUSB0", 9600));
    let b = c.devices.bus.expect("bus");
    assert_eq!(b.baud, 19200);
    assert_eq!(b.windows.len(), 5);
    assert_eq!(b.windows[1].display, Some(5));
    let hw = Config::load(&common::repo_config_dir().join("demo-hw.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hw.devices.bus.expect("bus").windows.len(), 6);
}

#[test]
fn mistakes_are_reported_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let err = with_devices(
        dir.path(),
        r#"
[devices.kiosk]
backend = "gpio"
[[devices.kiosk.buttons]]
queue = "X"
class = "vip"
pin = 5
lamp = 5

[devices.printer]
backend = "serial"
baud = 1234

[devices.bus]
backend = "serial"
port = "/dev/ttyAMA0"
[[devices.bus.windows]]
window = 9
keypad = 0
display = 2
[[devices.bus.windows]]
window = 1
rating = 2
"#,
    )
    .unwrap_err();
    let text = err.to_string();
    for want in [
        "devices.kiosk.backend: `gpio` is not sim, gpiocdev or rppal",
        "devices.kiosk.buttons[0].queue: no queue with prefix `X`",
        "devices.kiosk.buttons[0].class: `vip` is not normal",
        "devices.kiosk.buttons[0].lamp: GPIO 5 is used twice",
        "devices.printer.port: give the printer's serial device",
        "devices.printer.baud: 1234 is not one of",
        "devices.bus.windows[0].window: no window 9",
        "devices.bus.windows[0].keypad: address 0: Modbus addresses are 1–247",
        "devices.bus.windows[1].rating: address 2 is used twice on the bus",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    // A typo in a key is a mistake too.
    let err = with_devices(
        dir.path(),
        "\n[devices.bus]\nbackend = \"serial\"\nbaudrate = 9600\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("baudrate"), "{err}");
}
