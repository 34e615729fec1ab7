//! The engine: the single owner of hall state.
//!
//! It runs on its own thread. Devices and the API send it [`Command`]s; for
//! each it applies the pure rules, commits the state change and its events in
//! one SQLite transaction, and only then publishes [`Effect`]s (print, show,
//! announce, light the rating keys). When nothing is due it sleeps until the
//! next deadline (a rating window or a postponed ticket expiring): an idle hall
//! costs no CPU.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot, watch};

use crate::domain::setup::OpenState;
use crate::domain::view::{HallView, WindowView};
use crate::domain::{
    BundleError, Command, ConfigBundle, DomainError, Event, Hall, HallSetup, Ticket, WindowNo,
};
use crate::store::{Store, StoreError};

/// Where the engine gets the time. Tests substitute their own.
pub trait Clock: Send + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What devices must do after a committed change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Print this ticket at the kiosk.
    PrintTicket {
        ticket: Ticket,
        queue_name: String,
        ahead: u32,
        estimated_wait_s: u64,
    },
    /// Update a counter display (窗口屏).
    ShowOnCounter { window: WindowView },
    /// Voice call: 请 {label} 号到 {window} 号窗口办理.
    Announce { label: String, window: WindowNo },
    /// Light or darken a window's rating keypad (服务评价器).
    RatingKeys { window: WindowNo, lit: bool },
    /// The waiting-hall display should redraw.
    RedrawHall,
    /// The kiosk lamps, per queue prefix: lit when pressing would issue a
    /// ticket (dark outside hours, when the queue is full, when the printer
    /// cannot print). Sent whenever one changes, and on `republish`.
    KioskLamps { lamps: BTreeMap<String, bool> },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// A configuration bundle was refused whole; the old configuration stays.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("the hall database failed, nothing was recorded: {0}")]
    Storage(#[from] StoreError),
    #[error("the engine is busy: try again")]
    Busy,
    #[error("the engine has stopped")]
    Stopped,
}

/// The result of a command that was carried out.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    /// Sequence number of the last event committed (0 if the command changed nothing).
    pub seq: i64,
    /// The events the command caused, in order (after any expiries that fell due first).
    pub events: Vec<Event>,
    /// The window the command was for, as it is now.
    pub window: Option<WindowView>,
}

enum Request {
    Command {
        cmd: Command,
        reply: oneshot::Sender<Result<Done, EngineError>>,
    },
    View {
        reply: oneshot::Sender<HallView>,
    },
    Republish,
    ApplyBundle {
        bundle: Box<ConfigBundle>,
        reply: oneshot::Sender<Result<Done, EngineError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable handle to the running engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: Sender<Request>,
    effects: broadcast::Sender<Effect>,
    /// The setup at start. Bundles from the centre may change the catalogue,
    /// calendar, notices and staff list since: see [`EngineHandle::current_setup`].
    pub setup: Arc<HallSetup>,
    current: Arc<RwLock<Arc<HallSetup>>>,
    committed: watch::Receiver<i64>,
}

/// Commands queued before the API answers "busy".
const QUEUE_DEPTH: usize = 1024;

impl EngineHandle {
    pub async fn execute(&self, cmd: Command) -> Result<Done, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Command { cmd, reply })?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Blocking form, for code outside the async runtime (benches, CLI tools).
    pub fn execute_blocking(&self, cmd: Command) -> Result<Done, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Command { cmd, reply })?;
        rx.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    pub async fn view(&self) -> Result<HallView, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::View { reply })?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Publish the current state of every device again (kiosk lamps, every
    /// counter display, every rating keypad): for drivers that just started
    /// or whose device came back.
    pub fn republish(&self) -> Result<(), EngineError> {
        self.send(Request::Republish)
    }

    /// Snapshot the state and stop the engine thread.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Request::Shutdown { reply }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Put a configuration bundle from the centre in force, through the engine
    /// like any other change: checked whole, recorded as an event, or refused.
    pub async fn apply_bundle(&self, bundle: ConfigBundle) -> Result<Done, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::ApplyBundle {
            bundle: Box::new(bundle),
            reply,
        })?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// The setup in force now (the start-up setup with the centre's bundles applied).
    pub fn current_setup(&self) -> Arc<HallSetup> {
        self.current
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The sequence number of the last committed event, updated after each
    /// commit (the sync task waits on it instead of polling the database).
    pub fn committed(&self) -> watch::Receiver<i64> {
        self.committed.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Effect> {
        self.effects.subscribe()
    }

    fn send(&self, req: Request) -> Result<(), EngineError> {
        self.tx.try_send(req).map_err(|e| match e {
            TrySendError::Full(_) => EngineError::Busy,
            TrySendError::Disconnected(_) => EngineError::Stopped,
        })
    }
}

pub struct Engine {
    hall: Hall,
    store: Store,
    clock: Box<dyn Clock>,
    effects: broadcast::Sender<Effect>,
    /// Never let time run backwards in the log, whatever the wall clock does.
    last_now: DateTime<Utc>,
    /// The kiosk lamps last published.
    lamps: BTreeMap<String, bool>,
    current: Arc<RwLock<Arc<HallSetup>>>,
    committed: watch::Sender<i64>,
}

impl Engine {
    /// Rebuild the hall from the store: the last snapshot plus the events after it.
    pub fn open(
        setup: Arc<HallSetup>,
        mut store: Store,
        clock: Box<dyn Clock>,
    ) -> Result<Engine, StoreError> {
        let loaded = store.load()?;
        let replayed = loaded.tail.len();
        // The centre's bundles in force at the last run, over the configured setup.
        let setup = match store.bundle()? {
            Some(b) if b.version > setup.bundle_version => match b.apply_to(&setup) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::error!(error = %e, "the stored bundle no longer applies; using the configured setup");
                    setup
                }
            },
            _ => setup,
        };
        let mut hall = match loaded.state {
            Some(state) => Hall::with_state(setup, state),
            None => Hall::new(setup),
        };
        for rec in &loaded.tail {
            hall.apply(rec.at, &rec.event);
        }
        // A board whose clock comes back early after a power cut must not
        // number tickets under a day that has passed.
        let last_now = store.last_event_at()?.unwrap_or(DateTime::<Utc>::MIN_UTC);
        if replayed > 0 {
            store.snapshot(&hall.state)?;
        }
        tracing::info!(
            last_seq = loaded.last_seq,
            replayed,
            live_tickets = hall.state.tickets.len(),
            "hall rebuilt from the database"
        );
        let (effects, _) = broadcast::channel(1024);
        let current = Arc::new(RwLock::new(hall.setup.clone()));
        let (committed, _) = watch::channel(loaded.last_seq);
        Ok(Engine {
            hall,
            store,
            clock,
            effects,
            last_now,
            lamps: BTreeMap::new(),
            current,
            committed,
        })
    }

    pub fn hall(&self) -> &Hall {
        &self.hall
    }

    /// The time, to the millisecond (what the log keeps, so a replay is
    /// exact), never earlier than the last committed event.
    fn now(&mut self) -> DateTime<Utc> {
        let now = self.clock.now().trunc_subsecs(3).max(self.last_now);
        self.last_now = now;
        now
    }

    /// Carry out one command: rules, commit, then effects.
    pub fn execute(&mut self, cmd: &Command) -> Result<Done, EngineError> {
        let now = self.now();
        let mut events = self.hall.sweep(now);
        let refused = match self.hall.handle(cmd, now) {
            Ok(more) => {
                events.extend(more);
                None
            }
            Err(e) => Some(e),
        };
        let seq = self.commit(now, &events)?;
        self.refresh_lamps(now);
        if let Some(e) = refused {
            return Err(e.into());
        }
        Ok(Done {
            seq,
            events,
            window: cmd.window().and_then(|w| self.hall.window_view(w)),
        })
    }

    /// Check and put in force a configuration bundle from the centre.
    pub fn apply_bundle(&mut self, bundle: &ConfigBundle) -> Result<Done, EngineError> {
        let now = self.now();
        let mut events = self.hall.sweep(now);
        let refused = match self.hall.apply_bundle(bundle, now) {
            Ok(more) => {
                events.extend(more);
                None
            }
            Err(e) => Some(e),
        };
        let seq = self.commit(now, &events)?;
        if let Some(e) = refused {
            tracing::warn!(error = %e, "configuration bundle refused; the old configuration stays");
            return Err(e.into());
        }
        tracing::info!(version = bundle.version, "configuration bundle in force");
        Ok(Done {
            seq,
            events,
            window: None,
        })
    }

    /// Expire what is due (rating windows, postponed tickets).
    pub fn tick(&mut self) -> Result<(), EngineError> {
        let now = self.now();
        let events = self.hall.sweep(now);
        self.commit(now, &events)?;
        self.refresh_lamps(now);
        Ok(())
    }

    /// Publish the kiosk lamps if any changed.
    fn refresh_lamps(&mut self, now: DateTime<Utc>) {
        let lamps = self.hall.kiosk_lamps(now);
        if lamps != self.lamps {
            self.lamps = lamps.clone();
            let _ = self.effects.send(Effect::KioskLamps { lamps });
        }
    }

    /// Publish every device's current state again.
    fn republish(&mut self) {
        let now = self.now();
        self.lamps = self.hall.kiosk_lamps(now);
        let _ = self.effects.send(Effect::KioskLamps {
            lamps: self.lamps.clone(),
        });
        for w in &self.hall.setup.windows {
            if let Some(window) = self.hall.window_view(w.number) {
                let _ = self.effects.send(Effect::ShowOnCounter { window });
            }
            let lit = self.hall.state.ratings.contains_key(&w.number);
            let _ = self.effects.send(Effect::RatingKeys {
                window: w.number,
                lit,
            });
        }
    }

    /// When the hall next opens or closes: the kiosk lamps change then.
    fn next_hours_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.hall.setup.open_state(now) {
            OpenState::Open { closes_at } => Some(closes_at),
            OpenState::Closed { next_open } => next_open,
        }
    }

    fn commit(&mut self, now: DateTime<Utc>, events: &[Event]) -> Result<i64, EngineError> {
        if events.is_empty() {
            return Ok(0);
        }
        match self.store.commit(now, events, &self.hall.state) {
            Ok(seq) => {
                if events.iter().any(|e| matches!(e, Event::BundleApplied { .. })) {
                    if let Ok(mut cur) = self.current.write() {
                        *cur = self.hall.setup.clone();
                    }
                }
                self.committed.send_replace(seq);
                for e in events {
                    self.publish(e);
                }
                Ok(seq)
            }
            Err(err) => {
                // Memory ran ahead of the disk: go back to what the disk holds.
                tracing::error!(error = %err, "commit failed; rebuilding the hall from the database");
                if let Ok(loaded) = self.store.load() {
                    let setup = self
                        .current
                        .read()
                        .map(|s| s.clone())
                        .unwrap_or_else(|p| p.into_inner().clone());
                    let mut hall = match loaded.state {
                        Some(s) => Hall::with_state(setup, s),
                        None => Hall::new(setup),
                    };
                    for rec in &loaded.tail {
                        hall.apply(rec.at, &rec.event);
                    }
                    self.hall = hall;
                }
                Err(err.into())
            }
        }
    }

    fn publish(&self, event: &Event) {
        let show = |w: WindowNo| {
            self.hall
                .window_view(w)
                .map(|window| Effect::ShowOnCounter { window })
        };
        let mut out: Vec<Effect> = Vec::with_capacity(3);
        match event {
            Event::TicketIssued {
                ticket,
                ahead,
                estimated_wait_s,
            } => {
                out.push(Effect::PrintTicket {
                    queue_name: self
                        .hall
                        .setup
                        .queue(&ticket.origin_queue)
                        .map(|q| q.name.clone())
                        .unwrap_or_default(),
                    ticket: ticket.clone(),
                    ahead: *ahead,
                    estimated_wait_s: *estimated_wait_s,
                });
                out.push(Effect::RedrawHall);
            }
            Event::TicketCalled { label, window, .. } | Event::TicketRecalled { label, window, .. } => {
                out.push(Effect::Announce {
                    label: label.clone(),
                    window: *window,
                });
                out.extend(show(*window));
                out.push(Effect::RedrawHall);
            }
            Event::TicketSkipped { window, .. } => {
                out.extend(show(*window));
                out.push(Effect::RedrawHall);
            }
            Event::TicketTransferred { from_window, .. } => {
                out.extend(show(*from_window));
                out.push(Effect::RedrawHall);
            }
            // The kiosk lamps are refreshed after every command.
            Event::TicketExpired { .. } | Event::TicketVoided { .. } => out.push(Effect::RedrawHall),
            Event::StaffLoggedIn { window, .. }
            | Event::StaffLoggedOut { window, .. }
            | Event::WindowPaused { window, .. }
            | Event::WindowResumed { window } => {
                out.extend(show(*window));
                out.push(Effect::RedrawHall);
            }
            Event::TransactionRecorded { transaction, .. } => {
                out.extend(show(transaction.window));
                out.push(Effect::RatingKeys {
                    window: transaction.window,
                    lit: true,
                });
                out.push(Effect::RedrawHall);
            }
            Event::Rated { window, .. } | Event::Unrated { window, .. } => {
                // Another transaction may already hold the keypad.
                let lit = self.hall.state.ratings.contains_key(window);
                out.push(Effect::RatingKeys { window: *window, lit });
            }
            Event::StrayPress { .. }
            | Event::PrinterChanged { .. }
            | Event::DeviceOffline { .. }
            | Event::DeviceOnline { .. } => {}
            Event::BundleApplied { .. } | Event::QueuePaused { .. } | Event::QueueResumed { .. } => {
                out.push(Effect::RedrawHall)
            }
        }
        for e in out {
            // No subscriber is fine: devices may not be attached.
            let _ = self.effects.send(e);
        }
    }

    /// Run on a thread of its own; returns the handle and the thread.
    pub fn spawn(self) -> (EngineHandle, JoinHandle<()>) {
        let (tx, rx) = bounded(QUEUE_DEPTH);
        let handle = EngineHandle {
            tx,
            effects: self.effects.clone(),
            setup: self.hall.setup.clone(),
            current: self.current.clone(),
            committed: self.committed.subscribe(),
        };
        let thread = std::thread::Builder::new()
            .name("hallq-engine".into())
            .spawn(move || self.run(rx))
            .expect("spawning the engine thread");
        (handle, thread)
    }

    fn run(mut self, rx: Receiver<Request>) {
        loop {
            let now = self.clock.now();
            let due = match (self.hall.next_deadline(), self.next_hours_change(now)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let req = match due {
                Some(due) => {
                    let wait = (due - now).to_std().unwrap_or(StdDuration::ZERO);
                    // Wake a little after the deadline so it has surely passed.
                    match rx.recv_deadline(Instant::now() + wait + StdDuration::from_millis(5)) {
                        Ok(r) => r,
                        Err(RecvTimeoutError::Timeout) => {
                            if let Err(e) = self.tick() {
                                tracing::error!(error = %e, "expiry failed");
                                std::thread::sleep(StdDuration::from_secs(1));
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            match req {
                Request::Command { cmd, reply } => {
                    let result = self.execute(&cmd);
                    if let Err(EngineError::Refused(e)) = &result {
                        tracing::debug!(?cmd, error = %e, "command refused");
                    }
                    let _ = reply.send(result);
                }
                Request::ApplyBundle { bundle, reply } => {
                    let _ = reply.send(self.apply_bundle(&bundle));
                }
                Request::View { reply } => {
                    let now = self.now();
                    let _ = reply.send(self.hall.view(now));
                }
                Request::Republish => self.republish(),
                Request::Shutdown { reply } => {
                    if let Err(e) = self.store.snapshot(&self.hall.state) {
                        tracing::error!(error = %e, "final snapshot failed; the next start replays the log");
                    }
                    let _ = reply.send(());
                    break;
                }
            }
        }
        tracing::info!("engine stopped");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::Duration;

    use super::*;
    use crate::domain::testkit::{local, setup, shared};
    use crate::domain::{OutcomeInput, TicketClass};

    #[derive(Clone)]
    struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn engine(path: &std::path::Path, clock: &ManualClock) -> Engine {
        let store = Store::open(path, "test").unwrap();
        Engine::open(shared(setup()), store, Box::new(clock.clone())).unwrap()
    }

    #[test]
    fn effects_follow_the_commit_and_restarts_resume_the_hall() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hall.db");
        let clock = ManualClock(Arc::new(Mutex::new(local(2026, 12, 4, 9, 0))));
        let mut e = engine(&db, &clock);
        let mut rx = e.effects.subscribe();
        e.execute(&Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .unwrap();
        // the effect is only out once the row is durable: a second connection sees it
        assert!(matches!(rx.try_recv().unwrap(), Effect::PrintTicket { .. }));
        let other = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = other
            .query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        e.execute(&Command::Login {
            window: 2,
            staff: "S1".into(),
        })
        .unwrap();
        e.execute(&Command::CallNext { window: 2 }).unwrap();
        let before = e.hall().state.clone();
        drop(e); // no shutdown snapshot: as after a power cut
        let e = engine(&db, &clock);
        assert_eq!(e.hall().state, before);
    }

    #[test]
    fn a_refused_command_records_nothing_and_expiries_are_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hall.db");
        let clock = ManualClock(Arc::new(Mutex::new(local(2026, 12, 4, 9, 0))));
        let mut e = engine(&db, &clock);
        let err = e.execute(&Command::CallNext { window: 2 }).unwrap_err();
        assert!(matches!(err, EngineError::Refused(_)));
        e.execute(&Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .unwrap();
        e.execute(&Command::Login {
            window: 2,
            staff: "S1".into(),
        })
        .unwrap();
        e.execute(&Command::CallNext { window: 2 }).unwrap();
        e.execute(&Command::Finish {
            window: 2,
            items: vec![1],
            outcome: OutcomeInput::Done,
        })
        .unwrap();
        assert!(e.hall().next_deadline().is_some());
        *clock.0.lock().unwrap() += Duration::seconds(31);
        e.tick().unwrap();
        let other = rusqlite::Connection::open(&db).unwrap();
        let unrated: i64 = other
            .query_row("SELECT COUNT(*) FROM ratings WHERE key IS NULL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(unrated, 1);
        let events: i64 = other
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 5);
    }

    #[test]
    fn kiosk_lamps_follow_the_printer_and_are_sent_only_on_change() {
        use crate::domain::PrinterStatus;
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock(Arc::new(Mutex::new(local(2026, 12, 4, 9, 0))));
        let mut e = engine(&dir.path().join("hall.db"), &clock);
        let mut rx = e.effects.subscribe();
        let lamps = |rx: &mut broadcast::Receiver<Effect>| -> Vec<BTreeMap<String, bool>> {
            let mut out = Vec::new();
            while let Ok(effect) = rx.try_recv() {
                if let Effect::KioskLamps { lamps } = effect {
                    out.push(lamps);
                }
            }
            out
        };
        e.tick().unwrap();
        let first = lamps(&mut rx);
        assert_eq!(first.len(), 1);
        assert!(first[0].values().all(|l| *l), "open, printer ready: lit");
        let out = PrinterStatus {
            paper_out: true,
            ..Default::default()
        };
        e.execute(&Command::ReportPrinter { status: out }).unwrap();
        let dark = lamps(&mut rx);
        assert_eq!(dark.len(), 1);
        assert!(dark[0].values().all(|l| !*l));
        // nothing changed: nothing sent
        e.execute(&Command::ReportPrinter { status: out }).unwrap();
        assert!(lamps(&mut rx).is_empty());
        e.execute(&Command::ReportPrinter {
            status: PrinterStatus::default(),
        })
        .unwrap();
        assert!(lamps(&mut rx)[0].values().all(|l| *l));
        // closing time darkens them without any command
        *clock.0.lock().unwrap() = local(2026, 12, 4, 17, 1);
        e.tick().unwrap();
        assert!(lamps(&mut rx)[0].values().all(|l| !*l));
    }

    #[test]
    fn time_never_runs_backwards_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock(Arc::new(Mutex::new(local(2026, 12, 4, 9, 0))));
        let mut e = engine(&dir.path().join("hall.db"), &clock);
        e.execute(&Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .unwrap();
        *clock.0.lock().unwrap() -= Duration::hours(1);
        e.execute(&Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .unwrap();
        let t: Vec<DateTime<Utc>> = e.hall().state.tickets.values().map(|t| t.issued_at).collect();
        assert!(t[1] >= t[0]);
    }

    #[test]
    fn a_clock_that_comes_back_early_after_a_restart_does_not_reopen_yesterday() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hall.db");
        let clock = ManualClock(Arc::new(Mutex::new(local(2026, 12, 4, 9, 0))));
        let mut e = engine(&db, &clock);
        e.execute(&Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .unwrap();
        e.store.snapshot(&e.hall.state).unwrap(); // as after a clean stop: nothing to replay
        drop(e);
        // the board boots with its clock a day behind
        *clock.0.lock().unwrap() = local(2026, 12, 3, 9, 0);
        let mut e = engine(&db, &clock);
        let done = e
            .execute(&Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Normal,
            })
            .unwrap();
        match &done.events[0] {
            Event::TicketIssued { ticket, .. } => {
                assert_eq!(ticket.label, "A002");
                assert_eq!(ticket.day, chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
}
