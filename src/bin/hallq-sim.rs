//! hallq-sim: the hall's serial devices on pseudo-terminals, so `hallqd` runs
//! on its real drivers without hardware. It plays the ticket printer and, on
//! the RS-485 bus, every window's caller keypad, counter display and rating
//! keypad, at the ports and addresses of the hall's configuration (which
//! must name a serial printer and/or bus; see config/demo-hw.toml). A
//! technician presses keys by typing; `help` lists the commands.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use hallq::config::Config;
use hallq::devices::emulator::{BusEmulator, Device, PrinterEmulator};
use hallq::devices::registers as reg;
use hallq::domain::PrinterStatus;

/// Plays the printer and the RS-485 bus devices of a hall on pseudo-terminals.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The hall's configuration file (its [devices] section says where).
    #[arg(short, long, default_value = "config/demo-hw.toml")]
    config: PathBuf,
    /// Emulate the wire time of the configured baud rate on the bus.
    #[arg(long)]
    pace: bool,
}

const HELP: &str = "\
keys at a window's caller keypad (呼叫器):
  k W login STAFF | k W logout | k W next | k W recall | k W skip
  k W transfer N (window) | k W transfer Q (queue letter)
  k W pause | k W away | k W resume | k W finish ITEM
rating keypad (评价器):      r W KEY        (1 满意, 2 一般, 3 不满意)
printer:  paper out | paper near | paper ok | cover open | cover closed
          printer off | printer on          (off: answers nothing)
cables:   unplug printer | replug printer | unplug bus | replug bus
          silent ADDR | answer ADDR         (one bus device off / on)
show      displays, lamps, keypad results and the last tickets
quit";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut printer = match &config.devices.printer {
        Some(p) => Some(PrinterEmulator::start(&prepare(&p.port)?).context("starting the printer")?),
        None => None,
    };
    let mut windows: Windows = BTreeMap::new();
    let mut bus = match &config.devices.bus {
        Some(b) => {
            let mut devices = BTreeMap::new();
            for w in &b.windows {
                windows.insert(w.window, (w.keypad, w.display, w.rating));
                for (addr, dev) in [
                    (w.keypad, Device::keypad()),
                    (w.display, Device::display()),
                    (w.rating, Device::rating()),
                ] {
                    if let Some(a) = addr {
                        devices.insert(a, dev);
                    }
                }
            }
            let emu = BusEmulator::start(&prepare(&b.port)?, devices).context("starting the bus")?;
            if args.pace {
                emu.model.update(|m| m.pace_baud = Some(b.baud));
            }
            Some(emu)
        }
        None => None,
    };
    if printer.is_none() && bus.is_none() {
        bail!(
            "{}: no serial printer and no RS-485 bus in [devices]: nothing to play (see config/demo-hw.toml)",
            args.config.display()
        );
    }
    if let Some(p) = &printer {
        println!("printer on {}", p.link().display());
        let model = p.model.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                let m = model.clone();
                if m.wait_for(Duration::from_secs(3600), move |s| s.printed.len() > seen) {
                    let t = model.read(|s| s.printed[seen].clone());
                    seen += 1;
                    println!("\n---- ticket printed ----");
                    for l in t.lines.iter().filter(|l| !l.is_empty()) {
                        let big = if t.large.contains(l) { "  (large)" } else { "" };
                        println!("  {l}{big}");
                    }
                    for q in &t.qr {
                        println!("  [QR] {q}");
                    }
                    println!("------------------------");
                }
            }
        });
    }
    if let Some(b) = &bus {
        println!(
            "RS-485 bus on {} ({} devices)",
            b.link().display(),
            b.model.read(|m| m.devices.len())
        );
        let model = b.model.clone();
        std::thread::spawn(move || {
            let mut last = model.read(snapshot);
            loop {
                let m = model.clone();
                let before = last.clone();
                if m.wait_for(Duration::from_secs(3600), move |s| snapshot(s) != before) {
                    let now = model.read(snapshot);
                    for (addr, line) in &now {
                        if last.get(addr) != Some(line) {
                            println!("  [{addr:>3}] {line}");
                        }
                    }
                    last = now;
                }
            }
        });
    }
    println!("type `help` for the commands");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let _ = write!(out, "> ");
    let _ = out.flush();
    for line in stdin.lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match run(&words, &mut printer, &mut bus, &windows) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => println!("{e}"),
        }
        let _ = write!(out, "> ");
        let _ = out.flush();
    }
    Ok(())
}

/// The parent folder of a link must exist.
fn prepare(port: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(port);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if p.exists() && !p.is_symlink() {
        bail!("{port} exists and is not a link: is it a real device? hallq-sim only makes links");
    }
    Ok(p.to_path_buf())
}

/// One line per display, lamp and keypad, to print what changed.
fn snapshot(m: &hallq::devices::emulator::BusModel) -> BTreeMap<u8, String> {
    m.devices
        .iter()
        .map(|(a, d)| {
            let s = match d {
                Device::Display { .. } => match d.shown() {
                    Some(c) if c.status == reg::STATUS_TEST_PATTERN => {
                        format!("display window {}: TEST PATTERN {}", c.window, c.text)
                    }
                    Some(c) => format!("display window {}: {} {}", c.window, c.ticket, c.text),
                    None => "display: -".into(),
                },
                Device::Rating { lamp, .. } => {
                    format!("rating lamp {}", if *lamp != 0 { "ON 请评价" } else { "off" })
                }
                Device::Keypad { result, .. } => format!(
                    "keypad: key #{} {}",
                    result[0],
                    match result[1] {
                        reg::RESULT_OK => "done",
                        reg::RESULT_REFUSED => "refused",
                        reg::RESULT_NOT_FOUND => "not found",
                        reg::RESULT_INVALID => "invalid",
                        _ => "failed",
                    }
                ),
            };
            let silent = if m.silent.contains(a) { " (silent)" } else { "" };
            (*a, format!("{s}{silent}"))
        })
        .collect()
}

type Windows = BTreeMap<u16, (Option<u8>, Option<u8>, Option<u8>)>;

fn run(
    w: &[&str],
    printer: &mut Option<PrinterEmulator>,
    bus: &mut Option<BusEmulator>,
    windows: &Windows,
) -> anyhow::Result<bool> {
    let num = |s: Option<&&str>, what: &str| -> anyhow::Result<u16> {
        s.with_context(|| format!("missing {what}"))?
            .parse::<u16>()
            .with_context(|| format!("{what} must be a number"))
    };
    match w {
        [] => {}
        ["help"] => println!("{HELP}"),
        ["quit"] | ["exit"] => return Ok(true),
        ["k", win, key, rest @ ..] => {
            let win: u16 = win.parse().context("window must be a number")?;
            let b = bus.as_ref().context("no bus in this configuration")?;
            let addr = windows
                .get(&win)
                .and_then(|d| d.0)
                .with_context(|| format!("window {win} has no keypad on the bus"))?;
            let (code, arg) = match *key {
                "next" => (reg::KEY_CALL_NEXT, 0),
                "recall" => (reg::KEY_RECALL, 0),
                "skip" => (reg::KEY_SKIP, 0),
                "pause" => (reg::KEY_PAUSE, 0),
                "away" => (reg::KEY_AWAY, 0),
                "resume" => (reg::KEY_RESUME, 0),
                "logout" => (reg::KEY_LOGOUT, 0),
                "login" => (reg::KEY_LOGIN, num(rest.first(), "staff number")?),
                "finish" => (reg::KEY_FINISH, num(rest.first(), "item code")?),
                "transfer" => {
                    let to = rest
                        .first()
                        .context("transfer to a window number or a queue letter")?;
                    match to.parse::<u16>() {
                        Ok(n) => (reg::KEY_TRANSFER, n),
                        Err(_) => {
                            let c = to.bytes().next().unwrap_or(b'?').to_ascii_uppercase();
                            (reg::KEY_TRANSFER, reg::TRANSFER_TO_QUEUE | u16::from(c))
                        }
                    }
                }
                other => bail!("unknown key `{other}` (help lists them)"),
            };
            b.press(addr, code, arg);
        }
        ["r", win, key] => {
            let win: u16 = win.parse().context("window must be a number")?;
            let key: u16 = key.parse().context("key must be a number")?;
            let b = bus.as_ref().context("no bus in this configuration")?;
            let addr = windows
                .get(&win)
                .and_then(|d| d.2)
                .with_context(|| format!("window {win} has no rating keypad on the bus"))?;
            b.press(addr, key, 0);
        }
        ["paper" | "cover" | "printer", state] => {
            let p = printer.as_ref().context("no printer in this configuration")?;
            let mut s = p.model.read(|m| m.status);
            match (w[0], *state) {
                ("paper", "out") => {
                    s.paper_out = true;
                    s.paper_near_end = true;
                }
                ("paper", "near") => {
                    s.paper_out = false;
                    s.paper_near_end = true;
                }
                ("paper", "ok") => {
                    s.paper_out = false;
                    s.paper_near_end = false;
                }
                ("cover", "open") => s.cover_open = true,
                ("cover", "closed") => s.cover_open = false,
                ("printer", "off") => {
                    p.model.update(|m| m.silent = true);
                    return Ok(false);
                }
                ("printer", "on") => {
                    p.model.update(|m| m.silent = false);
                    return Ok(false);
                }
                _ => bail!("unknown state (help lists them)"),
            }
            p.set_status(s);
        }
        ["unplug", "printer"] => printer.as_mut().context("no printer")?.unplug(),
        ["replug", "printer"] => printer.as_mut().context("no printer")?.replug()?,
        ["unplug", "bus"] => bus.as_mut().context("no bus")?.unplug(),
        ["replug", "bus"] => bus.as_mut().context("no bus")?.replug()?,
        ["silent" | "answer", addr] => {
            let a: u8 = addr.parse().context("address must be a number")?;
            let b = bus.as_ref().context("no bus")?;
            b.model.update(|m| {
                if w[0] == "silent" {
                    m.silent.insert(a);
                } else {
                    m.silent.remove(&a);
                }
            });
        }
        ["show"] => {
            if let Some(b) = bus.as_ref() {
                for (a, line) in b.model.read(snapshot) {
                    println!("  [{a:>3}] {line}");
                }
                let c = b.model.read(|m| (m.requests, m.bad_requests));
                println!("  bus: {} requests seen, {} with a bad CRC", c.0, c.1);
            }
            if let Some(p) = printer.as_ref() {
                let (s, n, refused): (PrinterStatus, usize, u64) =
                    p.model.read(|m| (m.status, m.printed.len(), m.refused_jobs));
                let problems = s.problems();
                println!(
                    "  printer: {} ; {n} tickets printed, {refused} jobs refused",
                    if problems.is_empty() {
                        "ready".to_string()
                    } else {
                        problems
                    }
                );
            }
        }
        _ => bail!("unknown command (type help)"),
    }
    Ok(false)
}
