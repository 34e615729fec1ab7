//! Property tests over random sequences of issue / call / recall / skip /
//! transfer / pause / finish / rate / void / restart: no ticket lost or served twice,
//! two windows never share a ticket, numbers unique per queue per day, the
//! priority and anti-starvation rules hold, every rating links to exactly one
//! finished transaction, and a restart (replay of the log) changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;

use super::command::{Command, TicketRef};
use super::event::{Event, PauseKind, TransferTarget};
use super::hall::{Hall, HallState};
use super::policy::starving;
use super::testkit::{local, setup_always_open, shared};
use super::ticket::{Ticket, TicketClass, TicketId, TicketState};
use super::transaction::{OutcomeInput, TransactionId};

#[derive(Debug, Clone)]
enum Op {
    Issue(u8, u8),
    Login(u16, u8),
    Logout(u16),
    CallNext(u16),
    CallBack(u16, u8),
    Recall(u16),
    Skip(u16),
    TransferQueue(u16, u8),
    TransferWindow(u16, u16),
    Pause(u16, bool),
    Resume(u16),
    Finish(u16, u8),
    Rate(u16, u8),
    /// A key at the window that finished most recently (the usual case).
    RateLast(u8),
    Restart,
    Wait(u32),
    /// The printer reports: bit 0 paper out, bit 1 near end, bit 2 off line.
    Printer(u8),
    /// A bus device stops or starts answering.
    Device(u8, bool),
    /// The printer driver voids a live ticket whose print failed (作废);
    /// refused unless the ticket is waiting.
    Void(u8),
    /// The hall manager pauses or resumes a queue at the kiosk.
    QueuePause(u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let w = 1u16..=4;
    prop_oneof![
        6 => (0u8..3, 0u8..6).prop_map(|(q, c)| Op::Issue(q, c)),
        2 => (w.clone(), 0u8..5).prop_map(|(w, s)| Op::Login(w, s)),
        1 => w.clone().prop_map(Op::Logout),
        8 => w.clone().prop_map(Op::CallNext),
        1 => (w.clone(), any::<u8>()).prop_map(|(w, i)| Op::CallBack(w, i)),
        1 => w.clone().prop_map(Op::Recall),
        2 => w.clone().prop_map(Op::Skip),
        1 => (w.clone(), 0u8..3).prop_map(|(w, q)| Op::TransferQueue(w, q)),
        1 => (w.clone(), 1u16..=4).prop_map(|(a, b)| Op::TransferWindow(a, b)),
        1 => (w.clone(), any::<bool>()).prop_map(|(w, p)| Op::Pause(w, p)),
        1 => w.clone().prop_map(Op::Resume),
        6 => (w.clone(), 0u8..5).prop_map(|(w, o)| Op::Finish(w, o)),
        2 => (w.clone(), 0u8..4).prop_map(|(w, k)| Op::Rate(w, k)),
        4 => (1u8..4).prop_map(Op::RateLast),
        1 => Just(Op::Restart),
        // mostly a ready printer, so issuing is not starved for long
        1 => (0u8..12).prop_map(|b| Op::Printer(if b < 6 { b } else { 0 })),
        1 => (1u8..4, any::<bool>()).prop_map(|(d, on)| Op::Device(d, on)),
        1 => any::<u8>().prop_map(Op::Void),
        1 => (0u8..3, any::<bool>()).prop_map(|(q, p)| Op::QueuePause(q, p)),
        3 => (1u32..2400).prop_map(Op::Wait),
    ]
}

const QUEUES: [&str; 3] = ["A", "B", "C"];

/// What the test knows independently of the hall.
#[derive(Default)]
struct Ledger {
    issued: BTreeMap<TicketId, (String, NaiveDate, u32)>,
    numbers: BTreeSet<(String, NaiveDate, u32)>,
    finished: BTreeMap<TicketId, TransactionId>,
    transactions: BTreeMap<TransactionId, TicketId>,
    expired: BTreeSet<TicketId>,
    voided: BTreeSet<TicketId>,
    rating_closed: BTreeSet<TransactionId>,
    /// The transaction whose rating window each counter holds, per the events.
    open_rating: BTreeMap<u16, TransactionId>,
}

struct Run {
    hall: Hall,
    log: Vec<(DateTime<Utc>, Event)>,
    ledger: Ledger,
    now: DateTime<Utc>,
}

impl Run {
    fn command(&self, op: &Op) -> Option<Command> {
        Some(match *op {
            Op::Issue(q, c) => Command::IssueTicket {
                queue: QUEUES[q as usize].into(),
                class: match c {
                    0 => TicketClass::Priority,
                    1 => TicketClass::Appointment,
                    _ => TicketClass::Normal,
                },
            },
            Op::Login(w, s) => Command::Login {
                window: w,
                staff: format!("S{s}"),
            },
            Op::Logout(w) => Command::Logout { window: w },
            Op::CallNext(w) => Command::CallNext { window: w },
            Op::CallBack(w, i) => {
                let live: Vec<&Ticket> = self.hall.state.tickets.values().collect();
                if live.is_empty() {
                    return None;
                }
                let t = live[i as usize % live.len()];
                Command::CallTicket {
                    window: w,
                    ticket: TicketRef::Label(t.label.clone()),
                }
            }
            Op::Recall(w) => Command::Recall { window: w },
            Op::Skip(w) => Command::Skip { window: w },
            Op::TransferQueue(w, q) => Command::Transfer {
                window: w,
                to: TransferTarget::Queue(QUEUES[q as usize].into()),
            },
            Op::TransferWindow(a, b) => Command::Transfer {
                window: a,
                to: TransferTarget::Window(b),
            },
            Op::Pause(w, p) => Command::Pause {
                window: w,
                kind: if p { PauseKind::Paused } else { PauseKind::Away },
            },
            Op::Resume(w) => Command::Resume { window: w },
            Op::Finish(w, o) => Command::Finish {
                window: w,
                items: vec![1 + u32::from(o) * 7],
                outcome: match o {
                    0 => OutcomeInput::Done,
                    1 => OutcomeInput::Accepted,
                    2 => OutcomeInput::Incomplete {
                        missing: vec!["身份证".into()],
                    },
                    3 => OutcomeInput::Referred { to: "银行".into() },
                    _ => OutcomeInput::Refused {
                        approval_id: "SUP-1".into(),
                        reason: "不符合条件".into(),
                    },
                },
            },
            Op::Rate(w, k) => Command::Rate { window: w, key: k },
            Op::RateLast(k) => {
                let w = self.log.iter().rev().find_map(|(_, e)| match e {
                    Event::TransactionRecorded { transaction, .. } => Some(transaction.window),
                    _ => None,
                })?;
                Command::Rate { window: w, key: k }
            }
            Op::Printer(bits) => Command::ReportPrinter {
                status: super::device::PrinterStatus {
                    paper_out: bits & 1 != 0,
                    paper_near_end: bits & 2 != 0,
                    offline: bits & 4 != 0,
                    ..Default::default()
                },
            },
            Op::Device(d, online) => Command::ReportDevice {
                device: format!("keypad@{d}"),
                online,
            },
            Op::Void(i) => {
                let live: Vec<&Ticket> = self.hall.state.tickets.values().collect();
                if live.is_empty() {
                    return None;
                }
                Command::VoidTicket {
                    ticket: live[i as usize % live.len()].id,
                    reason: "paper out".into(),
                }
            }
            Op::QueuePause(q, pause) => {
                let queue = QUEUES[q as usize].to_string();
                if pause {
                    Command::PauseQueue { queue }
                } else {
                    Command::ResumeQueue { queue }
                }
            }
            Op::Restart | Op::Wait(_) => return None,
        })
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Wait(s) => {
                self.now += Duration::seconds(i64::from(*s));
                return Ok(());
            }
            Op::Restart => return self.restart(),
            _ => {}
        }
        self.now += Duration::seconds(7);
        let Some(cmd) = self.command(op) else {
            return Ok(());
        };
        let swept = self.hall.sweep(self.now);
        self.record(&swept)?;
        let before: HallState = self.hall.state.clone();
        let printer_ready = self.hall.state.printer.ready();
        let result = self.hall.handle(&cmd, self.now);
        if let (Command::IssueTicket { .. }, false) = (&cmd, printer_ready) {
            prop_assert!(
                result.is_err(),
                "a ticket was issued while the printer could not print"
            );
        }
        if let Command::IssueTicket { queue, .. } = &cmd {
            if before.paused_queues.contains(queue) {
                prop_assert!(result.is_err(), "a ticket was issued in a paused queue");
            }
        }
        if let Command::VoidTicket { ticket, .. } = &cmd {
            let waiting = before.tickets.get(ticket).is_some_and(Ticket::is_waiting);
            prop_assert_eq!(result.is_ok(), waiting, "only a waiting ticket is voided");
        }
        match result {
            Ok(events) => {
                if let Command::CallNext { window } = cmd {
                    check_call_rule(&self.hall, &before, window, &events, self.now)?;
                }
                self.record(&events)?;
            }
            Err(_) => prop_assert_eq!(&self.hall.state, &before, "a refused command changed the hall"),
        }
        self.check_invariants()
    }

    fn record(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        let l = &mut self.ledger;
        for e in events {
            self.log.push((self.now, e.clone()));
            match e {
                Event::TicketIssued { ticket, .. } => {
                    prop_assert!(l
                        .issued
                        .insert(ticket.id, (ticket.label.clone(), ticket.day, ticket.number))
                        .is_none());
                    prop_assert!(
                        l.numbers
                            .insert((ticket.origin_queue.clone(), ticket.day, ticket.number)),
                        "number {} reused in queue {} on {}",
                        ticket.number,
                        ticket.origin_queue,
                        ticket.day
                    );
                }
                Event::TransactionRecorded { transaction, .. } => {
                    prop_assert!(l.issued.contains_key(&transaction.ticket));
                    prop_assert!(
                        l.finished.insert(transaction.ticket, transaction.id).is_none(),
                        "ticket {} served twice",
                        transaction.ticket
                    );
                    prop_assert!(l
                        .transactions
                        .insert(transaction.id, transaction.ticket)
                        .is_none());
                    prop_assert!(
                        !l.open_rating.contains_key(&transaction.window),
                        "previous rating window not closed first"
                    );
                    l.open_rating.insert(transaction.window, transaction.id);
                }
                Event::TicketExpired { ticket, .. } => {
                    prop_assert!(!l.finished.contains_key(ticket));
                    prop_assert!(l.expired.insert(*ticket));
                }
                Event::TicketVoided { ticket, .. } => {
                    prop_assert!(l.issued.contains_key(ticket));
                    prop_assert!(!l.finished.contains_key(ticket));
                    prop_assert!(l.voided.insert(*ticket), "ticket {} voided twice", ticket);
                }
                Event::Rated {
                    transaction, window, ..
                }
                | Event::Unrated { transaction, window } => {
                    prop_assert!(
                        l.transactions.contains_key(transaction),
                        "rating for an unknown transaction"
                    );
                    prop_assert!(
                        l.rating_closed.insert(*transaction),
                        "transaction {} rated twice",
                        transaction
                    );
                    prop_assert_eq!(
                        l.open_rating.remove(window),
                        Some(*transaction),
                        "rating for THAT transaction"
                    );
                }
                Event::StrayPress { window, .. } => {
                    prop_assert!(
                        !l.open_rating.contains_key(window),
                        "a key with an open rating window became stray"
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let s = &self.hall.state;
        // every issued ticket is in exactly one place
        for id in self.ledger.issued.keys() {
            let places = usize::from(s.tickets.contains_key(id))
                + usize::from(self.ledger.finished.contains_key(id))
                + usize::from(self.ledger.expired.contains(id))
                + usize::from(self.ledger.voided.contains(id));
            prop_assert_eq!(places, 1, "ticket {} is in {} places", id, places);
        }
        prop_assert!(s.tickets.keys().all(|id| self.ledger.issued.contains_key(id)));
        // two windows never hold the same ticket, and the ticket agrees
        let mut held = BTreeSet::new();
        for (w, live) in &s.windows {
            if let Some(id) = live.serving {
                prop_assert!(held.insert(id), "ticket {} at two windows", id);
                let t = &s.tickets[&id];
                prop_assert_eq!(t.state, TicketState::Serving { window: *w });
                prop_assert!(live.staff.is_some());
            }
        }
        for t in s.tickets.values() {
            if let TicketState::Serving { window } = t.state {
                prop_assert_eq!(s.windows[&window].serving, Some(t.id));
            }
        }
        // open rating windows agree with the events
        let open: BTreeMap<u16, TransactionId> = s.ratings.iter().map(|(w, r)| (*w, r.transaction)).collect();
        prop_assert_eq!(&open, &self.ledger.open_rating);
        Ok(())
    }

    /// A power cut: rebuild from the log (and from a serialised snapshot).
    fn restart(&mut self) -> Result<(), TestCaseError> {
        let mut replayed = Hall::new(self.hall.setup.clone());
        for (at, e) in &self.log {
            replayed.apply(*at, e);
        }
        prop_assert_eq!(
            &replayed.state,
            &self.hall.state,
            "replay differs from the live hall"
        );
        let json = serde_json::to_string(&self.hall.state).unwrap();
        let restored: HallState = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&restored, &self.hall.state);
        self.hall = Hall::with_state(self.hall.setup.clone(), restored);
        Ok(())
    }
}

/// The call-next rule, checked against the state before the call.
fn check_call_rule(
    hall: &Hall,
    before: &HallState,
    window: u16,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    let Some(Event::TicketCalled { ticket, .. }) = events.last() else {
        return Err(TestCaseError::fail("call-next without a call"));
    };
    let pre = Hall::with_state(hall.setup.clone(), before.clone());
    let candidates: Vec<&Ticket> = pre.candidates(window).collect();
    let called = candidates
        .iter()
        .find(|t| t.id == *ticket)
        .ok_or_else(|| TestCaseError::fail("called a ticket this window may not call"))?;
    let rules = &hall.setup.rules;
    let green = hall.setup.window(window).unwrap().green_channel;
    let streak = before.windows[&window].priority_streak;
    // How long a ticket has waited, and where its queue stands for this window.
    let waited = |t: &Ticket| (t.issued_at, t.id);
    let place = |t: &Ticket| pre.preference(window, t);
    let oldest_normal = candidates
        .iter()
        .filter(|t| !t.class.is_priority())
        .min_by_key(|t| waited(t));
    let switch = !green
        && streak >= rules.priority_streak_max
        && oldest_normal.is_some_and(|n| starving(n, rules, now));
    let any_priority = candidates.iter().any(|t| t.class.is_priority());
    if switch && any_priority {
        // anti-starvation: the normal ticket that has waited longest
        prop_assert_eq!(
            Some(called.id),
            oldest_normal.map(|t| t.id),
            "anti-starvation did not switch"
        );
    } else {
        // priority first: nobody of a better class waits
        prop_assert!(
            candidates.iter().all(|t| t.class.rank() >= called.class.rank()),
            "a better class waited"
        );
        // within the class: nobody of a preferred queue, nobody older in the same queue rank
        for t in candidates
            .iter()
            .filter(|t| t.class.rank() == called.class.rank())
        {
            prop_assert!(place(t) >= place(called), "{} is in a preferred queue", t.label);
            if place(t) == place(called) {
                prop_assert!(waited(t) >= waited(called), "{} waited longer", t.label);
            }
        }
    }
    // a window taking the oldest first ranks every queue alike
    if !hall.setup.window(window).unwrap().listed_order {
        prop_assert!(candidates.iter().all(|t| place(t) == 0));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn random_days_keep_every_rule(ops in proptest::collection::vec(op(), 1..250)) {
        let hall = Hall::new(shared(setup_always_open()));
        let mut run = Run { hall, log: Vec::new(), ledger: Ledger::default(), now: local(2026, 12, 3, 22, 0) };
        for op in &ops {
            run.step(op)?;
        }
        // at the end, let every timer run out: every transaction is rated or unrated
        run.now += Duration::hours(2);
        let swept = run.hall.sweep(run.now);
        run.record(&swept)?;
        prop_assert_eq!(run.ledger.rating_closed.len(), run.ledger.transactions.len());
        let postponed = run.hall.state.tickets.values().filter(|t| matches!(t.state, TicketState::Postponed { .. })).count();
        prop_assert_eq!(postponed, 0, "postponed tickets outlived their hold");
        run.restart()?;
    }
}
