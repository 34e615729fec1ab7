//! The ticket kiosk (取号机): one button per queue, a 绿色通道 priority button
//! and an appointment check-in button, each with a lamp.
//!
//! The pins sit behind [`Pins`] (GPIO character device, rppal, or simulated);
//! the logic here is the same for all: a software debounce filter on top of
//! the kernel's, and a per-button lockout so that one press gives one ticket
//! (the button must be released, and the lockout over, before it counts
//! again). Lamps follow the engine's `KioskLamps` effect: a lamp is lit only
//! when pressing its button would issue a ticket.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};

use super::DeviceError;
use crate::domain::{Command, TicketClass};
use crate::engine::{Effect, EngineError, EngineHandle};

/// One kiosk button and its lamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// The queue a press issues a ticket in.
    pub queue: String,
    pub class: TicketClass,
    /// Input line (GPIO offset on the chip, BCM number on a Pi).
    pub input: u32,
    /// Output line of the lamp, if it has one.
    pub lamp: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskConfig {
    pub buttons: Vec<Button>,
    /// A press counts once the input has been steady this long.
    pub debounce: Duration,
    /// After a ticket, the same button is ignored this long (and until released).
    pub lockout: Duration,
}

/// A change on a button input, as the pins saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub button: usize,
    pub pressed: bool,
    pub at: Instant,
}

/// The kiosk's pins: button inputs and lamp outputs.
pub trait Pins: Send + 'static {
    /// Start reporting the button inputs' edges to `tx` (from a thread or
    /// interrupt handler of the backend's own).
    fn watch(&mut self, tx: mpsc::UnboundedSender<Edge>) -> Result<(), DeviceError>;
    /// Light or darken the lamp of button `index` (no-op without a lamp).
    fn set_lamp(&mut self, index: usize, lit: bool) -> Result<(), DeviceError>;
    /// After `watch`: whether the button inputs can be read now (false while
    /// the backend has lost them and retries). `None`: they are never lost.
    fn health(&mut self) -> Option<watch::Receiver<bool>> {
        None
    }
}

/// The device name the kiosk is reported under (`DeviceOffline`/`DeviceOnline`).
pub const DEVICE: &str = "kiosk";

/// Report the kiosk off line while its inputs cannot be read, and on line
/// again when they can (the current state first, so a restart clears an old
/// report).
fn report_health(engine: EngineHandle, mut health: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            let online = *health.borrow_and_update();
            let cmd = Command::ReportDevice {
                device: DEVICE.into(),
                online,
            };
            match engine.execute(cmd).await {
                Ok(_) => {}
                Err(EngineError::Stopped) => return,
                Err(e) => tracing::error!(error = %e, online, "could not record the kiosk's state"),
            }
            if health.changed().await.is_err() {
                return;
            }
        }
    });
}

#[derive(Debug, Clone, Copy)]
struct ButtonState {
    pressed: bool,
    since: Instant,
    /// Released since the last accepted press.
    released: bool,
    locked_until: Instant,
}

/// Debounce and lockout for every button. Pure: the time is an argument.
#[derive(Debug, Clone)]
pub struct ButtonFilter {
    debounce: Duration,
    lockout: Duration,
    buttons: Vec<ButtonState>,
}

impl ButtonFilter {
    pub fn new(count: usize, debounce: Duration, lockout: Duration, now: Instant) -> ButtonFilter {
        ButtonFilter {
            debounce,
            lockout,
            buttons: vec![
                ButtonState {
                    pressed: false,
                    since: now,
                    released: true,
                    locked_until: now,
                };
                count
            ],
        }
    }

    pub fn edge(&mut self, e: Edge) {
        if let Some(b) = self.buttons.get_mut(e.button) {
            if b.pressed != e.pressed {
                b.pressed = e.pressed;
                b.since = e.at;
            }
            if !e.pressed {
                b.released = true;
            }
        }
    }

    /// Presses that count at `now`; each is counted once.
    pub fn due(&mut self, now: Instant) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, b) in self.buttons.iter_mut().enumerate() {
            if b.pressed && b.released && now >= b.since + self.debounce && now >= b.locked_until {
                b.released = false;
                b.locked_until = now + self.lockout;
                out.push(i);
            }
        }
        out
    }

    /// When a held button may next count.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.buttons
            .iter()
            .filter(|b| b.pressed && b.released)
            .map(|b| (b.since + self.debounce).max(b.locked_until))
            .min()
    }
}

/// What the kiosk driver has done, for status pages and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KioskStatus {
    pub lamps: Vec<bool>,
    pub presses: u64,
    pub issued: u64,
    pub refused: u64,
}

/// Start the kiosk driver on `pins`.
pub fn spawn(
    engine: EngineHandle,
    cfg: KioskConfig,
    mut pins: Box<dyn Pins>,
) -> Result<(Arc<Mutex<KioskStatus>>, tokio::task::JoinHandle<()>), DeviceError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    pins.watch(tx)?;
    if let Some(health) = pins.health() {
        report_health(engine.clone(), health);
    }
    let mut effects = engine.subscribe();
    let status = Arc::new(Mutex::new(KioskStatus {
        lamps: vec![false; cfg.buttons.len()],
        ..Default::default()
    }));
    for i in 0..cfg.buttons.len() {
        pins.set_lamp(i, false)?;
    }
    let shared = status.clone();
    let task = tokio::spawn(async move {
        let mut filter = ButtonFilter::new(cfg.buttons.len(), cfg.debounce, cfg.lockout, Instant::now());
        if let Err(e) = engine.republish() {
            tracing::warn!(error = %e, "could not ask the engine for the kiosk lamps");
        }
        loop {
            let wake = filter
                .next_deadline()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => filter.edge(e),
                    None => {
                        tracing::error!("the kiosk's button inputs stopped; kiosk driver ends");
                        return;
                    }
                },
                _ = tokio::time::sleep_until(wake) => {}
                e = effects.recv() => match e {
                    Ok(Effect::KioskLamps { lamps }) => set_lamps(&cfg, &mut *pins, &lamps, &shared),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => { let _ = engine.republish(); }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
            for i in filter.due(Instant::now()) {
                let b = &cfg.buttons[i];
                if let Ok(mut s) = shared.lock() {
                    s.presses += 1;
                }
                let cmd = Command::IssueTicket {
                    queue: b.queue.clone(),
                    class: b.class,
                };
                match engine.execute(cmd).await {
                    Ok(_) => {
                        if let Ok(mut s) = shared.lock() {
                            s.issued += 1;
                        }
                    }
                    Err(EngineError::Stopped) => return,
                    Err(e) => {
                        tracing::info!(queue = %b.queue, error = %e, "kiosk press gave no ticket");
                        if let Ok(mut s) = shared.lock() {
                            s.refused += 1;
                        }
                    }
                }
            }
        }
    });
    Ok((status, task))
}

fn set_lamps(
    cfg: &KioskConfig,
    pins: &mut dyn Pins,
    lamps: &BTreeMap<String, bool>,
    status: &Mutex<KioskStatus>,
) {
    for (i, b) in cfg.buttons.iter().enumerate() {
        let lit = lamps.get(&b.queue).copied().unwrap_or(false);
        if let Err(e) = pins.set_lamp(i, lit) {
            tracing::error!(error = %e, button = i, "kiosk lamp could not be set");
        }
        if let Ok(mut s) = status.lock() {
            if let Some(l) = s.lamps.get_mut(i) {
                *l = lit;
            }
        }
    }
}

// ----- simulated pins ----------------------------------------------------------

/// Simulated pins: a [`Panel`] presses the buttons and sees the lamps.
pub struct SimPins {
    panel: Panel,
}

/// The front of the simulated kiosk.
#[derive(Clone)]
pub struct Panel {
    tx: Arc<Mutex<Option<mpsc::UnboundedSender<Edge>>>>,
    lamps: Arc<Mutex<Vec<bool>>>,
    inputs_ok: Arc<watch::Sender<bool>>,
}

impl SimPins {
    pub fn new(buttons: usize) -> (SimPins, Panel) {
        let panel = Panel {
            tx: Arc::new(Mutex::new(None)),
            lamps: Arc::new(Mutex::new(vec![false; buttons])),
            inputs_ok: Arc::new(watch::channel(true).0),
        };
        (SimPins { panel: panel.clone() }, panel)
    }
}

impl Pins for SimPins {
    fn watch(&mut self, tx: mpsc::UnboundedSender<Edge>) -> Result<(), DeviceError> {
        *self
            .panel
            .tx
            .lock()
            .map_err(|_| DeviceError::Gpio("poisoned".into()))? = Some(tx);
        Ok(())
    }

    fn set_lamp(&mut self, index: usize, lit: bool) -> Result<(), DeviceError> {
        let mut l = self
            .panel
            .lamps
            .lock()
            .map_err(|_| DeviceError::Gpio("poisoned".into()))?;
        match l.get_mut(index) {
            Some(x) => {
                *x = lit;
                Ok(())
            }
            None => Err(DeviceError::Gpio(format!("no lamp {index}"))),
        }
    }

    fn health(&mut self) -> Option<watch::Receiver<bool>> {
        Some(self.panel.inputs_ok.subscribe())
    }
}

impl Panel {
    fn send(&self, button: usize, pressed: bool) {
        if let Ok(g) = self.tx.lock() {
            if let Some(tx) = g.as_ref() {
                let _ = tx.send(Edge {
                    button,
                    pressed,
                    at: Instant::now(),
                });
            }
        }
    }

    /// The contact closes.
    pub fn down(&self, button: usize) {
        self.send(button, true);
    }

    /// The contact opens.
    pub fn up(&self, button: usize) {
        self.send(button, false);
    }

    /// A bouncing contact: `n` quick open/close changes, ending closed.
    pub fn bounce(&self, button: usize, n: usize) {
        for _ in 0..n {
            self.down(button);
            self.up(button);
        }
        self.down(button);
    }

    /// The button inputs fail (as a GPIO chip that went away), or work again.
    pub fn set_inputs_ok(&self, ok: bool) {
        self.inputs_ok.send_replace(ok);
    }

    pub fn lamps(&self) -> Vec<bool> {
        self.lamps.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn one_press_gives_one_ticket_however_it_bounces_or_is_held() {
        let t0 = Instant::now();
        let mut f = ButtonFilter::new(2, ms(30), ms(1500), t0);
        let e = |button, pressed, at: u64| Edge {
            button,
            pressed,
            at: t0 + ms(at),
        };
        // contact bounce: closed/open for a few ms, then closed
        for (i, p) in [true, false, true, false, true].into_iter().enumerate() {
            f.edge(e(0, p, i as u64 * 2));
        }
        assert!(f.due(t0 + ms(20)).is_empty(), "not yet steady for 30 ms");
        assert_eq!(f.next_deadline(), Some(t0 + ms(38)));
        assert_eq!(f.due(t0 + ms(38)), vec![0]);
        // held down for a long time: still one ticket
        assert!(f.due(t0 + ms(5000)).is_empty());
        // released and pressed again after the lockout: a new ticket
        f.edge(e(0, false, 5100));
        f.edge(e(0, true, 5110));
        assert_eq!(f.due(t0 + ms(5200)), vec![0]);
        // the other button is independent
        f.edge(e(1, true, 100));
        assert_eq!(f.due(t0 + ms(130)), vec![1]);
        // a glitch shorter than the debounce never counts
        let mut g = ButtonFilter::new(1, ms(30), ms(1500), t0);
        g.edge(e(0, true, 0));
        g.edge(e(0, false, 10));
        assert!(g.due(t0 + ms(100)).is_empty());
        assert_eq!(g.next_deadline(), None);
    }

    #[test]
    fn a_second_press_counts_only_after_release_and_lockout() {
        let t0 = Instant::now();
        let mut f = ButtonFilter::new(1, ms(30), ms(1000), t0);
        let e = |pressed, at: u64| Edge {
            button: 0,
            pressed,
            at: t0 + ms(at),
        };
        f.edge(e(true, 0));
        assert_eq!(f.due(t0 + ms(30)), vec![0]);
        f.edge(e(false, 200));
        f.edge(e(true, 400));
        assert!(f.due(t0 + ms(500)).is_empty(), "inside the lockout");
        assert_eq!(f.next_deadline(), Some(t0 + ms(1030)));
        assert_eq!(
            f.due(t0 + ms(1030)),
            vec![0],
            "a deliberate second press after the lockout"
        );
    }
}
