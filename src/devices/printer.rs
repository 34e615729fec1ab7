//! The ticket printer: ESC/POS over a serial port (tokio-serial).
//!
//! One task owns the port. It prints the engine's `PrintTicket` effects, polls
//! the printer with DLE EOT 1–4 and listens to automatic status back (GS a)
//! through one reader task, and reports every change of state to the engine
//! (`ReportPrinter`), which records it as an event, darkens the kiosk lamps and
//! refuses tickets while the printer cannot print. A port that fails (cable
//! pulled, USB adapter gone) is reopened by itself.
//!
//! The printer counts as off line from the driver's start until its first
//! status reply, so no ticket is issued before it has answered once. A ticket
//! already committed whose print fails (the write fails, the status asked
//! right after the job shows the printer cannot print, or no reply comes) is
//! voided (`VoidTicket`, 作废): nobody holds that number.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{timeout, Instant};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use super::escpos::{self, StatusMsg, StatusParser, TicketText};
use super::DeviceError;
use crate::domain::{Command, PrinterStatus, TicketClass, TicketId};
use crate::engine::{Effect, EngineHandle};

/// Where and how to reach the printer.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterConfig {
    /// Serial device, e.g. `/dev/ttyUSB0` or a `/dev/serial/by-id/…` link.
    pub port: String,
    pub baud: u32,
    /// QR content with `{hall}`, `{label}`, `{date}`, `{id}` filled in; no QR when `None`.
    pub qr: Option<String>,
    /// How often the printer's state is polled.
    pub poll: Duration,
    /// No status reply for this long: the printer is off line.
    pub reply_timeout: Duration,
    /// Wait between attempts to reopen a failed port.
    pub reconnect: Duration,
}

impl PrinterConfig {
    pub fn new(port: impl Into<String>) -> PrinterConfig {
        PrinterConfig {
            port: port.into(),
            baud: 9600,
            qr: None,
            poll: Duration::from_millis(500),
            reply_timeout: Duration::from_millis(1500),
            reconnect: Duration::from_secs(1),
        }
    }
}

/// Open a serial port in raw 8N1 mode.
pub fn open_port(port: &str, baud: u32) -> Result<SerialStream, DeviceError> {
    tokio_serial::new(port, baud)
        .timeout(Duration::from_millis(100))
        .open_native_async()
        .map_err(|source| DeviceError::Open {
            port: port.to_string(),
            source,
        })
}

/// What a `PrintTicket` effect prints.
pub fn ticket_text(engine: &EngineHandle, qr: Option<&str>, effect: &Effect) -> Option<TicketText> {
    let Effect::PrintTicket {
        ticket,
        queue_name,
        ahead,
        estimated_wait_s,
    } = effect
    else {
        return None;
    };
    let setup = &engine.setup;
    let date = ticket.day.format("%Y-%m-%d").to_string();
    Some(TicketText {
        hall_name: setup.name.clone(),
        label: ticket.label.clone(),
        queue_name: queue_name.clone(),
        class_note: match ticket.class {
            TicketClass::Normal => String::new(),
            c => c.chinese().to_string(),
        },
        ahead: *ahead,
        wait_minutes: estimated_wait_s.div_ceil(60),
        issued: setup
            .local_time(ticket.issued_at)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        qr: qr.map(|t| {
            t.replace("{hall}", &setup.hall_id)
                .replace("{label}", &ticket.label)
                .replace("{date}", &date)
                .replace("{id}", &ticket.id.to_string())
        }),
        phone: setup.phone.clone(),
    })
}

/// Start the printer driver. It runs until the engine stops. The printer
/// is reported off line first thing in the driver's task; [`start`] waits
/// for that report.
pub fn spawn(engine: EngineHandle, cfg: PrinterConfig) -> tokio::task::JoinHandle<()> {
    let effects = engine.subscribe();
    let reporter = Reporter {
        engine: engine.clone(),
        last: None,
    };
    tokio::spawn(run(engine, cfg, effects, reporter))
}

/// Start the printer driver once the hall has recorded the printer as off
/// line: from then on no ticket is issued until the printer answers.
pub async fn start(engine: EngineHandle, cfg: PrinterConfig) -> tokio::task::JoinHandle<()> {
    let effects = engine.subscribe();
    let mut reporter = Reporter {
        engine: engine.clone(),
        last: None,
    };
    reporter.report(OFFLINE).await;
    tokio::spawn(run(engine, cfg, effects, reporter))
}

/// Until the printer has answered, and whenever it stops answering.
const OFFLINE: PrinterStatus = PrinterStatus {
    offline: true,
    paper_out: false,
    paper_near_end: false,
    cover_open: false,
    cutter_error: false,
    error: false,
};

struct Reporter {
    engine: EngineHandle,
    last: Option<PrinterStatus>,
}

/// A ticket sent to the printer whose print is not yet confirmed.
#[derive(Debug, Clone)]
struct Printing {
    ticket: TicketId,
    label: String,
}

impl Printing {
    fn of(effect: &Effect) -> Option<Printing> {
        match effect {
            Effect::PrintTicket { ticket, .. } => Some(Printing {
                ticket: ticket.id,
                label: ticket.label.clone(),
            }),
            _ => None,
        }
    }
}

/// The print of a committed ticket failed: void it (作废) so that no number
/// stays in the queue that nobody holds.
async fn void(engine: &EngineHandle, p: &Printing, reason: &str) {
    tracing::error!(label = %p.label, %reason, "the ticket was not printed: voiding it");
    let cmd = Command::VoidTicket {
        ticket: p.ticket,
        reason: format!("打印失败 print failed: {reason}"),
    };
    if let Err(e) = engine.execute(cmd).await {
        tracing::error!(label = %p.label, error = %e, "could not void the unprinted ticket");
    }
}

impl Reporter {
    async fn report(&mut self, status: PrinterStatus) {
        if self.last == Some(status) {
            return;
        }
        if status.ready() {
            tracing::info!(problems = %status.problems(), "ticket printer ready");
        } else {
            tracing::warn!(problems = %status.problems(), "ticket printer cannot print");
        }
        match self.engine.execute(Command::ReportPrinter { status }).await {
            Ok(_) => self.last = Some(status),
            Err(e) => tracing::error!(error = %e, "could not record the printer's state"),
        }
    }
}

async fn run(
    engine: EngineHandle,
    cfg: PrinterConfig,
    mut effects: broadcast::Receiver<Effect>,
    mut reporter: Reporter,
) {
    let offline = OFFLINE;
    // Not ready until the first status reply.
    reporter.report(offline).await;
    loop {
        match open_port(&cfg.port, cfg.baud) {
            Ok(port) => {
                tracing::info!(port = %cfg.port, "ticket printer port open");
                if !session(&engine, &cfg, port, &mut effects, &mut reporter).await {
                    return;
                }
                tracing::warn!(port = %cfg.port, "ticket printer port lost; reopening");
            }
            Err(e) => tracing::debug!(error = %e, "ticket printer not reachable"),
        }
        reporter.report(offline).await;
        // Wait before trying again; tickets cannot be issued meanwhile.
        let until = Instant::now() + cfg.reconnect;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                e = effects.recv() => match e {
                    Ok(e @ Effect::PrintTicket { .. }) => {
                        if let Some(p) = Printing::of(&e) {
                            void(&engine, &p, "the printer is off line").await;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

/// Talk to an open port until it fails. Returns false when the engine stopped.
async fn session(
    engine: &EngineHandle,
    cfg: &PrinterConfig,
    port: SerialStream,
    effects: &mut broadcast::Receiver<Effect>,
    reporter: &mut Reporter,
) -> bool {
    let (mut rd, mut wr) = tokio::io::split(port);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 256];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let write_timeout = cfg.reply_timeout.max(Duration::from_millis(500));
    let mut init = vec![0x1B, 0x40];
    init.extend(escpos::ASB_ON);
    let alive = send(&mut wr, &init, write_timeout).await;
    let mut parser = StatusParser::default();
    let mut status = PrinterStatus::default();
    // Status requests awaiting their reply; the last request sent after a
    // ticket carries it, and its reply confirms or fails the print.
    let mut pending: VecDeque<(u8, Option<Printing>)> = VecDeque::new();
    let mut failed: Vec<(Printing, String)> = Vec::new();
    let mut last_heard = Instant::now();
    let mut poll = tokio::time::interval(cfg.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut msgs = Vec::new();
    let mut engine_alive = true;
    if alive {
        loop {
            tokio::select! {
                bytes = rx.recv() => {
                    let Some(bytes) = bytes else { break };
                    parser.push(&bytes, &mut msgs);
                    let mut complete = false;
                    for m in msgs.drain(..) {
                        last_heard = Instant::now();
                        match m {
                            StatusMsg::RealTime(b) => {
                                if let Some((n, printing)) = pending.pop_front() {
                                    escpos::apply_real_time(&mut status, n, b);
                                    complete |= pending.is_empty();
                                    if let Some(p) = printing {
                                        if status.ready() {
                                            tracing::info!(label = %p.label, "ticket printed");
                                        } else {
                                            failed.push((p, status.problems()));
                                        }
                                    }
                                }
                            }
                            StatusMsg::Automatic(a) => {
                                escpos::apply_automatic(&mut status, a);
                                complete = true;
                            }
                        }
                    }
                    if complete {
                        reporter.report(status).await;
                    }
                    for (p, reason) in failed.drain(..) {
                        void(engine, &p, &reason).await;
                    }
                }
                _ = poll.tick() => {
                    if !pending.is_empty() && last_heard.elapsed() > cfg.reply_timeout {
                        reporter.report(PrinterStatus { offline: true, ..status }).await;
                        for (_, p) in pending.drain(..) {
                            if let Some(p) = p {
                                void(engine, &p, "no status reply from the printer").await;
                            }
                        }
                    }
                    if pending.len() < 8 {
                        let mut req = Vec::with_capacity(12);
                        for n in 1..=4 {
                            req.extend(escpos::dle_eot(n));
                            pending.push_back((n, None));
                        }
                        if !send(&mut wr, &req, write_timeout).await {
                            break;
                        }
                    }
                }
                e = effects.recv() => match e {
                    Ok(e @ Effect::PrintTicket { .. }) => {
                        let (Some(text), Some(p)) = (ticket_text(engine, cfg.qr.as_deref(), &e), Printing::of(&e)) else { continue };
                        tracing::info!(label = %text.label, "printing ticket");
                        if !send(&mut wr, &escpos::ticket(&text), write_timeout).await {
                            void(engine, &p, "writing to the printer failed").await;
                            break;
                        }
                        // Paper may have run out with this ticket: ask at once.
                        // The reply to the last request confirms the print.
                        let mut req = Vec::new();
                        for n in [2u8, 4] {
                            req.extend(escpos::dle_eot(n));
                        }
                        pending.push_back((2, None));
                        pending.push_back((4, Some(p)));
                        if !send(&mut wr, &req, write_timeout).await {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "printer driver fell behind the engine");
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        engine_alive = false;
                        break;
                    }
                },
            }
        }
    }
    reader.abort();
    // The port failed before these prints were confirmed.
    for (_, p) in pending.drain(..) {
        if let Some(p) = p {
            void(engine, &p, "the printer port failed").await;
        }
    }
    if parser.garbage > 0 {
        tracing::debug!(
            bytes = parser.garbage,
            "unexpected bytes from the printer were dropped"
        );
    }
    engine_alive
}

async fn send<W: tokio::io::AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8], limit: Duration) -> bool {
    matches!(
        timeout(limit, async {
            wr.write_all(bytes).await?;
            wr.flush().await
        })
        .await,
        Ok(Ok(()))
    )
}

/// For `hallqctl`: print a test ticket on a printer and read its state.
pub async fn test_ticket(cfg: &PrinterConfig, hall_name: &str) -> Result<PrinterStatus, DeviceError> {
    let port = open_port(&cfg.port, cfg.baud)?;
    let (mut rd, mut wr) = tokio::io::split(port);
    let text = TicketText {
        hall_name: hall_name.to_string(),
        label: "T000".into(),
        queue_name: "打印测试 test ticket".into(),
        class_note: String::new(),
        ahead: 0,
        wait_minutes: 0,
        issued: chrono::Local::now().format("%Y-%m-%d %H:%M").to_string(),
        qr: cfg.qr.clone(),
        phone: String::new(),
    };
    let mut job = escpos::ticket(&text);
    for n in 1..=4 {
        job.extend(escpos::dle_eot(n));
    }
    if !send(&mut wr, &job, cfg.reply_timeout.max(Duration::from_secs(2))).await {
        return Err(DeviceError::Timeout(format!("writing to {}", cfg.port)));
    }
    let mut parser = StatusParser::default();
    let mut msgs = Vec::new();
    let mut status = PrinterStatus::default();
    let mut n = 1u8;
    let deadline = Instant::now() + cfg.reply_timeout.max(Duration::from_secs(2));
    let mut buf = [0u8; 64];
    while n <= 4 {
        let got = tokio::time::timeout_at(deadline, rd.read(&mut buf))
            .await
            .map_err(|_| DeviceError::Timeout(format!("no status reply from {}", cfg.port)))??;
        if got == 0 {
            return Err(DeviceError::Timeout(format!("{} closed", cfg.port)));
        }
        parser.push(&buf[..got], &mut msgs);
        for m in msgs.drain(..) {
            if let StatusMsg::RealTime(b) = m {
                escpos::apply_real_time(&mut status, n, b);
                n += 1;
            }
        }
    }
    Ok(status)
}
