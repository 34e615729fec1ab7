//! The hall's serial devices played on pseudo-terminals: a ticket printer and
//! an RS-485 bus of caller keypads, counter displays and rating keypads,
//! built from the same register maps as the drivers. `hallq-sim`, the tests
//! and the bench use them, so the real drivers run end to end with the
//! kernel's tty layer in between and nothing mocked above the byte stream.
//!
//! Each emulator holds the master side of a pty on a thread of its own and
//! points a symbolic link (like the `/dev/serial/by-id/…` links udev makes)
//! at the slave side; the driver opens the link. `unplug` closes the pty, as
//! pulling a USB adapter does; `replug` makes a new one behind the same link.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use super::escpos::{self, Printed};
use super::registers::{self as reg, DisplayContent};
use crate::domain::PrinterStatus;

/// Make a pty pair and point `link` at its slave side.
fn plug(link: &Path) -> io::Result<(TTYPort, TTYPort)> {
    let (mut master, slave) = TTYPort::pair().map_err(io::Error::other)?;
    master
        .set_timeout(Duration::from_millis(10))
        .map_err(io::Error::other)?;
    let name = slave
        .name()
        .ok_or_else(|| io::Error::other("pty without a name"))?;
    let tmp = link.with_extension("new-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, link)?;
    Ok((master, slave))
}

/// Something that changes, with a way to wait for a condition on it.
pub struct Watched<T> {
    state: Mutex<T>,
    changed: Condvar,
}

impl<T> Watched<T> {
    fn new(t: T) -> Arc<Watched<T>> {
        Arc::new(Watched {
            state: Mutex::new(t),
            changed: Condvar::new(),
        })
    }

    /// Change the state and wake whoever waits.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut g);
        self.changed.notify_all();
        r
    }

    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    /// Wait until `cond` holds (true) or `limit` passes (false).
    pub fn wait_for(&self, limit: Duration, mut cond: impl FnMut(&T) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if cond(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .changed
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A device thread on one pty.
struct Line {
    link: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Line {
    fn start(
        link: &Path,
        serve: impl FnMut(&mut TTYPort, &[u8]) + Send + 'static,
        idle: impl FnMut(&mut TTYPort) + Send + 'static,
    ) -> io::Result<Line> {
        let mut line = Line {
            link: link.to_path_buf(),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        line.spawn(serve, idle)?;
        Ok(line)
    }

    fn spawn(
        &mut self,
        mut serve: impl FnMut(&mut TTYPort, &[u8]) + Send + 'static,
        mut idle: impl FnMut(&mut TTYPort) + Send + 'static,
    ) -> io::Result<()> {
        let (mut master, slave) = plug(&self.link)?;
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        self.thread = Some(
            std::thread::Builder::new()
                .name("hallq-emulator".into())
                .spawn(move || {
                    // Hold the slave open too, so reads on the master do not fail
                    // before the driver has opened its end.
                    let _slave = slave;
                    let mut buf = [0u8; 512];
                    while !stop.load(Ordering::Relaxed) {
                        match master.read(&mut buf) {
                            Ok(0) => {}
                            Ok(n) => serve(&mut master, &buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                        idle(&mut master);
                    }
                })?,
        );
        Ok(())
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.link);
    }
}

// ----- the printer -----------------------------------------------------------

/// What the emulated printer is and has printed.
#[derive(Debug, Default, Clone)]
pub struct PrinterModel {
    pub status: PrinterStatus,
    /// Answers nothing (switched off with the cable in).
    pub silent: bool,
    /// Tickets printed, read back …
    pub printed: Vec<Printed>,
    /// … and the bytes of each, as received.
    pub jobs: Vec<Vec<u8>>,
    /// Jobs received while the printer could not print.
    pub refused_jobs: u64,
    pub status_requests: u64,
    /// Automatic status back switched on by the host (GS a).
    pub asb: bool,
    /// Bytes that were not a job nor a status request.
    pub bad_bytes: u64,
    /// A fault that strikes while the next job prints: that job is not
    /// printed (counted in `refused_jobs`) and the fault stays.
    pub fault_on_next_job: Option<JobFault>,
    /// A state change not yet sent as automatic status back.
    asb_due: bool,
}

/// What goes wrong while a job prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFault {
    /// The roll runs out.
    PaperOut,
    /// The printer stops answering (switched off, cable in).
    Silent,
}

/// An ESC/POS printer on a pty.
pub struct PrinterEmulator {
    pub model: Arc<Watched<PrinterModel>>,
    line: Line,
}

impl PrinterEmulator {
    /// Start a printer behind `link`.
    pub fn start(link: &Path) -> io::Result<PrinterEmulator> {
        let model = Watched::new(PrinterModel::default());
        let (serve, idle) = printer_handlers(model.clone());
        let line = Line::start(link, serve, idle)?;
        Ok(PrinterEmulator { model, line })
    }

    pub fn link(&self) -> &Path {
        &self.line.link
    }

    /// Change the paper, cover, … state (sent as automatic status back if enabled).
    pub fn set_status(&self, status: PrinterStatus) {
        self.model.update(|m| {
            m.status = status;
            m.asb_due = m.asb;
        });
    }

    /// Pull the cable: the pty closes.
    pub fn unplug(&mut self) {
        self.line.stop();
    }

    /// Plug it back in (a new pty behind the same link).
    pub fn replug(&mut self) -> io::Result<()> {
        let (serve, idle) = printer_handlers(self.model.clone());
        self.line.spawn(serve, idle)
    }
}

type Serve = Box<dyn FnMut(&mut TTYPort, &[u8]) + Send>;
type Idle = Box<dyn FnMut(&mut TTYPort) + Send>;

fn printer_handlers(model: Arc<Watched<PrinterModel>>) -> (Serve, Idle) {
    let mut pending: Vec<u8> = Vec::new();
    let mut job: Vec<u8> = Vec::new();
    let m2 = model.clone();
    let serve = move |port: &mut TTYPort, bytes: &[u8]| {
        pending.extend_from_slice(bytes);
        let mut replies = Vec::new();
        model.update(|m| {
            let mut i = 0;
            while i < pending.len() {
                let rest = &pending[i..];
                if rest[0] == escpos::DLE {
                    if rest.len() < 3 {
                        break;
                    }
                    if rest[1] == escpos::EOT {
                        m.status_requests += 1;
                        if !m.silent {
                            replies.push(escpos::real_time_reply(&m.status, rest[2]));
                        }
                        i += 3;
                        continue;
                    }
                }
                if rest[0] == escpos::GS && rest.len() >= 2 && rest[1] == 0x61 {
                    if rest.len() < 3 {
                        break;
                    }
                    m.asb = rest[2] != 0;
                    i += 3;
                    continue;
                }
                job.push(rest[0]);
                i += 1;
                // A complete job ends with the cut; it prints before the
                // status requests that follow it are answered.
                if job.ends_with(&escpos::CUT) {
                    let one = std::mem::take(&mut job);
                    if let Some(fault) = m.fault_on_next_job.take() {
                        match fault {
                            JobFault::PaperOut => m.status.paper_out = true,
                            JobFault::Silent => m.silent = true,
                        }
                        m.asb_due = m.asb;
                    }
                    if !m.status.ready() || m.silent {
                        m.refused_jobs += 1;
                        continue;
                    }
                    match escpos::decode(&one) {
                        Ok((p, _)) => {
                            m.printed.push(p);
                            m.jobs.push(one);
                        }
                        Err(_) => m.bad_bytes += one.len() as u64,
                    }
                }
            }
            pending.drain(..i);
        });
        if !replies.is_empty() {
            let _ = port.write_all(&replies);
        }
    };
    let idle = move |port: &mut TTYPort| {
        let asb = m2.update(|m| {
            if m.asb_due && !m.silent {
                m.asb_due = false;
                Some(escpos::automatic_status(&m.status))
            } else {
                None
            }
        });
        if let Some(a) = asb {
            let _ = port.write_all(&a);
        }
    };
    (Box::new(serve), Box::new(idle))
}

// ----- the RS-485 bus ----------------------------------------------------------

/// A keypad's key ring, as in the register map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    pub counter: u16,
    pub ring: [u16; 16],
}

impl KeyRing {
    pub fn press(&mut self, key: u16, arg: u16) {
        self.counter = reg::next_event_number(self.counter);
        let slot = usize::from((self.counter - 1) % reg::EVENT_RING_LEN) * 2;
        self.ring[slot] = key;
        self.ring[slot + 1] = arg;
    }
}

/// One emulated bus device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// 呼叫器: keys, and the result of the last one handled.
    Keypad { keys: KeyRing, result: [u16; 2] },
    /// 窗口屏: its holding block.
    Display { regs: Vec<u16>, writes: u64 },
    /// 评价器: keys and the invitation lamp.
    Rating { keys: KeyRing, lamp: u16 },
}

impl Device {
    pub fn keypad() -> Device {
        Device::Keypad {
            keys: KeyRing::default(),
            result: [0, 0],
        }
    }

    pub fn display() -> Device {
        Device::Display {
            regs: vec![0; usize::from(reg::DISPLAY_REGS)],
            writes: 0,
        }
    }

    pub fn rating() -> Device {
        Device::Rating {
            keys: KeyRing::default(),
            lamp: 0,
        }
    }

    fn type_code(&self) -> u16 {
        match self {
            Device::Keypad { .. } => reg::TYPE_KEYPAD,
            Device::Display { .. } => reg::TYPE_DISPLAY,
            Device::Rating { .. } => reg::TYPE_RATING,
        }
    }

    /// Function 04: the common input block.
    fn read_input(&self, start: u16, count: u16) -> Option<Vec<u16>> {
        let keys = match self {
            Device::Keypad { keys, .. } | Device::Rating { keys, .. } => Some(keys),
            Device::Display { .. } => None,
        };
        (start..start.checked_add(count)?)
            .map(|a| match a {
                reg::IN_DEVICE_TYPE => Some(self.type_code()),
                reg::IN_FIRMWARE => Some(0x0100),
                reg::IN_EVENT_COUNTER => Some(keys.map_or(0, |k| k.counter)),
                reg::IN_STATUS => Some(0),
                a if (reg::IN_EVENT_RING..reg::IN_EVENT_RING + 2 * reg::EVENT_RING_LEN).contains(&a) => {
                    Some(keys.map_or(0, |k| k.ring[usize::from(a - reg::IN_EVENT_RING)]))
                }
                _ => None,
            })
            .collect()
    }

    /// Function 16 on the holding block.
    fn write(&mut self, start: u16, words: &[u16]) -> bool {
        match self {
            Device::Keypad { result, .. } if start == reg::HR_KEYPAD_RESULT && words.len() == 2 => {
                result.copy_from_slice(words);
                true
            }
            Device::Rating { lamp, .. } if start == reg::HR_RATING_LAMP && words.len() == 1 => {
                *lamp = words[0];
                true
            }
            Device::Display { regs, writes }
                if start >= reg::HR_DISPLAY
                    && usize::from(start - reg::HR_DISPLAY) + words.len() <= regs.len() =>
            {
                let at = usize::from(start - reg::HR_DISPLAY);
                regs[at..at + words.len()].copy_from_slice(words);
                *writes += 1;
                true
            }
            _ => false,
        }
    }

    /// What a display shows.
    pub fn shown(&self) -> Option<DisplayContent> {
        match self {
            Device::Display { regs, .. } => DisplayContent::from_registers(regs),
            _ => None,
        }
    }
}

/// Faults to put on the wire, each for the next N replies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Replies sent with a broken CRC.
    pub bad_crc: u32,
    /// Replies sent as if from another address (valid CRC).
    pub wrong_address: u32,
    /// Replies preceded by line noise.
    pub noise_before: u32,
}

/// Everything on the emulated bus.
#[derive(Debug, Clone, Default)]
pub struct BusModel {
    pub devices: BTreeMap<u8, Device>,
    /// Addresses whose device is switched off or disconnected.
    pub silent: std::collections::BTreeSet<u8>,
    pub faults: Faults,
    /// Requests seen (all addresses).
    pub requests: u64,
    /// Frames dropped for a bad CRC on the way to the devices.
    pub bad_requests: u64,
    /// Emulate the wire time at this baud rate (reply after request + reply time).
    pub pace_baud: Option<u32>,
}

impl BusModel {
    pub fn press(&mut self, addr: u8, key: u16, arg: u16) -> bool {
        match self.devices.get_mut(&addr) {
            Some(Device::Keypad { keys, .. }) | Some(Device::Rating { keys, .. }) => {
                keys.press(key, arg);
                true
            }
            _ => false,
        }
    }

    pub fn shown(&self, addr: u8) -> Option<DisplayContent> {
        self.devices.get(&addr).and_then(Device::shown)
    }

    pub fn lamp(&self, addr: u8) -> Option<u16> {
        match self.devices.get(&addr) {
            Some(Device::Rating { lamp, .. }) => Some(*lamp),
            _ => None,
        }
    }

    pub fn keypad_result(&self, addr: u8) -> Option<[u16; 2]> {
        match self.devices.get(&addr) {
            Some(Device::Keypad { result, .. }) => Some(*result),
            _ => None,
        }
    }

    /// Answer one request frame (without its CRC check); None = no reply.
    fn answer(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let addr = frame[0];
        let fc = frame[1];
        if self.silent.contains(&addr) {
            return None;
        }
        let dev = self.devices.get_mut(&addr)?;
        let start = u16::from_be_bytes([frame[2], frame[3]]);
        let count = u16::from_be_bytes([frame[4], frame[5]]);
        let exception = |code: u8| vec![addr, fc | 0x80, code];
        Some(match fc {
            reg::FC_READ_INPUT => match dev.read_input(start, count) {
                Some(words) if count <= 125 => {
                    let mut r = vec![addr, fc, (words.len() * 2) as u8];
                    for w in words {
                        r.extend(w.to_be_bytes());
                    }
                    r
                }
                _ => exception(0x02),
            },
            reg::FC_WRITE_MULTIPLE => {
                let words: Vec<u16> = frame[7..7 + usize::from(frame[6])]
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                if dev.write(start, &words) {
                    frame[..6].to_vec()
                } else {
                    exception(0x02)
                }
            }
            _ => exception(0x01),
        })
    }
}

/// Length of the request frame at the start of `buf` (with CRC), if known yet.
fn request_len(buf: &[u8]) -> Option<usize> {
    match buf.get(1)? {
        0x01..=0x06 => Some(8),
        0x0F | 0x10 => buf.get(6).map(|n| 9 + usize::from(*n)),
        _ => Some(usize::MAX),
    }
}

/// An RS-485 bus of keypads, displays and rating keypads on one pty.
pub struct BusEmulator {
    pub model: Arc<Watched<BusModel>>,
    line: Line,
}

impl BusEmulator {
    pub fn start(link: &Path, devices: BTreeMap<u8, Device>) -> io::Result<BusEmulator> {
        let model = Watched::new(BusModel {
            devices,
            ..Default::default()
        });
        let line = Line::start(link, bus_handler(model.clone()), |_| {})?;
        Ok(BusEmulator { model, line })
    }

    pub fn link(&self) -> &Path {
        &self.line.link
    }

    /// Pull the bus adapter: the pty closes.
    pub fn unplug(&mut self) {
        self.line.stop();
    }

    pub fn replug(&mut self) -> io::Result<()> {
        self.line.spawn(bus_handler(self.model.clone()), |_| {})
    }

    pub fn press(&self, addr: u8, key: u16, arg: u16) -> bool {
        self.model.update(|m| m.press(addr, key, arg))
    }
}

fn bus_handler(model: Arc<Watched<BusModel>>) -> impl FnMut(&mut TTYPort, &[u8]) + Send + 'static {
    let mut buf: Vec<u8> = Vec::new();
    move |port: &mut TTYPort, bytes: &[u8]| {
        buf.extend_from_slice(bytes);
        while let Some(len) = request_len(&buf) {
            if len == usize::MAX || len > 256 {
                buf.remove(0);
                continue;
            }
            if buf.len() < len {
                break;
            }
            let frame: Vec<u8> = buf[..len].to_vec();
            let crc = u16::from_le_bytes([frame[len - 2], frame[len - 1]]);
            if reg::crc16(&frame[..len - 2]) != crc {
                model.update(|m| m.bad_requests += 1);
                buf.remove(0);
                continue;
            }
            buf.drain(..len);
            let (reply, pace) = model.update(|m| {
                m.requests += 1;
                let Some(body) = m.answer(&frame) else {
                    return (None, None);
                };
                // One fault per reply, in this order, until each count is used up.
                let mut out = Vec::new();
                let mut body = body;
                let mut bad_crc = false;
                if m.faults.bad_crc > 0 {
                    m.faults.bad_crc -= 1;
                    bad_crc = true;
                } else if m.faults.wrong_address > 0 {
                    m.faults.wrong_address -= 1;
                    body[0] = body[0].wrapping_add(100);
                } else if m.faults.noise_before > 0 {
                    m.faults.noise_before -= 1;
                    out.extend([0x00, 0xFF, 0x3C, 0x7E, 0x81]);
                }
                let mut f = reg::with_crc(body);
                if bad_crc {
                    let last = f.len() - 1;
                    f[last] ^= 0x5A;
                }
                out.extend(f);
                let pace = m.pace_baud.map(|baud| wire_time(len + out.len(), baud));
                (Some(out), pace)
            });
            if let Some(reply) = reply {
                if let Some(p) = pace {
                    std::thread::sleep(p);
                }
                let _ = port.write_all(&reply);
            }
        }
    }
}

/// Time on the wire for `bytes` bytes of one request and its reply at `baud`
/// (10 bits a byte, 8N1) plus the two 3.5-character gaps that end frames.
pub fn wire_time(bytes: usize, baud: u32) -> Duration {
    let chars = bytes as f64 + 2.0 * 3.5;
    Duration::from_secs_f64(chars * 10.0 / f64::from(baud))
}
