//! The RS-485 bus over pseudo-terminals, through the real master and engine:
//! key-press-to-display latency, and the bus cycle time for 32 devices
//! against the wire-time limit at each baud rate (bytes × 10 bits / baud plus
//! the two 3.5-character gaps per request/reply pair). The emulated devices
//! hold each reply back for the wire time of the request and the reply, so
//! the figures include what a real bus would cost.
//!
//! Run: `cargo bench --bench device_bus` (HALLQ_BENCH_BAUDS=9600,19200,115200
//! picks the rates, HALLQ_BENCH_PRESSES the number of key presses timed).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hallq::config::Config;
use hallq::devices::bus::{self, BusConfig, BusWindow};
use hallq::devices::emulator::{wire_time, BusEmulator, Device};
use hallq::devices::registers as reg;
use hallq::domain::Command;
use hallq::engine::{Engine, EngineHandle, SystemClock};
use hallq::store::Store;

fn hall(dir: &Path, windows: u16) -> EngineHandle {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/catalog.toml");
    let mut text = format!(
        r#"
[hall]
id = "bench-hall"
name = "基准大厅"
[store]
database = "hall.db"
[data]
catalog = "{}"
calendars = []
[hours]
mon = ["00:00-23:59"]
tue = ["00:00-23:59"]
wed = ["00:00-23:59"]
thu = ["00:00-23:59"]
fri = ["00:00-23:59"]
sat = ["00:00-23:59"]
sun = ["00:00-23:59"]
[[queues]]
prefix = "A"
name = "归集业务"
"#,
        catalog.display()
    );
    for w in 1..=windows {
        text.push_str(&format!("[[windows]]\nnumber = {w}\n"));
    }
    let path = dir.join("hall.toml");
    let c = Config::from_str_at(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&dir.join("hall.db"), "bench-hall").unwrap();
    let (engine, _thread) = Engine::open(c.setup.clone(), store, Box::new(SystemClock))
        .unwrap()
        .spawn();
    engine
}

/// 32 devices: windows 1–10 with keypad, display and rating keypad, window 11
/// with a keypad and a rating keypad.
fn layout() -> (Vec<BusWindow>, BTreeMap<u8, Device>) {
    let mut windows = Vec::new();
    let mut devices = BTreeMap::new();
    for w in 1..=11u16 {
        let base = (w * 3 - 2) as u8;
        let display = (w <= 10).then_some(base + 1);
        windows.push(BusWindow {
            window: w,
            keypad: Some(base),
            display,
            rating: Some(base + 2),
        });
        devices.insert(base, Device::keypad());
        if let Some(d) = display {
            devices.insert(d, Device::display());
        }
        devices.insert(base + 2, Device::rating());
    }
    (windows, devices)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let bauds: Vec<u32> = std::env::var("HALLQ_BENCH_BAUDS")
        .unwrap_or_else(|_| "19200,115200".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let presses: usize = std::env::var("HALLQ_BENCH_PRESSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for baud in bauds {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            let engine = hall(dir.path(), 11);
            let (windows, devices) = layout();
            let n_devices = devices.len();
            let emu = BusEmulator::start(&dir.path().join("bus"), devices).unwrap();
            emu.model.update(|m| m.pace_baud = Some(baud));
            let cfg = BusConfig {
                baud,
                timeout: Duration::from_millis(100).max(wire_time(60, baud) * 2),
                min_cycle: Duration::ZERO,
                ..BusConfig::new(dir.path().join("bus").to_string_lossy(), windows)
            };
            // Caller keypads are polled twice a cycle, rating keypads once.
            let polled_per_cycle = cfg.windows.iter().map(|w| 2 * usize::from(w.keypad.is_some()) + usize::from(w.rating.is_some())).sum::<usize>();
            let handle = bus::spawn(engine.clone(), cfg.clone());

            // Let every device come online and every display be written.
            let m = emu.model.clone();
            let ready = tokio::task::spawn_blocking(move || {
                m.wait_for(Duration::from_secs(30), |m| (1..=10u16).all(|w| m.shown((w * 3 - 1) as u8).is_some_and(|c| c.window == w)))
            })
            .await
            .unwrap();
            assert!(ready, "displays were not written at {baud} baud");

            // Cycle time: count complete cycles over a steady window.
            let c0 = handle.status.lock().unwrap().cycles;
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await; // sampling the running bus
                let c = handle.status.lock().unwrap().cycles;
                if c >= c0 + 16 || t0.elapsed() > Duration::from_secs(15) {
                    break;
                }
            }
            let c1 = handle.status.lock().unwrap().cycles;
            let cycle = t0.elapsed().as_secs_f64() / (c1 - c0).max(1) as f64;
            // Wire limit: each polled device costs a request (8 bytes) and a reply
            // (5 + 2·2 bytes); displays are checked every 8th cycle (8 + 7 bytes).
            let poll_wire = wire_time(8 + 9, baud).as_secs_f64();
            let display_wire = wire_time(8 + 7, baud).as_secs_f64() * 10.0 / f64::from(cfg.display_every);
            let limit = polled_per_cycle as f64 * poll_wire + display_wire;

            // Key press to display: window 1 logs in, then AWAY / RESUME in turn.
            engine
                .execute(Command::Login {
                    window: 1,
                    staff: "1001".into(),
                })
                .await
                .unwrap();
            let m = emu.model.clone();
            tokio::task::spawn_blocking(move || m.wait_for(Duration::from_secs(10), |m| m.shown(2).is_some_and(|c| c.status == reg::STATUS_IDLE)))
                .await
                .unwrap();
            let mut lat = Vec::with_capacity(presses);
            for i in 0..presses {
                // Press at a spread of moments within the bus cycle: right after
                // the display changed, the keypad has just been polled, and
                // pressing then would always wait a whole cycle.
                let phase = ((i * 7919) % 97) as f64 / 97.0;
                tokio::time::sleep(Duration::from_secs_f64(cycle * phase)).await; // the citizen's timing, not a wait for a result
                let (key, want) = if i % 2 == 0 {
                    (reg::KEY_AWAY, reg::STATUS_AWAY)
                } else {
                    (reg::KEY_RESUME, reg::STATUS_IDLE)
                };
                let m = emu.model.clone();
                let t = tokio::task::spawn_blocking(move || {
                    let start = Instant::now();
                    m.update(|m| m.press(1, key, 0));
                    let ok = m.wait_for(Duration::from_secs(10), |m| m.shown(2).is_some_and(|c| c.status == want));
                    assert!(ok, "display did not follow the key");
                    start.elapsed()
                })
                .await
                .unwrap();
                lat.push(t.as_secs_f64() * 1e3);
            }
            lat.sort_by(f64::total_cmp);
            let counters = handle.status.lock().unwrap().counters.clone();
            println!("RS-485 bus at {baud} baud, {n_devices} devices ({polled_per_cycle} polls a cycle: caller keypads twice, rating keypads once; displays every {}th):", cfg.display_every);
            println!(
                "  bus cycle: {:.1} ms measured; wire-time limit {:.1} ms ({:.2} ms per poll: 17 bytes x 10 bits / {baud} + 2 x 3.5 chars)",
                cycle * 1e3,
                limit * 1e3,
                poll_wire * 1e3
            );
            println!(
                "  key press to counter display ({} presses at spread moments of the cycle): min {:.1} ms, mean {:.1} ms, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (one cycle = {:.1} ms)",
                lat.len(),
                lat[0],
                lat.iter().sum::<f64>() / lat.len() as f64,
                percentile(&lat, 0.5),
                percentile(&lat, 0.95),
                lat[lat.len() - 1],
                cycle * 1e3
            );
            println!(
                "  requests {}, timeouts {}, CRC errors {}, wrong address {}, garbage bytes {}",
                counters.requests, counters.timeouts, counters.crc_errors, counters.wrong_address, counters.garbage_bytes
            );
            engine.shutdown().await;
            handle.task.abort();
        }
    });
}
