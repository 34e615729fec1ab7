//! The `[devices]` section of the hall's configuration: which backend drives
//! each device kind, on which port or pins, at which bus addresses. Left out,
//! every device is simulated (the demo hall). `config/example.toml` documents
//! every key.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use super::bus::{BusConfig, BusWindow};
use super::kiosk::{Button, KioskConfig};
use super::printer::PrinterConfig;
use crate::domain::setup::{QueueDef, WindowDef};
use crate::domain::TicketClass;

/// The kiosk's pins backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinsBackend {
    /// The Linux GPIO character device, e.g. `/dev/gpiochip0`.
    Gpiocdev { chip: String },
    /// rppal (Raspberry Pi; BCM numbers).
    Rppal,
    /// Simulated pins (the demo hall): buttons pressed through
    /// [`super::kiosk::Panel`], with the same debounce, lockout and lamps.
    Sim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskSetup {
    pub backend: PinsBackend,
    pub kiosk: KioskConfig,
}

/// The checked `[devices]` section. `None` means simulated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Devices {
    pub kiosk: Option<KioskSetup>,
    pub printer: Option<PrinterConfig>,
    pub bus: Option<BusConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevices {
    kiosk: Option<RawKiosk>,
    printer: Option<RawPrinter>,
    bus: Option<RawBus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKiosk {
    #[serde(default = "d_sim")]
    backend: String,
    #[serde(default = "d_chip")]
    chip: String,
    #[serde(default = "d_debounce")]
    debounce_ms: u64,
    #[serde(default = "d_lockout")]
    lockout_ms: u64,
    #[serde(default)]
    buttons: Vec<RawButton>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawButton {
    queue: String,
    #[serde(default = "d_class")]
    class: String,
    pin: u32,
    lamp: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrinter {
    #[serde(default = "d_sim")]
    backend: String,
    #[serde(default)]
    port: String,
    #[serde(default = "d_printer_baud")]
    baud: u32,
    qr: Option<String>,
    #[serde(default = "d_poll")]
    poll_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBus {
    #[serde(default = "d_sim")]
    backend: String,
    #[serde(default)]
    port: String,
    #[serde(default = "d_bus_baud")]
    baud: u32,
    #[serde(default = "d_timeout")]
    timeout_ms: u64,
    #[serde(default = "d_retries")]
    retries: u8,
    #[serde(default = "d_true")]
    rs485: bool,
    #[serde(default = "d_brightness")]
    brightness: u16,
    #[serde(default)]
    windows: Vec<RawBusWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBusWindow {
    window: u16,
    keypad: Option<u8>,
    display: Option<u8>,
    rating: Option<u8>,
}

fn d_sim() -> String {
    "sim".into()
}
fn d_chip() -> String {
    "/dev/gpiochip0".into()
}
fn d_debounce() -> u64 {
    30
}
fn d_lockout() -> u64 {
    1500
}
fn d_class() -> String {
    "normal".into()
}
fn d_printer_baud() -> u32 {
    9600
}
fn d_poll() -> u64 {
    500
}
fn d_bus_baud() -> u32 {
    19200
}
fn d_timeout() -> u64 {
    100
}
fn d_retries() -> u8 {
    2
}
fn d_true() -> bool {
    true
}
fn d_brightness() -> u16 {
    80
}

const BAUDS: [u32; 7] = [2400, 4800, 9600, 19200, 38400, 57600, 115200];

/// Check the raw section against the hall's queues and windows. Problems
/// come back as (key, what is wrong).
pub fn check(
    raw: &RawDevices,
    queues: &[QueueDef],
    windows: &[WindowDef],
) -> (Devices, Vec<(String, String)>) {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut add = |k: String, m: String| p.push((k, m));
    let mut out = Devices::default();

    if let Some(k) = &raw.kiosk {
        let backend = match k.backend.as_str() {
            "sim" => Some(PinsBackend::Sim),
            "gpiocdev" => Some(PinsBackend::Gpiocdev { chip: k.chip.clone() }),
            "rppal" => {
                if !cfg!(feature = "rppal") {
                    add(
                        "devices.kiosk.backend".into(),
                        "this hallq was built without the `rppal` feature: use gpiocdev (works on every Pi) or rebuild with --features rppal".into(),
                    );
                }
                Some(PinsBackend::Rppal)
            }
            other => {
                add(
                    "devices.kiosk.backend".into(),
                    format!("`{other}` is not sim, gpiocdev or rppal"),
                );
                None
            }
        };
        if !(1..=500).contains(&k.debounce_ms) {
            add("devices.kiosk.debounce_ms".into(), "must be 1–500".into());
        }
        if !(100..=10_000).contains(&k.lockout_ms) {
            add("devices.kiosk.lockout_ms".into(), "must be 100–10000".into());
        }
        let mut pins = BTreeSet::new();
        let mut buttons = Vec::new();
        for (i, b) in k.buttons.iter().enumerate() {
            let key = |f: &str| format!("devices.kiosk.buttons[{i}].{f}");
            let queue = b.queue.trim().to_ascii_uppercase();
            if !queues.iter().any(|q| q.prefix == queue) {
                add(key("queue"), format!("no queue with prefix `{}`", b.queue));
            }
            let class = match b.class.as_str() {
                "normal" => TicketClass::Normal,
                "priority" => TicketClass::Priority,
                "appointment" => TicketClass::Appointment,
                other => {
                    add(
                        key("class"),
                        format!("`{other}` is not normal, priority (绿色通道) or appointment (预约)"),
                    );
                    TicketClass::Normal
                }
            };
            for (what, pin) in [("pin", Some(b.pin)), ("lamp", b.lamp)] {
                if let Some(pin) = pin {
                    if pin > 511 {
                        add(key(what), format!("line {pin} is not a GPIO line number"));
                    } else if !pins.insert(pin) {
                        add(key(what), format!("GPIO {pin} is used twice"));
                    }
                }
            }
            buttons.push(Button {
                queue,
                class,
                input: b.pin,
                lamp: b.lamp,
            });
        }
        if backend == Some(PinsBackend::Sim) && buttons.is_empty() {
            // A simulated kiosk without buttons listed: one ordinary button per queue.
            buttons = queues
                .iter()
                .enumerate()
                .map(|(i, q)| Button {
                    queue: q.prefix.clone(),
                    class: TicketClass::Normal,
                    input: i as u32,
                    lamp: None,
                })
                .collect();
        }
        if backend.is_some() && buttons.is_empty() {
            add(
                "devices.kiosk.buttons".into(),
                "a real kiosk needs at least one [[devices.kiosk.buttons]]".into(),
            );
        }
        if let Some(backend) = backend {
            out.kiosk = Some(KioskSetup {
                backend,
                kiosk: KioskConfig {
                    buttons,
                    debounce: Duration::from_millis(k.debounce_ms),
                    lockout: Duration::from_millis(k.lockout_ms),
                },
            });
        }
    }

    if let Some(pr) = &raw.printer {
        match pr.backend.as_str() {
            "sim" => {}
            "serial" => {
                if pr.port.trim().is_empty() {
                    add(
                        "devices.printer.port".into(),
                        "give the printer's serial device, e.g. /dev/ttyUSB0".into(),
                    );
                }
                if !BAUDS.contains(&pr.baud) {
                    add(
                        "devices.printer.baud".into(),
                        format!("{} is not one of {BAUDS:?}", pr.baud),
                    );
                }
                if let Some(q) = &pr.qr {
                    if q.len() > 300 {
                        add(
                            "devices.printer.qr".into(),
                            "longer than 300 bytes: too dense to scan".into(),
                        );
                    }
                }
                if !(100..=10_000).contains(&pr.poll_ms) {
                    add("devices.printer.poll_ms".into(), "must be 100–10000".into());
                }
                out.printer = Some(PrinterConfig {
                    baud: pr.baud,
                    qr: pr.qr.clone().filter(|q| !q.trim().is_empty()),
                    poll: Duration::from_millis(pr.poll_ms),
                    reply_timeout: Duration::from_millis(pr.poll_ms * 3),
                    ..PrinterConfig::new(pr.port.trim())
                });
            }
            other => add(
                "devices.printer.backend".into(),
                format!("`{other}` is not sim or serial"),
            ),
        }
    }

    if let Some(b) = &raw.bus {
        match b.backend.as_str() {
            "sim" => {}
            "serial" => {
                if b.port.trim().is_empty() {
                    add(
                        "devices.bus.port".into(),
                        "give the RS-485 port, e.g. /dev/ttyAMA0 or /dev/ttyUSB1".into(),
                    );
                }
                if !BAUDS.contains(&b.baud) {
                    add(
                        "devices.bus.baud".into(),
                        format!("{} is not one of {BAUDS:?}", b.baud),
                    );
                }
                if !(10..=2000).contains(&b.timeout_ms) {
                    add("devices.bus.timeout_ms".into(), "must be 10–2000".into());
                }
                if b.retries > 5 {
                    add("devices.bus.retries".into(), "must be 0–5".into());
                }
                if b.brightness > 100 {
                    add("devices.bus.brightness".into(), "must be 0–100 (%)".into());
                }
                let mut addrs = BTreeSet::new();
                let mut seen_windows = BTreeSet::new();
                let mut ws = Vec::new();
                for (i, w) in b.windows.iter().enumerate() {
                    let key = |f: &str| format!("devices.bus.windows[{i}].{f}");
                    if !windows.iter().any(|d| d.number == w.window) {
                        add(key("window"), format!("no window {} in [[windows]]", w.window));
                    }
                    if !seen_windows.insert(w.window) {
                        add(key("window"), format!("window {} is listed twice", w.window));
                    }
                    for (what, a) in [("keypad", w.keypad), ("display", w.display), ("rating", w.rating)] {
                        if let Some(a) = a {
                            if !(1..=247).contains(&a) {
                                add(key(what), format!("address {a}: Modbus addresses are 1–247"));
                            } else if !addrs.insert(a) {
                                add(key(what), format!("address {a} is used twice on the bus"));
                            }
                        }
                    }
                    ws.push(BusWindow {
                        window: w.window,
                        keypad: w.keypad,
                        display: w.display,
                        rating: w.rating,
                    });
                }
                out.bus = Some(BusConfig {
                    baud: b.baud,
                    timeout: Duration::from_millis(b.timeout_ms),
                    retries: b.retries,
                    rs485: b.rs485,
                    brightness: b.brightness,
                    ..BusConfig::new(b.port.trim(), ws)
                });
            }
            other => add(
                "devices.bus.backend".into(),
                format!("`{other}` is not sim or serial"),
            ),
        }
    }
    (out, p)
}
