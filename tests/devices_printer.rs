//! The kiosk and the ticket printer through the real drivers: simulated
//! buttons, the ESC/POS driver on tokio-serial, an emulated printer on a
//! pseudo-terminal reading the bytes back.

mod common;

use std::time::Duration;

use common::devices::{eventually, eventually_async, until, Hall};
use hallq::devices::emulator::{JobFault, PrinterEmulator};
use hallq::devices::kiosk::{self, Button, KioskConfig, Panel, SimPins};
use hallq::devices::printer::{self, PrinterConfig};
use hallq::domain::{Command, PrinterStatus, TicketClass};
use hallq::engine::EngineError;

const LIMIT: Duration = Duration::from_secs(5);

fn kiosk_config() -> KioskConfig {
    let b = |queue: &str, class, input| Button {
        queue: queue.into(),
        class,
        input,
        lamp: Some(input + 10),
    };
    KioskConfig {
        buttons: vec![
            b("A", TicketClass::Normal, 0),
            b("B", TicketClass::Normal, 1),
            b("A", TicketClass::Priority, 2),
            b("C", TicketClass::Appointment, 3),
        ],
        debounce: Duration::from_millis(20),
        lockout: Duration::from_millis(300),
    }
}

fn printer_config(hall: &Hall) -> PrinterConfig {
    PrinterConfig {
        qr: Some("https://gjj.example.cn/t/{hall}/{date}/{label}".into()),
        poll: Duration::from_millis(40),
        reply_timeout: Duration::from_millis(300),
        reconnect: Duration::from_millis(100),
        ..PrinterConfig::new(hall.path("printer").to_string_lossy())
    }
}

type KioskStatus = std::sync::Arc<std::sync::Mutex<kiosk::KioskStatus>>;

async fn setup() -> (Hall, PrinterEmulator, Panel, KioskStatus) {
    let hall = Hall::start();
    let emu = PrinterEmulator::start(&hall.path("printer")).expect("printer emulator");
    printer::spawn(hall.engine.clone(), printer_config(&hall));
    let cfg = kiosk_config();
    let (pins, panel) = SimPins::new(cfg.buttons.len());
    let (kiosk_status, _task) = kiosk::spawn(hall.engine.clone(), cfg, Box::new(pins)).expect("kiosk");
    // The printer answers its status polls: ready.
    assert!(until(&emu.model, LIMIT, |m| m.status_requests >= 8).await);
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| *l)).await,
        "lamps lit: {:?}",
        panel.lamps()
    );
    (hall, emu, panel, kiosk_status)
}

async fn press(panel: &Panel, button: usize) {
    panel.bounce(button, 3);
    // The contact is held a while, then released.
    tokio::time::sleep(Duration::from_millis(40)).await; // the citizen's finger, not a wait for a result
    panel.up(button);
}

#[tokio::test]
async fn a_kiosk_press_prints_the_ticket_in_chinese() {
    let (hall, emu, panel, kiosk_status) = setup().await;
    press(&panel, 2).await; // 绿色通道, queue A
    assert!(
        until(&emu.model, LIMIT, |m| m.printed.len() == 1).await,
        "one ticket printed"
    );
    let (t, bytes) = emu.model.read(|m| (m.printed[0].clone(), m.jobs[0].clone()));
    // The bytes themselves: init with Chinese mode on (after the driver's own
    // init on connecting), GBK text, the partial cut.
    let start = bytes
        .windows(4)
        .position(|w| w == [0x1B, 0x40, 0x1C, 0x26])
        .expect("init and Chinese mode on");
    assert!(
        start <= 5,
        "only the connect-time init and ASB request come before: {start}"
    );
    assert_eq!(&bytes[bytes.len() - 4..], &[0x1D, 0x56, 0x42, 0x00]);
    let (gbk, _, _) = encoding_rs::GBK.encode("归集业务");
    assert!(
        bytes.windows(gbk.len()).any(|w| w == &gbk[..]),
        "queue name in GBK"
    );
    assert!(
        bytes.windows(3).any(|w| w == [0x1D, 0x21, 0x22]),
        "the number at 3x3"
    );
    assert!(t.chinese_mode);
    assert_eq!(t.large, vec!["A001".to_string()], "{t:?}");
    assert_eq!(t.cuts, 1);
    let date = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        t.qr,
        vec![format!("https://gjj.example.cn/t/test-hall/{date}/A001")]
    );
    for want in [
        "测试大厅",
        "归集业务",
        "【绿色通道】",
        "前面还有 0 人等候",
        "咨询电话：0530-0000000",
    ] {
        assert!(t.lines.iter().any(|l| l == want), "{want} not in {:?}", t.lines);
    }
    assert!(t.lines.iter().any(|l| l.starts_with("预计等候约 ")));
    assert!(t
        .lines
        .iter()
        .any(|l| l.starts_with(&format!("取号时间：{date} "))));

    // A bouncing, held button still gives one ticket; the next queue prints its own.
    press(&panel, 1).await;
    assert!(until(&emu.model, LIMIT, |m| m.printed.len() == 2).await);
    let t = emu.model.read(|m| m.printed[1].clone());
    assert_eq!(t.large, vec!["B001".to_string()]);
    assert!(t.lines.iter().any(|l| l == "支取业务"));
    let kinds = hall.event_kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "ticket_issued").count(),
        2,
        "{kinds:?}"
    );
    let counts = || {
        let k = kiosk_status.lock().unwrap();
        (k.presses, k.issued, k.refused)
    };
    assert!(
        eventually(LIMIT, || counts() == (2, 2, 0)).await,
        "bounces and holding gave no extra press: {:?}",
        counts()
    );
    hall.stop().await;
}

#[tokio::test]
async fn paper_out_stops_issuing_and_near_end_warns() {
    let (hall, emu, panel, kiosk_status) = setup().await;
    emu.set_status(PrinterStatus {
        paper_out: true,
        ..Default::default()
    });
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| !*l)).await,
        "lamps dark when paper is out"
    );
    let refused = hall
        .engine
        .execute(Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .await
        .unwrap_err();
    match refused {
        EngineError::Refused(e) => assert_eq!(e.code(), "printer_not_ready"),
        e => panic!("{e}"),
    }
    press(&panel, 0).await;
    // The press reached the engine and was refused: no number nobody holds.
    assert!(
        eventually(LIMIT, || kiosk_status.lock().unwrap().refused == 1).await,
        "the press was refused"
    );
    assert!(
        hall.event_kinds().contains(&"printer_alert".to_string()),
        "an alert event"
    );
    assert!(!hall.event_kinds().contains(&"ticket_issued".to_string()));
    assert_eq!(emu.model.read(|m| m.printed.len()), 0);

    emu.set_status(PrinterStatus {
        paper_near_end: true,
        ..Default::default()
    });
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| *l)).await,
        "near end still prints"
    );
    assert!(hall.event_kinds().contains(&"printer_warning".to_string()));
    press(&panel, 1).await; // another button: button 0 may still be in its lockout
    assert!(until(&emu.model, LIMIT, |m| m.printed.len() == 1).await);
    hall.stop().await;
}

#[tokio::test]
async fn an_unplugged_printer_darkens_the_kiosk_and_comes_back_by_itself() {
    let (hall, mut emu, panel, _) = setup().await;
    emu.unplug();
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| !*l)).await,
        "offline: lamps dark"
    );
    assert!(hall.event_kinds().contains(&"printer_alert".to_string()));
    emu.replug().expect("replug");
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| *l)).await,
        "reconnected by itself"
    );
    assert!(hall.event_kinds().contains(&"printer_ready".to_string()));
    press(&panel, 3).await; // appointment check-in, queue C
    assert!(until(&emu.model, LIMIT, |m| m.printed.len() == 1).await);
    let t = emu.model.read(|m| m.printed[0].clone());
    assert_eq!(t.large, vec!["C001".to_string()]);
    assert!(t.lines.iter().any(|l| l == "【预约】"));
    hall.stop().await;
}

#[tokio::test]
async fn a_printer_that_stops_answering_counts_as_off_line_until_it_answers() {
    let (hall, emu, panel, _) = setup().await;
    emu.model.update(|m| m.silent = true);
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| !*l)).await,
        "no status replies: off line"
    );
    emu.model.update(|m| m.silent = false);
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| *l)).await,
        "answers again: ready"
    );
    let kinds = hall.event_kinds();
    // The last alert (the first is the driver's start, before any reply).
    let alert = kinds.iter().rposition(|k| k == "printer_alert").expect("alert");
    assert!(alert > 1, "an alert after the first ready: {kinds:?}");
    assert!(kinds[alert..].contains(&"printer_ready".to_string()), "{kinds:?}");
    hall.stop().await;
}

/// The reason recorded with each `ticket_voided` event, and the tickets
/// table's state of each voided ticket.
fn voided(hall: &Hall) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(&hall.db).expect("read db");
    let mut st = conn
        .prepare(
            "SELECT json_extract(e.body, '$.label'), json_extract(e.body, '$.reason'), t.state
             FROM events e JOIN tickets t ON t.id = json_extract(e.body, '$.ticket')
             WHERE e.kind = 'ticket_voided' ORDER BY e.seq",
        )
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

async fn waiting(hall: &Hall) -> usize {
    hall.engine.view().await.expect("view").waiting_total
}

async fn a_print_that_fails_voids_the_ticket(fault: JobFault, reason: &str) {
    let (hall, emu, panel, _) = setup().await;
    // One ticket prints; the next one meets the fault while printing.
    press(&panel, 0).await;
    assert!(until(&emu.model, LIMIT, |m| m.printed.len() == 1).await);
    emu.model.update(|m| m.fault_on_next_job = Some(fault));
    press(&panel, 1).await;
    assert!(
        until(&emu.model, LIMIT, |m| m.refused_jobs == 1).await,
        "the job met the fault"
    );
    let mut v = Vec::new();
    assert!(
        eventually(LIMIT, || {
            v = voided(&hall);
            !v.is_empty()
        })
        .await,
        "the unprinted ticket was voided: {:?}",
        hall.event_kinds()
    );
    assert_eq!(v.len(), 1, "{v:?}");
    let (label, why, state) = &v[0];
    assert_eq!(label, "B001");
    assert!(why.contains(reason), "{why}");
    assert_eq!(state, "void");
    // Only A001 waits: B001, which nobody holds, left the queue.
    assert_eq!(waiting(&hall).await, 1);
    // The printer's alert is recorded too (after the tickets, not only the start's).
    let kinds = hall.event_kinds();
    let issued = kinds.iter().position(|k| k == "ticket_issued").expect("issued");
    assert!(
        kinds[issued..].contains(&"printer_alert".to_string()),
        "{kinds:?}"
    );
    assert_eq!(emu.model.read(|m| m.printed.len()), 1);
    hall.stop().await;
}

#[tokio::test]
async fn paper_running_out_mid_print_voids_the_ticket() {
    a_print_that_fails_voids_the_ticket(JobFault::PaperOut, "paper out").await;
}

#[tokio::test]
async fn a_printer_going_silent_mid_print_voids_the_ticket() {
    a_print_that_fails_voids_the_ticket(JobFault::Silent, "no status reply").await;
}

#[tokio::test]
async fn no_ticket_before_the_printer_has_answered_once() {
    let hall = Hall::start();
    let emu = PrinterEmulator::start(&hall.path("printer")).expect("printer emulator");
    emu.model.update(|m| m.silent = true);
    printer::start(hall.engine.clone(), printer_config(&hall)).await;
    let issue = || {
        hall.engine.execute(Command::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
    };
    match issue().await.unwrap_err() {
        EngineError::Refused(e) => assert_eq!(e.code(), "printer_not_ready"),
        e => panic!("{e}"),
    }
    // Polled but silent: still no ticket.
    assert!(until(&emu.model, LIMIT, |m| m.status_requests >= 8).await);
    assert!(issue().await.is_err(), "no ticket while the printer is silent");
    emu.model.update(|m| m.silent = false);
    assert!(
        eventually_async(LIMIT, || async { issue().await.is_ok() }).await,
        "ready on the first good status"
    );
    let kinds = hall.event_kinds();
    assert_eq!(kinds[0], "printer_alert", "{kinds:?}");
    assert!(kinds.contains(&"printer_ready".to_string()), "{kinds:?}");
    hall.stop().await;
}

#[tokio::test]
async fn kiosk_inputs_that_fail_report_the_kiosk_off_line_until_they_work() {
    let (hall, emu, panel, _) = setup().await;
    panel.set_inputs_ok(false);
    assert!(
        eventually(LIMIT, || hall
            .event_kinds()
            .contains(&"device_offline".to_string()))
        .await,
        "the kiosk reported off line: {:?}",
        hall.event_kinds()
    );
    panel.set_inputs_ok(true);
    assert!(
        eventually(LIMIT, || hall
            .event_kinds()
            .contains(&"device_online".to_string()))
        .await,
        "and on line again"
    );
    let conn = rusqlite::Connection::open(&hall.db).expect("read db");
    let devices: Vec<String> = conn
        .prepare("SELECT json_extract(body, '$.device') FROM events WHERE kind LIKE 'device_%' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(devices, vec!["kiosk".to_string(), "kiosk".to_string()]);
    // Presses still work afterwards.
    press(&panel, 0).await;
    assert!(until(&emu.model, LIMIT, |m| m.printed.len() == 1).await);
    hall.stop().await;
}

#[tokio::test]
async fn a_simulated_kiosk_from_the_configuration_is_started_and_can_be_pressed() {
    use hallq::devices::config::{Devices, KioskSetup, PinsBackend};
    let hall = Hall::start();
    let emu = PrinterEmulator::start(&hall.path("printer")).expect("printer emulator");
    let devices = Devices {
        kiosk: Some(KioskSetup {
            backend: PinsBackend::Sim,
            kiosk: kiosk_config(),
        }),
        printer: Some(printer_config(&hall)),
        bus: None,
    };
    let running = hallq::devices::start(&hall.engine, &devices)
        .await
        .expect("devices");
    let panel = running.kiosk_panel.expect("the simulated kiosk's panel");
    let status = running.kiosk.expect("the kiosk driver runs");
    assert!(
        eventually(LIMIT, || panel.lamps().iter().all(|l| *l)).await,
        "lamps lit once the printer answered: {:?}",
        panel.lamps()
    );
    press(&panel, 1).await;
    assert!(until(&emu.model, LIMIT, |m| m.printed.len() == 1).await);
    assert_eq!(
        emu.model.read(|m| m.printed[0].large.clone()),
        vec!["B001".to_string()]
    );
    assert!(
        eventually(LIMIT, || {
            let s = status.lock().unwrap();
            (s.presses, s.issued) == (1, 1)
        })
        .await,
        "{:?}",
        status.lock().unwrap()
    );
    hall.stop().await;
}
