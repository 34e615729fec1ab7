//! The RS-485 bus master: Modbus RTU (tokio-modbus over tokio-serial) to the
//! caller keypads (呼叫器), counter displays (窗口屏) and rating keypads (评价器).
//!
//! One task owns the port. Each round it writes what changed first (display
//! contents, rating lamps, keypad results: coalesced, newest wins) and then
//! polls the next device; every keypad is read once per bus cycle, so a key
//! press reaches the display within one cycle plus the engine's commit.
//! Each request has a timeout and bounded retries; a device that fails them
//! all is reported offline and polled less often until it answers again,
//! when it is reported online and its display or lamp is rewritten. Bytes
//! that are not the awaited reply (garbage, CRC errors, another address) are
//! counted and never become commands.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{timeout, Instant};
use tokio_modbus::client::{rtu, Context as ModbusContext, Reader, Writer};
use tokio_modbus::prelude::{ProtocolError, Slave, SlaveContext};
use tokio_serial::{ClearBuffer, SerialPort, SerialStream};

use super::printer::open_port;
use super::registers::{self as reg, DisplayContent};
use crate::domain::{Command, ErrorKind, WindowNo};
use crate::engine::{Effect, EngineError, EngineHandle};

/// The devices of one counter window and their bus addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusWindow {
    pub window: WindowNo,
    pub keypad: Option<u8>,
    pub display: Option<u8>,
    pub rating: Option<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BusConfig {
    pub port: String,
    pub baud: u32,
    /// Wait this long for a reply.
    pub timeout: Duration,
    /// Tries after the first before a device counts as not answering.
    pub retries: u8,
    /// Ask the UART for kernel RS-485 mode (TIOCSRS485).
    pub rs485: bool,
    /// Counter display brightness, 0–100.
    pub brightness: u16,
    /// A bus cycle takes at least this long (keeps an idle bus from spinning).
    pub min_cycle: Duration,
    /// Displays (which have no keys) are checked every this many cycles.
    pub display_every: u32,
    /// Devices that stopped answering are tried every this many cycles.
    pub offline_every: u32,
    pub reconnect: Duration,
    pub windows: Vec<BusWindow>,
}

impl BusConfig {
    pub fn new(port: impl Into<String>, windows: Vec<BusWindow>) -> BusConfig {
        BusConfig {
            port: port.into(),
            baud: 19200,
            timeout: Duration::from_millis(100),
            retries: 2,
            rs485: true,
            brightness: 80,
            min_cycle: Duration::from_millis(50),
            display_every: 8,
            offline_every: 8,
            reconnect: Duration::from_secs(1),
            windows,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Keypad,
    Display,
    Rating,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Keypad => "keypad",
            Kind::Display => "display",
            Kind::Rating => "rating",
        }
    }

    fn type_code(self) -> u16 {
        match self {
            Kind::Keypad => reg::TYPE_KEYPAD,
            Kind::Display => reg::TYPE_DISPLAY,
            Kind::Rating => reg::TYPE_RATING,
        }
    }
}

/// Things that went wrong on the bus, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub requests: u64,
    pub timeouts: u64,
    pub crc_errors: u64,
    pub wrong_address: u64,
    pub exceptions: u64,
    /// Bytes that were neither the awaited reply nor one of the above.
    pub garbage_bytes: u64,
    pub port_errors: u64,
    /// Key events that fell out of a keypad's ring before they were read.
    pub lost_events: u64,
    /// Key events that mean nothing (unknown key, missing argument).
    pub ignored_keys: u64,
    /// Replies with a valid CRC but fewer registers than asked for.
    pub short_replies: u64,
}

/// One device as the master sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceState {
    /// `keypad@3`: kind and address.
    pub name: String,
    pub kind: Kind,
    pub address: u8,
    pub window: WindowNo,
    /// None until first asked.
    pub online: Option<bool>,
    /// The last key event number handled (keypads).
    pub last_event: Option<u16>,
    pub failures: u64,
}

/// The bus as a whole, for status pages, `hallqctl` and the bench.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BusStatus {
    pub port_open: bool,
    pub devices: Vec<DeviceState>,
    pub counters: Counters,
    pub cycles: u64,
    /// The duration of the last complete bus cycle, in microseconds.
    pub last_cycle_us: u64,
}

pub type SharedStatus = Arc<Mutex<BusStatus>>;

/// The running bus master.
pub struct BusHandle {
    pub status: SharedStatus,
    pub task: tokio::task::JoinHandle<()>,
}

/// Start the bus master. It runs until the engine stops.
pub fn spawn(engine: EngineHandle, cfg: BusConfig) -> BusHandle {
    let effects = engine.subscribe();
    let status: SharedStatus = Arc::new(Mutex::new(BusStatus::default()));
    let master = Master::new(engine, cfg, status.clone());
    let task = tokio::spawn(master.run(effects));
    BusHandle { status, task }
}

// ----- the port, watched ----------------------------------------------------

/// The serial port under tokio-modbus: clears stale input before each request
/// and keeps what was received, so the master can tell a CRC error, another
/// address and garbage apart and count them.
struct WatchedPort {
    inner: SerialStream,
    rx: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for WatchedPort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            if let Ok(mut rx) = self.rx.lock() {
                rx.extend_from_slice(new);
            }
        }
        r
    }
}

impl AsyncWrite for WatchedPort {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // A new request: whatever arrived before it is stale (a late reply).
        let _ = self.inner.clear(ClearBuffer::Input);
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ----- the master ------------------------------------------------------------

struct Dev {
    kind: Kind,
    addr: u8,
    window: WindowNo,
    online: Option<bool>,
    last_event: Option<u16>,
    failures: u64,
    /// What the device should hold (display block, lamp, keypad result) …
    want: Option<Vec<u16>>,
    /// … and what it was last seen to accept.
    written: Option<Vec<u16>>,
}

impl Dev {
    fn name(&self) -> String {
        format!("{}@{}", self.kind.name(), self.addr)
    }

    fn dirty(&self) -> bool {
        self.want.is_some() && self.want != self.written
    }
}

/// The polling order of one cycle: the answering caller keypads twice, half a
/// cycle apart (keypads, half the others, keypads, the rest), so a key press
/// waits at most about half a cycle to be read and its display is written
/// well within one cycle. The other devices are polled once.
fn keypads_twice(polled: &[usize], is_keypad: impl Fn(usize) -> bool) -> Vec<usize> {
    let (keypads, others): (Vec<usize>, Vec<usize>) = polled.iter().partition(|&&i| is_keypad(i));
    let half = others.len().div_ceil(2);
    let mut order = Vec::with_capacity(2 * keypads.len() + others.len());
    order.extend(&keypads);
    order.extend(&others[..half]);
    order.extend(&keypads);
    order.extend(&others[half..]);
    order
}

/// Work for the executor, in order.
enum Job {
    Key { dev: usize, number: u16, cmd: Command },
    Rate { window: WindowNo, key: u8 },
    Presence { device: String, online: bool },
}

/// What a request came to.
enum Outcome<T> {
    Ok(T),
    Failed,
    PortLost,
}

struct Master {
    engine: EngineHandle,
    cfg: BusConfig,
    status: SharedStatus,
    devs: Vec<Dev>,
    counters: Counters,
    rx: Arc<Mutex<Vec<u8>>>,
    ctx: Option<ModbusContext>,
    jobs: mpsc::UnboundedSender<Job>,
    results: mpsc::UnboundedReceiver<(usize, u16, u16)>,
    jobs_rx: Option<mpsc::UnboundedReceiver<Job>>,
    results_tx: mpsc::UnboundedSender<(usize, u16, u16)>,
    cycles: u64,
    last_cycle: Duration,
}

impl Master {
    fn new(engine: EngineHandle, cfg: BusConfig, status: SharedStatus) -> Master {
        let mut devs = Vec::new();
        for w in &cfg.windows {
            for (kind, addr) in [
                (Kind::Keypad, w.keypad),
                (Kind::Display, w.display),
                (Kind::Rating, w.rating),
            ] {
                if let Some(addr) = addr {
                    devs.push(Dev {
                        kind,
                        addr,
                        window: w.window,
                        online: None,
                        last_event: None,
                        failures: 0,
                        want: None,
                        written: None,
                    });
                }
            }
        }
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let (results_tx, results) = mpsc::unbounded_channel();
        Master {
            engine,
            cfg,
            status,
            devs,
            counters: Counters::default(),
            rx: Arc::new(Mutex::new(Vec::new())),
            ctx: None,
            jobs,
            results,
            jobs_rx: Some(jobs_rx),
            results_tx,
            cycles: 0,
            last_cycle: Duration::ZERO,
        }
    }

    async fn run(mut self, mut effects: broadcast::Receiver<Effect>) {
        if let Some(jobs) = self.jobs_rx.take() {
            tokio::spawn(executor(self.engine.clone(), jobs, self.results_tx.clone()));
        }
        if let Err(e) = self.engine.republish() {
            tracing::warn!(error = %e, "could not ask the engine for the displays' contents");
        }
        let mut order: Vec<usize> = Vec::new();
        let mut next = 0usize;
        let mut cycle_start = Instant::now();
        loop {
            // Take in everything the engine and the executor have said.
            loop {
                match effects.try_recv() {
                    Ok(e) => self.take_effect(&e),
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "bus master fell behind; redrawing every display");
                        let _ = self.engine.republish();
                    }
                    Err(broadcast::error::TryRecvError::Closed) => return,
                }
            }
            while let Ok((dev, number, code)) = self.results.try_recv() {
                self.devs[dev].want = Some(vec![number, code]);
            }
            if self.ctx.is_none() && !self.open().await {
                self.publish();
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.reconnect) => {}
                    e = effects.recv() => match e {
                        Ok(e) => self.take_effect(&e),
                        Err(broadcast::error::RecvError::Closed) => return,
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                    },
                }
                continue;
            }
            // Writes go ahead of routine polls: displays first, then lamps, then keypad results.
            let pending = |k: Kind| {
                self.devs
                    .iter()
                    .position(|d| d.kind == k && d.dirty() && d.online != Some(false))
            };
            if let Some(i) = pending(Kind::Display)
                .or_else(|| pending(Kind::Rating))
                .or_else(|| pending(Kind::Keypad))
            {
                self.write(i).await;
                self.publish();
                continue;
            }
            if next >= order.len() {
                // A new cycle: who is polled in it.
                if !order.is_empty() {
                    self.cycles += 1;
                    self.last_cycle = cycle_start.elapsed();
                    self.publish();
                    let rest = self.cfg.min_cycle.saturating_sub(self.last_cycle);
                    if !rest.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(rest) => {}
                            e = effects.recv() => match e {
                                Ok(e) => self.take_effect(&e),
                                Err(broadcast::error::RecvError::Closed) => return,
                                Err(broadcast::error::RecvError::Lagged(_)) => { let _ = self.engine.republish(); }
                            },
                            r = self.results.recv() => if let Some((dev, number, code)) = r {
                                self.devs[dev].want = Some(vec![number, code]);
                            },
                        }
                    }
                }
                cycle_start = Instant::now();
                let c = self.cycles;
                // Devices checked only every n-th cycle are spread over the
                // cycles (device i in cycles where (c + i) mod n = 0), so no
                // cycle is much longer than the others.
                let every = |n: u32, i: usize| (c + i as u64) % u64::from(n.max(1)) == 0;
                let polled: Vec<usize> = (0..self.devs.len())
                    .filter(|&i| {
                        let d = &self.devs[i];
                        match (d.online, d.kind) {
                            (Some(false), _) => every(self.cfg.offline_every, i),
                            (_, Kind::Display) => every(self.cfg.display_every, i) || d.online.is_none(),
                            _ => true,
                        }
                    })
                    .collect();
                order = keypads_twice(&polled, |i| {
                    self.devs[i].kind == Kind::Keypad && self.devs[i].online != Some(false)
                });
                next = 0;
                if order.is_empty() {
                    // Nothing to poll this cycle (no devices): wait for work.
                    tokio::select! {
                        _ = tokio::time::sleep(self.cfg.min_cycle.max(Duration::from_millis(50))) => {}
                        e = effects.recv() => match e {
                            Ok(e) => self.take_effect(&e),
                            Err(broadcast::error::RecvError::Closed) => return,
                            Err(broadcast::error::RecvError::Lagged(_)) => {}
                        },
                    }
                    self.cycles += 1;
                    continue;
                }
            }
            let i = order[next];
            next += 1;
            self.poll(i).await;
        }
    }

    fn take_effect(&mut self, e: &Effect) {
        match e {
            Effect::ShowOnCounter { window } => {
                let content = DisplayContent {
                    window: window.number,
                    status: reg::status_code(window.status),
                    brightness: self.cfg.brightness,
                    ticket: window.serving.clone().unwrap_or_default(),
                    text: window.status_text.to_string(),
                };
                for d in self
                    .devs
                    .iter_mut()
                    .filter(|d| d.kind == Kind::Display && d.window == window.number)
                {
                    d.want = Some(content.to_registers());
                }
            }
            Effect::RatingKeys { window, lit } => {
                for d in self
                    .devs
                    .iter_mut()
                    .filter(|d| d.kind == Kind::Rating && d.window == *window)
                {
                    d.want = Some(vec![u16::from(*lit)]);
                }
            }
            _ => {}
        }
    }

    async fn open(&mut self) -> bool {
        match open_port(&self.cfg.port, self.cfg.baud) {
            Ok(port) => {
                if self.cfg.rs485 {
                    use std::os::fd::AsRawFd;
                    if let Err(e) = super::rs485::enable(port.as_raw_fd()) {
                        tracing::info!(error = %e, port = %self.cfg.port,
                            "no kernel RS-485 mode on this UART: the transceiver must switch direction by itself");
                    }
                }
                let watched = WatchedPort {
                    inner: port,
                    rx: self.rx.clone(),
                };
                self.ctx = Some(rtu::attach_slave(watched, Slave(1)));
                tracing::info!(port = %self.cfg.port, baud = self.cfg.baud, "RS-485 bus open");
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "RS-485 bus port not reachable");
                // Nothing on the bus can answer: every device is offline.
                for i in 0..self.devs.len() {
                    self.mark(i, false);
                }
                false
            }
        }
    }

    fn publish(&self) {
        if let Ok(mut s) = self.status.lock() {
            s.port_open = self.ctx.is_some();
            s.counters = self.counters.clone();
            s.cycles = self.cycles;
            s.last_cycle_us = self.last_cycle.as_micros() as u64;
            s.devices = self
                .devs
                .iter()
                .map(|d| DeviceState {
                    name: d.name(),
                    kind: d.kind,
                    address: d.addr,
                    window: d.window,
                    online: d.online,
                    last_event: d.last_event,
                    failures: d.failures,
                })
                .collect();
        }
    }

    /// Record a device answering or not; tell the engine on a change.
    fn mark(&mut self, i: usize, online: bool) {
        let d = &mut self.devs[i];
        if d.online == Some(online) {
            return;
        }
        let was = d.online;
        d.online = Some(online);
        if online {
            // Whatever it showed before may be gone (it may have restarted).
            d.written = None;
        } else {
            d.failures += 1;
        }
        if online && was == Some(false) {
            tracing::info!(device = %d.name(), window = d.window, "bus device answers again");
        } else if !online {
            tracing::warn!(device = %d.name(), window = d.window, "bus device not answering");
        }
        // The engine records only changes, also against the state before a restart.
        let _ = self.jobs.send(Job::Presence {
            device: d.name(),
            online,
        });
    }

    async fn write(&mut self, i: usize) {
        let (addr, start, words) = {
            let d = &self.devs[i];
            let start = match d.kind {
                Kind::Keypad => reg::HR_KEYPAD_RESULT,
                Kind::Display => reg::HR_DISPLAY,
                Kind::Rating => reg::HR_RATING_LAMP,
            };
            (d.addr, start, d.want.clone().unwrap_or_default())
        };
        match self
            .request(addr, 8, |ctx| {
                let words = words.clone();
                Box::pin(async move { ctx.write_multiple_registers(start, &words).await })
            })
            .await
        {
            Outcome::Ok(()) => {
                self.devs[i].written = Some(words);
                self.mark(i, true);
            }
            Outcome::Failed => self.mark(i, false),
            Outcome::PortLost => {}
        }
    }

    async fn poll(&mut self, i: usize) {
        let (addr, kind) = (self.devs[i].addr, self.devs[i].kind);
        if kind == Kind::Display || self.devs[i].online != Some(true) {
            // Liveness, and that the device at this address is what we think.
            match self
                .request(addr, 5 + 2, |ctx| {
                    Box::pin(async move { ctx.read_input_registers(reg::IN_DEVICE_TYPE, 1).await })
                })
                .await
            {
                Outcome::Ok(words) => {
                    if words.first() != Some(&kind.type_code()) {
                        tracing::warn!(address = addr, found = ?words, expected = kind.name(),
                            "another kind of device answers at this address: check the addresses");
                        self.mark(i, false);
                        return;
                    }
                    self.mark(i, true);
                }
                Outcome::Failed => {
                    self.mark(i, false);
                    return;
                }
                Outcome::PortLost => return,
            }
            if kind == Kind::Display {
                return;
            }
        }
        let words = match self
            .request(addr, 5 + 4, |ctx| {
                Box::pin(async move { ctx.read_input_registers(reg::IN_EVENT_COUNTER, 2).await })
            })
            .await
        {
            Outcome::Ok(w) => w,
            Outcome::Failed => return self.mark(i, false),
            Outcome::PortLost => return,
        };
        // A reply with a valid CRC may still be short (a byte count of 0):
        // never index into it blindly, a bad device must not stop the hall.
        let Some(&counter) = words.first() else {
            tracing::warn!(device = %self.devs[i].name(), "reply without the event counter");
            self.counters.short_replies += 1;
            return self.mark(i, false);
        };
        self.mark(i, true);
        let last = self.devs[i].last_event;
        if last.is_none() {
            // First contact: presses from before we were listening are not replayed.
            self.devs[i].last_event = Some(counter);
            return;
        }
        if last == Some(counter) {
            return;
        }
        let ring = match self
            .request(addr, 5 + 2 * 2 * reg::EVENT_RING_LEN as usize, |ctx| {
                Box::pin(async move {
                    ctx.read_input_registers(reg::IN_EVENT_RING, 2 * reg::EVENT_RING_LEN)
                        .await
                })
            })
            .await
        {
            Outcome::Ok(w) => w,
            Outcome::Failed => return self.mark(i, false),
            Outcome::PortLost => return,
        };
        let (events, lost) = reg::new_events(last, counter, &ring);
        if lost > 0 {
            tracing::warn!(device = %self.devs[i].name(), lost, "key presses fell out of the keypad's ring");
            self.counters.lost_events += u64::from(lost);
        }
        let window = self.devs[i].window;
        for ev in events {
            match kind {
                Kind::Keypad => match reg::keypad_command(window, ev.key, ev.arg) {
                    Ok(cmd) => {
                        let _ = self.jobs.send(Job::Key {
                            dev: i,
                            number: ev.number,
                            cmd,
                        });
                    }
                    Err(why) => {
                        tracing::warn!(window, key = ev.key, arg = ev.arg, %why, "keypad key ignored");
                        self.counters.ignored_keys += 1;
                        self.devs[i].want = Some(vec![ev.number, reg::RESULT_INVALID]);
                    }
                },
                Kind::Rating => match u8::try_from(ev.key) {
                    Ok(key) if key > 0 => {
                        let _ = self.jobs.send(Job::Rate { window, key });
                    }
                    _ => self.counters.ignored_keys += 1,
                },
                Kind::Display => {}
            }
        }
        self.devs[i].last_event = Some(counter);
    }

    /// One request with timeout and retries; every failure classified and counted.
    async fn request<T, F>(&mut self, addr: u8, reply_len: usize, mut call: F) -> Outcome<T>
    where
        F: for<'a> FnMut(
            &'a mut ModbusContext,
        )
            -> Pin<Box<dyn std::future::Future<Output = tokio_modbus::Result<T>> + Send + 'a>>,
    {
        for _attempt in 0..=self.cfg.retries {
            let Some(ctx) = self.ctx.as_mut() else {
                return Outcome::PortLost;
            };
            ctx.set_slave(Slave(addr));
            if let Ok(mut rx) = self.rx.lock() {
                rx.clear();
            }
            self.counters.requests += 1;
            let result = timeout(self.cfg.timeout, call(ctx)).await;
            let rx: Vec<u8> = self
                .rx
                .lock()
                .map(|mut r| std::mem::take(&mut *r))
                .unwrap_or_default();
            match result {
                Ok(Ok(Ok(v))) => {
                    self.counters.garbage_bytes += rx.len().saturating_sub(reply_len) as u64;
                    return Outcome::Ok(v);
                }
                Ok(Ok(Err(exception))) => {
                    tracing::warn!(
                        address = addr,
                        ?exception,
                        "bus device answered with an exception"
                    );
                    self.counters.exceptions += 1;
                }
                Ok(Err(tokio_modbus::Error::Protocol(ProtocolError::HeaderMismatch { .. }))) => {
                    self.counters.wrong_address += 1;
                    self.counters.garbage_bytes += rx.len().saturating_sub(reply_len) as u64;
                }
                Ok(Err(tokio_modbus::Error::Protocol(_))) => {
                    self.counters.garbage_bytes += rx.len() as u64;
                }
                Ok(Err(tokio_modbus::Error::Transport(e))) => {
                    // The port itself failed (adapter unplugged) or the decoder gave up.
                    tracing::warn!(error = %e, "RS-485 port error; reopening");
                    self.counters.port_errors += 1;
                    self.counters.garbage_bytes += rx.len() as u64;
                    self.ctx = None;
                    if e.kind() != std::io::ErrorKind::InvalidData {
                        return Outcome::PortLost;
                    }
                    if !self.open().await {
                        return Outcome::PortLost;
                    }
                }
                Err(_elapsed) => {
                    self.counters.timeouts += 1;
                    self.classify_unanswered(addr, reply_len, &rx);
                }
            }
        }
        self.devs
            .iter_mut()
            .filter(|d| d.addr == addr)
            .for_each(|d| d.failures += 1);
        Outcome::Failed
    }

    /// No acceptable reply came: say why, from the bytes that did.
    fn classify_unanswered(&mut self, addr: u8, reply_len: usize, rx: &[u8]) {
        if rx.is_empty() {
            return;
        }
        // A frame of ours with a broken CRC, or a good frame from someone else?
        let mut i = 0;
        while i + 4 <= rx.len() {
            for end in (i + 4..=rx.len()).rev() {
                let f = &rx[i..end];
                let body = &f[..f.len() - 2];
                let crc = u16::from_le_bytes([f[f.len() - 2], f[f.len() - 1]]);
                if reg::crc16(body) == crc {
                    if f[0] != addr {
                        self.counters.wrong_address += 1;
                    }
                    self.counters.garbage_bytes += i as u64 + (rx.len() - end) as u64;
                    return;
                }
            }
            // A frame of the awaited length whose CRC does not match: a CRC error
            // (the damage may be anywhere in it, the address byte too).
            if rx.len() - i == reply_len {
                self.counters.crc_errors += 1;
                self.counters.garbage_bytes += i as u64;
                return;
            }
            i += 1;
        }
        self.counters.garbage_bytes += rx.len() as u64;
    }
}

/// Carries out key presses and presence reports in order, off the bus task,
/// and hands each keypad press's result back for the keypad.
async fn executor(
    engine: EngineHandle,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    results: mpsc::UnboundedSender<(usize, u16, u16)>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Key { dev, number, cmd } => {
                let code = match engine.execute(cmd.clone()).await {
                    Ok(_) => reg::RESULT_OK,
                    Err(EngineError::Refused(e)) => {
                        tracing::info!(?cmd, error = %e, "keypad command refused");
                        match e.kind() {
                            ErrorKind::NotFound => reg::RESULT_NOT_FOUND,
                            ErrorKind::Invalid => reg::RESULT_INVALID,
                            ErrorKind::Conflict => reg::RESULT_REFUSED,
                        }
                    }
                    Err(EngineError::Stopped) => return,
                    Err(e) => {
                        tracing::error!(?cmd, error = %e, "keypad command failed");
                        reg::RESULT_FAILED
                    }
                };
                let _ = results.send((dev, number, code));
            }
            Job::Rate { window, key } => match engine.execute(Command::Rate { window, key }).await {
                Ok(_) => {}
                Err(EngineError::Stopped) => return,
                Err(e) => tracing::info!(window, key, error = %e, "rating key refused"),
            },
            Job::Presence { device, online } => {
                if let Err(e) = engine.execute(Command::ReportDevice { device, online }).await {
                    if matches!(e, EngineError::Stopped) {
                        return;
                    }
                    tracing::error!(error = %e, "could not record a bus device's presence");
                }
            }
        }
    }
}

/// Which device names the bus has, for `hallqctl` listings.
pub fn device_names(windows: &[BusWindow]) -> BTreeMap<String, (Kind, WindowNo)> {
    let mut out = BTreeMap::new();
    for w in windows {
        for (kind, addr) in [
            (Kind::Keypad, w.keypad),
            (Kind::Display, w.display),
            (Kind::Rating, w.rating),
        ] {
            if let Some(a) = addr {
                out.insert(format!("{}@{}", kind.name(), a), (kind, w.window));
            }
        }
    }
    out
}

// ----- on-site checks (hallqctl device …) ---------------------------------------

/// What one configured address said when asked.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub name: String,
    pub window: WindowNo,
    pub expected: Kind,
    /// Device type, firmware, event counter, status; or why there is none.
    pub answer: Result<[u16; 4], String>,
}

impl Probe {
    /// The expected kind of device answered.
    pub fn ok(&self) -> bool {
        matches!(&self.answer, Ok([t, ..]) if *t == self.expected.type_code())
    }

    /// One line for a technician.
    pub fn describe(&self) -> String {
        match &self.answer {
            Ok([t, fw, counter, status]) if *t == self.expected.type_code() => format!(
                "{:<12} window {:<3} OK       firmware {}.{}, {} key events, status {:#06b}",
                self.name,
                self.window,
                fw >> 8,
                fw & 0xFF,
                counter,
                status
            ),
            Ok([t, ..]) => format!(
                "{:<12} window {:<3} WRONG    a device of type {t} answers here, not a {}: check the address switches",
                self.name,
                self.window,
                self.expected.name()
            ),
            Err(e) => format!("{:<12} window {:<3} NO REPLY {e}", self.name, self.window),
        }
    }
}

async fn one_shot<T>(
    ctx: &mut ModbusContext,
    cfg: &BusConfig,
    addr: u8,
    mut call: impl for<'a> FnMut(
        &'a mut ModbusContext,
    ) -> Pin<
        Box<dyn std::future::Future<Output = tokio_modbus::Result<T>> + Send + 'a>,
    >,
) -> Result<T, String> {
    let mut last = String::from("no reply");
    for _ in 0..=cfg.retries {
        ctx.set_slave(Slave(addr));
        match timeout(cfg.timeout, call(ctx)).await {
            Ok(Ok(Ok(v))) => return Ok(v),
            Ok(Ok(Err(exc))) => last = format!("exception {exc:?}"),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no reply within {} ms", cfg.timeout.as_millis()),
        }
    }
    Err(last)
}

fn open_context(cfg: &BusConfig) -> Result<ModbusContext, super::DeviceError> {
    let port = open_port(&cfg.port, cfg.baud)?;
    if cfg.rs485 {
        use std::os::fd::AsRawFd;
        let _ = super::rs485::enable(port.as_raw_fd());
    }
    let watched = WatchedPort {
        inner: port,
        rx: Arc::new(Mutex::new(Vec::new())),
    };
    Ok(rtu::attach_slave(watched, Slave(1)))
}

/// Ask every configured address what it is (`hallqctl device bus-list`).
pub async fn probe(cfg: &BusConfig) -> Result<Vec<Probe>, super::DeviceError> {
    let mut ctx = open_context(cfg)?;
    let mut out = Vec::new();
    for w in &cfg.windows {
        for (kind, addr) in [
            (Kind::Keypad, w.keypad),
            (Kind::Display, w.display),
            (Kind::Rating, w.rating),
        ] {
            let Some(addr) = addr else { continue };
            let answer = one_shot(&mut ctx, cfg, addr, |c| {
                Box::pin(async move { c.read_input_registers(reg::IN_DEVICE_TYPE, 4).await })
            })
            .await
            .and_then(|v| <[u16; 4]>::try_from(v).map_err(|v| format!("{} registers instead of 4", v.len())));
            out.push(Probe {
                name: format!("{}@{addr}", kind.name()),
                window: w.window,
                expected: kind,
                answer,
            });
        }
    }
    Ok(out)
}

/// Show the test pattern on every counter display (`hallqctl device display-test`).
pub async fn test_pattern(cfg: &BusConfig) -> Result<Vec<(String, Result<(), String>)>, super::DeviceError> {
    let mut ctx = open_context(cfg)?;
    let mut out = Vec::new();
    for w in &cfg.windows {
        let Some(addr) = w.display else { continue };
        let words = DisplayContent::test_pattern(w.window).to_registers();
        let r = one_shot(&mut ctx, cfg, addr, |c| {
            let words = words.clone();
            Box::pin(async move { c.write_multiple_registers(reg::HR_DISPLAY, &words).await })
        })
        .await;
        out.push((format!("display@{addr} (window {})", w.window), r));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keypads_are_polled_twice_half_a_cycle_apart() {
        // devices 0, 3, 6 are keypads; 1, 2, 4, 5 are not
        let order = super::keypads_twice(&[0, 1, 2, 3, 4, 5, 6], |i| i % 3 == 0);
        assert_eq!(order, vec![0, 3, 6, 1, 2, 0, 3, 6, 4, 5]);
        let only_others = super::keypads_twice(&[1, 2], |_| false);
        assert_eq!(only_others, vec![1, 2]);
        assert!(super::keypads_twice(&[], |_| true).is_empty());
    }
}
