//! Scenario tests of the hall rules, one rule at a time.

use chrono::{DateTime, Duration, Utc};

use super::command::{Command, TicketRef};
use super::error::DomainError;
use super::event::{Event, PauseKind, TransferTarget};
use super::hall::{Hall, WindowStatus};
use super::testkit::{local, setup, shared};
use super::ticket::{TicketClass, TicketState};
use super::transaction::{Outcome, OutcomeInput};

/// Friday 2026-12-04, 09:00 in the hall.
fn morning() -> DateTime<Utc> {
    local(2026, 12, 4, 9, 0)
}

fn hall() -> Hall {
    Hall::new(shared(setup()))
}

fn issue(h: &mut Hall, q: &str, class: TicketClass, at: DateTime<Utc>) -> String {
    let ev = h
        .handle(
            &Command::IssueTicket {
                queue: q.into(),
                class,
            },
            at,
        )
        .expect("issue");
    match &ev[0] {
        Event::TicketIssued { ticket, .. } => ticket.label.clone(),
        e => panic!("unexpected {e:?}"),
    }
}

fn login(h: &mut Hall, w: u16, staff: &str, at: DateTime<Utc>) {
    h.handle(
        &Command::Login {
            window: w,
            staff: staff.into(),
        },
        at,
    )
    .expect("login");
}

fn call_next(h: &mut Hall, w: u16, at: DateTime<Utc>) -> Result<String, DomainError> {
    let ev = h.handle(&Command::CallNext { window: w }, at)?;
    match &ev[0] {
        Event::TicketCalled { label, .. } => Ok(label.clone()),
        e => panic!("unexpected {e:?}"),
    }
}

fn finish(h: &mut Hall, w: u16, at: DateTime<Utc>) -> u64 {
    let ev = h
        .handle(
            &Command::Finish {
                window: w,
                items: vec![1],
                outcome: OutcomeInput::Done,
            },
            at,
        )
        .expect("finish");
    ev.iter()
        .find_map(|e| match e {
            Event::TransactionRecorded { transaction, .. } => Some(transaction.id),
            _ => None,
        })
        .unwrap()
}

#[test]
fn numbers_run_per_queue_and_restart_at_local_midnight() {
    let mut h = hall();
    let t = morning();
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, t), "A001");
    assert_eq!(issue(&mut h, "A", TicketClass::Priority, t), "A002");
    assert_eq!(issue(&mut h, "b", TicketClass::Normal, t), "B001");
    // Monday 2026-12-07, 08:30 Shanghai is 00:30 UTC: still the UTC date of
    // Monday, but what matters is that the local day changed since Friday.
    let monday = local(2026, 12, 7, 8, 30);
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, monday), "A001");
}

#[test]
fn the_day_turns_at_shanghai_midnight_not_utc_midnight() {
    let mut s = super::testkit::setup_always_open();
    s.calendar = super::calendar::Calendar::weekends_only();
    let mut h = Hall::new(shared(s));
    // 23:50 and 00:10 local are 15:50 and 16:10 UTC on the same UTC date.
    let before = local(2026, 12, 4, 23, 50);
    let after = local(2026, 12, 5, 0, 10);
    assert_eq!(before.date_naive(), after.date_naive());
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, before), "A001");
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, before), "A002");
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, after), "A001");
}

#[test]
fn no_ticket_outside_hours_or_on_a_holiday() {
    let mut h = hall();
    let lunch = local(2026, 12, 4, 12, 30);
    let err = h
        .handle(
            &Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Normal,
            },
            lunch,
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::HallClosed { .. }));
    assert!(err.to_string().contains("2026-12-04 13:30"), "{err}");
    let saturday = local(2026, 12, 5, 10, 0);
    let err = h
        .handle(
            &Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Normal,
            },
            saturday,
        )
        .unwrap_err();
    assert!(err.to_string().contains("2026-12-07 08:30"), "{err}");
    // National Day 2026-10-01..07 is closed; Saturday 2026-10-10 is a working day.
    let holiday = local(2026, 10, 5, 10, 0);
    assert!(h
        .handle(
            &Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Normal
            },
            holiday
        )
        .is_err());
    let adjusted = local(2026, 10, 10, 10, 0);
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, adjusted), "A001");
}

#[test]
fn daily_limit_refuses_with_a_reason() {
    let mut h = hall();
    for _ in 0..50 {
        issue(&mut h, "C", TicketClass::Normal, morning());
    }
    let err = h
        .handle(
            &Command::IssueTicket {
                queue: "C".into(),
                class: TicketClass::Normal,
            },
            morning(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::QueueFull {
            queue: "C".into(),
            limit: 50
        }
    );
}

#[test]
fn overtime_tickets_are_still_called_after_closing() {
    let mut h = hall();
    let t = local(2026, 12, 4, 16, 55);
    issue(&mut h, "A", TicketClass::Normal, t);
    login(&mut h, 2, "S1", t);
    let late = local(2026, 12, 4, 17, 40);
    assert_eq!(call_next(&mut h, 2, late).unwrap(), "A001");
    // and a window cannot close while serving
    assert!(matches!(
        h.handle(&Command::Logout { window: 2 }, late),
        Err(DomainError::WindowBusy { .. })
    ));
}

#[test]
fn priority_first_and_two_windows_never_share_a_ticket() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    issue(&mut h, "B", TicketClass::Priority, t + Duration::minutes(1));
    login(&mut h, 2, "S1", t);
    login(&mut h, 3, "S2", t);
    assert_eq!(call_next(&mut h, 2, t + Duration::minutes(2)).unwrap(), "B001");
    assert_eq!(call_next(&mut h, 3, t + Duration::minutes(2)).unwrap(), "A001");
    login(&mut h, 1, "S3", t);
    assert_eq!(
        call_next(&mut h, 1, t + Duration::minutes(2)),
        Err(DomainError::NothingWaiting(1))
    );
}

#[test]
fn a_window_only_calls_its_queues() {
    let mut h = hall();
    issue(&mut h, "A", TicketClass::Normal, morning());
    login(&mut h, 4, "S1", morning());
    assert_eq!(
        call_next(&mut h, 4, morning()),
        Err(DomainError::NothingWaiting(4))
    );
    let err = h
        .handle(
            &Command::CallTicket {
                window: 4,
                ticket: TicketRef::Label("A001".into()),
            },
            morning(),
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::NotServedHere { .. }));
}

#[test]
fn a_waiting_ticket_whose_print_failed_is_voided_and_leaves_the_queue() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    issue(&mut h, "A", TicketClass::Normal, t);
    let a1 = h.find_ticket(&TicketRef::Label("A001".into())).unwrap().id;
    let a2 = h.find_ticket(&TicketRef::Label("A002".into())).unwrap().id;
    let void = |ticket| Command::VoidTicket {
        ticket,
        reason: "paper out".into(),
    };
    let ev = h.handle(&void(a2), t).unwrap();
    assert!(
        matches!(&ev[..], [Event::TicketVoided { label, reason, .. }] if label == "A002" && reason == "paper out")
    );
    assert!(h.ticket(a2).is_none());
    assert_eq!(h.waiting_in("A"), 1);
    // gone: voiding again is refused, and nobody calls it
    assert!(matches!(
        h.handle(&void(a2), t).unwrap_err(),
        DomainError::UnknownTicket(_)
    ));
    login(&mut h, 2, "S1", t);
    assert_eq!(call_next(&mut h, 2, t).unwrap(), "A001");
    // a ticket being served is not voided
    let err = h.handle(&void(a1), t).unwrap_err();
    assert!(matches!(err, DomainError::NotVoidable { ref label, .. } if label == "A001"));
    assert_eq!(err.code(), "not_voidable");
    // the number is not reissued
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, t), "A003");
    // an empty reason is refused
    let a3 = h.find_ticket(&TicketRef::Label("A003".into())).unwrap().id;
    assert!(matches!(
        h.handle(
            &Command::VoidTicket {
                ticket: a3,
                reason: " ".into()
            },
            t
        )
        .unwrap_err(),
        DomainError::Invalid(_)
    ));
}

#[test]
fn skip_postpones_then_expires_and_can_be_called_back_meanwhile() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    issue(&mut h, "A", TicketClass::Normal, t);
    login(&mut h, 2, "S1", t);
    call_next(&mut h, 2, t).unwrap();
    h.handle(&Command::Skip { window: 2 }, t).unwrap();
    assert!(matches!(
        h.find_ticket(&TicketRef::Label("A001".into())).unwrap().state,
        TicketState::Postponed { .. }
    ));
    // back within the hold
    let back = t + Duration::minutes(10);
    h.handle(
        &Command::CallTicket {
            window: 2,
            ticket: TicketRef::Label("a001".into()),
        },
        back,
    )
    .unwrap();
    h.handle(&Command::Skip { window: 2 }, back).unwrap();
    // the hold (30 min) runs out: a final no-show
    assert_eq!(h.next_deadline(), Some(back + Duration::minutes(30)));
    let ev = h.sweep(back + Duration::minutes(30));
    assert!(matches!(&ev[..], [Event::TicketExpired { label, .. }] if label == "A001"));
    assert!(h.find_ticket(&TicketRef::Label("A001".into())).is_none());
    assert_eq!(
        call_next(&mut h, 2, back + Duration::minutes(31)).unwrap(),
        "A002"
    );
}

#[test]
fn recall_counts_and_transfer_keeps_place_and_class() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Priority, t);
    issue(&mut h, "B", TicketClass::Normal, t + Duration::minutes(5));
    login(&mut h, 2, "S1", t);
    login(&mut h, 3, "S2", t);
    call_next(&mut h, 2, t + Duration::minutes(6)).unwrap();
    for n in 1..=2 {
        let ev = h
            .handle(&Command::Recall { window: 2 }, t + Duration::minutes(6))
            .unwrap();
        assert!(matches!(ev[0], Event::TicketRecalled { count, .. } if count == n));
    }
    h.handle(
        &Command::Transfer {
            window: 2,
            to: TransferTarget::Queue("B".into()),
        },
        t + Duration::minutes(7),
    )
    .unwrap();
    let moved = h.find_ticket(&TicketRef::Label("A001".into())).unwrap();
    assert_eq!(
        (moved.queue.as_str(), moved.class, moved.issued_at),
        ("B", TicketClass::Priority, t)
    );
    // it keeps its place ahead of B001
    assert_eq!(call_next(&mut h, 3, t + Duration::minutes(8)).unwrap(), "A001");
    // to a window: only that window may call it
    h.handle(
        &Command::Transfer {
            window: 3,
            to: TransferTarget::Window(1),
        },
        t + Duration::minutes(9),
    )
    .unwrap();
    assert_eq!(call_next(&mut h, 3, t + Duration::minutes(9)).unwrap(), "B001");
    login(&mut h, 1, "S3", t);
    assert_eq!(call_next(&mut h, 1, t + Duration::minutes(9)).unwrap(), "A001");
}

#[test]
fn pause_only_between_customers_away_any_time() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    login(&mut h, 2, "S1", t);
    call_next(&mut h, 2, t).unwrap();
    assert!(matches!(
        h.handle(
            &Command::Pause {
                window: 2,
                kind: PauseKind::Paused
            },
            t
        ),
        Err(DomainError::WindowBusy { .. })
    ));
    h.handle(
        &Command::Pause {
            window: 2,
            kind: PauseKind::Away,
        },
        t,
    )
    .unwrap();
    assert_eq!(h.window(2).unwrap().status(), WindowStatus::Away);
    assert!(matches!(
        h.handle(
            &Command::Finish {
                window: 2,
                items: vec![1],
                outcome: OutcomeInput::Done
            },
            t
        ),
        Err(DomainError::WindowPaused(2))
    ));
    h.handle(&Command::Resume { window: 2 }, t).unwrap();
    assert_eq!(h.window(2).unwrap().status(), WindowStatus::Serving);
    finish(&mut h, 2, t);
    h.handle(
        &Command::Pause {
            window: 2,
            kind: PauseKind::Paused,
        },
        t,
    )
    .unwrap();
    assert_eq!(h.window(2).unwrap().status(), WindowStatus::Paused);
    assert_eq!(call_next(&mut h, 2, t), Err(DomainError::WindowPaused(2)));
}

#[test]
fn the_rating_window_belongs_to_the_finished_transaction() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    issue(&mut h, "A", TicketClass::Normal, t);
    login(&mut h, 2, "S1", t);
    call_next(&mut h, 2, t).unwrap();
    let first = finish(&mut h, 2, t + Duration::minutes(5));
    // staff call the next ticket before the customer rates
    call_next(&mut h, 2, t + Duration::minutes(5)).unwrap();
    let ev = h
        .handle(
            &Command::Rate { window: 2, key: 3 },
            t + Duration::minutes(5) + Duration::seconds(10),
        )
        .unwrap();
    assert!(
        matches!(&ev[..], [Event::Rated { transaction, level, .. }] if *transaction == first && level == "不满意")
    );
    // a second key is a stray press, never a rating
    let ev = h
        .handle(&Command::Rate { window: 2, key: 1 }, t + Duration::minutes(6))
        .unwrap();
    assert!(matches!(&ev[..], [Event::StrayPress { .. }]));
    // the second transaction is not rated in time: recorded as unrated
    let second = finish(&mut h, 2, t + Duration::minutes(10));
    let ev = h.sweep(t + Duration::minutes(10) + Duration::seconds(30));
    assert!(matches!(&ev[..], [Event::Unrated { transaction, .. }] if *transaction == second));
    // an unknown key is bad input, not a press
    assert_eq!(
        h.handle(&Command::Rate { window: 2, key: 7 }, t + Duration::minutes(11)),
        Err(DomainError::UnknownRatingKey(7))
    );
}

#[test]
fn a_quick_next_transaction_closes_the_previous_rating_as_unrated() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    issue(&mut h, "A", TicketClass::Normal, t);
    login(&mut h, 2, "S1", t);
    call_next(&mut h, 2, t).unwrap();
    let first = finish(&mut h, 2, t);
    call_next(&mut h, 2, t).unwrap();
    let ev = h
        .handle(
            &Command::Finish {
                window: 2,
                items: vec![2],
                outcome: OutcomeInput::Done,
            },
            t + Duration::seconds(10),
        )
        .unwrap();
    assert!(matches!(&ev[0], Event::Unrated { transaction, .. } if *transaction == first));
    assert!(matches!(&ev[1], Event::TransactionRecorded { .. }));
}

#[test]
fn finishing_needs_items_and_a_lawful_outcome() {
    let mut h = hall();
    // Wednesday 2026-09-30: 10 working days for item 30 skip National Day.
    let t = local(2026, 9, 30, 9, 0);
    issue(&mut h, "C", TicketClass::Normal, t);
    login(&mut h, 4, "S1", t);
    call_next(&mut h, 4, t).unwrap();
    let fin = |h: &mut Hall, items: Vec<u32>, outcome| {
        h.handle(
            &Command::Finish {
                window: 4,
                items,
                outcome,
            },
            t,
        )
    };
    assert!(matches!(
        fin(&mut h, vec![], OutcomeInput::Done),
        Err(DomainError::Invalid(_))
    ));
    assert_eq!(
        fin(&mut h, vec![99], OutcomeInput::Done),
        Err(DomainError::UnknownItem(99))
    );
    assert!(matches!(
        fin(&mut h, vec![30], OutcomeInput::Refused { approval_id: " ".into(), reason: "x".into() }),
        Err(DomainError::Invalid(m)) if m.contains("窗口无权否决")
    ));
    assert!(matches!(
        fin(
            &mut h,
            vec![30],
            OutcomeInput::Incomplete {
                missing: vec!["".into()]
            }
        ),
        Err(DomainError::Invalid(_))
    ));
    let ev = fin(&mut h, vec![30, 30], OutcomeInput::Accepted).unwrap();
    match &ev[0] {
        Event::TransactionRecorded { transaction, .. } => {
            assert_eq!(transaction.items, vec![30]);
            assert_eq!(
                transaction.outcome,
                Outcome::Accepted {
                    due: chrono::NaiveDate::from_ymd_opt(2026, 10, 20).unwrap()
                }
            );
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn monthly_cutoff_items_are_not_done_after_the_cutoff() {
    let mut h = hall();
    let t = local(2026, 12, 21, 9, 0); // Monday the 21st
    issue(&mut h, "C", TicketClass::Normal, t);
    login(&mut h, 4, "S1", t);
    call_next(&mut h, 4, t).unwrap();
    let err = h
        .handle(
            &Command::Finish {
                window: 4,
                items: vec![32],
                outcome: OutcomeInput::Done,
            },
            t,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::ItemNotAcceptedToday {
            code: 32,
            before_day: 20,
            ..
        }
    ));
    h.handle(
        &Command::Finish {
            window: 4,
            items: vec![32],
            outcome: OutcomeInput::Referred {
                to: "下月20日前再来".into(),
            },
        },
        t,
    )
    .unwrap();
}

#[test]
fn staff_log_in_once_and_a_window_closes_only_when_free() {
    let mut h = hall();
    let t = morning();
    login(&mut h, 2, "S1", t);
    assert!(matches!(
        h.handle(
            &Command::Login {
                window: 3,
                staff: "S1".into()
            },
            t
        ),
        Err(DomainError::StaffElsewhere { window: 2, .. })
    ));
    assert!(matches!(
        h.handle(
            &Command::Login {
                window: 2,
                staff: "S2".into()
            },
            t
        ),
        Err(DomainError::AlreadyLoggedIn { .. })
    ));
    assert!(matches!(
        h.handle(
            &Command::Login {
                window: 3,
                staff: "工号 1".into()
            },
            t
        ),
        Err(DomainError::Invalid(_))
    ));
    assert_eq!(
        h.handle(&Command::CallNext { window: 3 }, t),
        Err(DomainError::WindowClosed(3))
    );
    assert_eq!(
        h.handle(&Command::CallNext { window: 9 }, t),
        Err(DomainError::UnknownWindow(9))
    );
    h.handle(&Command::Logout { window: 2 }, t).unwrap();
    assert_eq!(h.window(2).unwrap().status(), WindowStatus::Closed);
}

#[test]
fn wait_estimates_follow_recent_service_times() {
    let mut h = hall();
    let t = morning();
    login(&mut h, 2, "S1", t);
    // nothing seen yet: the default 6 minutes per person
    for _ in 0..3 {
        issue(&mut h, "A", TicketClass::Normal, t);
    }
    let ev = h
        .handle(
            &Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Normal,
            },
            t,
        )
        .unwrap();
    assert!(matches!(
        ev[0],
        Event::TicketIssued {
            ahead: 3,
            estimated_wait_s: 1080,
            ..
        }
    ));
    // two services of 2 minutes each
    let mut now = t;
    for _ in 0..2 {
        call_next(&mut h, 2, now).unwrap();
        now += Duration::minutes(2);
        finish(&mut h, 2, now);
    }
    assert_eq!(h.average_service_s("A"), 120);
    // two ahead, one staffed window: 4 minutes; a second window halves it
    assert_eq!(h.estimate_wait_s("A", 2), 240);
    login(&mut h, 3, "S2", now);
    assert_eq!(h.estimate_wait_s("A", 2), 120);
    // a priority ticket has only priority tickets ahead of it
    assert_eq!(h.ahead_of_new("A", TicketClass::Priority), 0);
    assert_eq!(h.ahead_of_new("A", TicketClass::Normal), 2);
}

#[test]
fn replaying_the_events_rebuilds_the_same_hall() {
    let mut h = hall();
    let mut log = Vec::new();
    let t = morning();
    let mut run = |h: &mut Hall, cmd: Command, at: DateTime<Utc>| {
        let mut ev = h.sweep(at);
        ev.extend(h.handle(&cmd, at).unwrap());
        log.extend(ev.into_iter().map(|e| (at, e)));
    };
    run(
        &mut h,
        Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        },
        t,
    );
    run(
        &mut h,
        Command::IssueTicket {
            queue: "B".into(),
            class: TicketClass::Priority,
        },
        t,
    );
    run(
        &mut h,
        Command::Login {
            window: 2,
            staff: "S1".into(),
        },
        t,
    );
    run(&mut h, Command::CallNext { window: 2 }, t);
    run(
        &mut h,
        Command::Finish {
            window: 2,
            items: vec![18],
            outcome: OutcomeInput::Accepted,
        },
        t,
    );
    run(&mut h, Command::CallNext { window: 2 }, t);
    run(&mut h, Command::Skip { window: 2 }, t);
    let mut replayed = Hall::new(h.setup.clone());
    for (at, e) in &log {
        replayed.apply(*at, e);
    }
    assert_eq!(replayed.state, h.state);
    let json = serde_json::to_string(&h.state).unwrap();
    assert_eq!(
        serde_json::from_str::<super::hall::HallState>(&json).unwrap(),
        h.state
    );
}

#[test]
fn a_printer_that_cannot_print_stops_issuing_and_darkens_the_kiosk() {
    use super::device::PrinterStatus;
    let mut h = hall();
    let t = morning();
    assert!(h.kiosk_lamps(t).values().all(|lit| *lit));
    let out = PrinterStatus {
        paper_out: true,
        ..Default::default()
    };
    let ev = h.handle(&Command::ReportPrinter { status: out }, t).unwrap();
    assert!(matches!(&ev[..], [Event::PrinterChanged { .. }]));
    assert_eq!(ev[0].kind(), "printer_alert");
    // the same report again records nothing
    assert!(h
        .handle(&Command::ReportPrinter { status: out }, t)
        .unwrap()
        .is_empty());
    let before = h.state.clone();
    let err = h
        .handle(
            &Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Normal,
            },
            t,
        )
        .unwrap_err();
    assert_eq!(err.code(), "printer_not_ready");
    assert_eq!(h.state, before, "no number that nobody holds");
    assert!(h.kiosk_lamps(t).values().all(|lit| !*lit));
    // near end still prints: a warning only
    let near = PrinterStatus {
        paper_near_end: true,
        ..Default::default()
    };
    let ev = h.handle(&Command::ReportPrinter { status: near }, t).unwrap();
    assert_eq!(ev[0].kind(), "printer_warning");
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, t), "A001");
    // closed hours darken the lamps too
    assert!(h.kiosk_lamps(local(2026, 12, 5, 9, 0)).values().all(|lit| !*lit));
}

#[test]
fn device_reports_record_only_changes() {
    let mut h = hall();
    let t = morning();
    let off = Command::ReportDevice {
        device: "keypad@3".into(),
        online: false,
    };
    let on = Command::ReportDevice {
        device: "keypad@3".into(),
        online: true,
    };
    assert!(h.handle(&on, t).unwrap().is_empty());
    assert_eq!(h.handle(&off, t).unwrap()[0].kind(), "device_offline");
    assert!(h.handle(&off, t).unwrap().is_empty());
    assert!(h.state.offline.contains("keypad@3"));
    assert_eq!(h.handle(&on, t).unwrap()[0].kind(), "device_online");
    assert!(h.state.offline.is_empty());
    assert!(h
        .handle(
            &Command::ReportDevice {
                device: "bad name".into(),
                online: false
            },
            t
        )
        .is_err());
}

#[test]
fn a_window_may_prefer_its_queues_in_the_order_listed() {
    let mut h = hall();
    let t = morning();
    // window 3 lists C, B, A; window 2 takes the oldest first
    issue(&mut h, "A", TicketClass::Normal, t);
    issue(&mut h, "B", TicketClass::Normal, t + Duration::minutes(1));
    issue(&mut h, "C", TicketClass::Normal, t + Duration::minutes(2));
    issue(&mut h, "A", TicketClass::Priority, t + Duration::minutes(3));
    login(&mut h, 2, "S1", t);
    login(&mut h, 3, "S2", t);
    let now = t + Duration::minutes(4);
    // priority still comes first, whatever the queue
    assert_eq!(call_next(&mut h, 3, now).unwrap(), "A002");
    finish(&mut h, 3, now);
    assert_eq!(call_next(&mut h, 3, now).unwrap(), "C001");
    finish(&mut h, 3, now);
    assert_eq!(call_next(&mut h, 3, now).unwrap(), "B001");
    finish(&mut h, 3, now);
    assert_eq!(call_next(&mut h, 2, now).unwrap(), "A001");
}

#[test]
fn a_paused_queue_issues_nothing_and_its_lamp_is_dark() {
    let mut h = hall();
    let t = morning();
    issue(&mut h, "A", TicketClass::Normal, t);
    let ev = h.handle(&Command::PauseQueue { queue: "a".into() }, t).unwrap();
    assert!(matches!(&ev[..], [Event::QueuePaused { queue }] if queue == "A"));
    assert_eq!(
        h.handle(
            &Command::IssueTicket {
                queue: "A".into(),
                class: TicketClass::Priority
            },
            t
        ),
        Err(DomainError::QueuePaused { queue: "A".into() })
    );
    let lamps = h.kiosk_lamps(t);
    assert_eq!((lamps["A"], lamps["B"]), (false, true));
    // tickets already issued are still called
    login(&mut h, 2, "S1", t);
    assert_eq!(call_next(&mut h, 2, t).unwrap(), "A001");
    // pausing twice changes nothing; resuming lights the lamp again
    assert!(h
        .handle(&Command::PauseQueue { queue: "A".into() }, t)
        .unwrap()
        .is_empty());
    h.handle(&Command::ResumeQueue { queue: "A".into() }, t).unwrap();
    assert!(h.kiosk_lamps(t)["A"]);
    assert_eq!(issue(&mut h, "A", TicketClass::Normal, t), "A002");
    assert_eq!(
        h.handle(&Command::PauseQueue { queue: "Q".into() }, t),
        Err(DomainError::UnknownQueue("Q".into()))
    );
}
