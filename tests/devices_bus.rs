//! The RS-485 bus through the real master (tokio-modbus over tokio-serial)
//! against emulated keypads, displays and rating keypads on a pseudo-terminal.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::devices::{eventually, until, Hall};
use hallq::devices::bus::{self, BusConfig, BusHandle, BusWindow};
use hallq::devices::emulator::{BusEmulator, Device, Faults};
use hallq::devices::registers as reg;
use hallq::domain::{Command, TicketClass};

const LIMIT: Duration = Duration::from_secs(5);

// Window 1: keypad 1, display 2, rating 3. Window 2: keypad 4, display 5, rating 6.
fn devices() -> BTreeMap<u8, Device> {
    BTreeMap::from([
        (1, Device::keypad()),
        (2, Device::display()),
        (3, Device::rating()),
        (4, Device::keypad()),
        (5, Device::display()),
        (6, Device::rating()),
    ])
}

fn config(hall: &Hall) -> BusConfig {
    let w = |window, base: u8| BusWindow {
        window,
        keypad: Some(base),
        display: Some(base + 1),
        rating: Some(base + 2),
    };
    BusConfig {
        timeout: Duration::from_millis(60),
        retries: 1,
        min_cycle: Duration::from_millis(5),
        display_every: 4,
        offline_every: 2,
        reconnect: Duration::from_millis(100),
        ..BusConfig::new(hall.path("bus").to_string_lossy(), vec![w(1, 1), w(2, 4)])
    }
}

async fn setup() -> (Hall, BusEmulator, BusHandle) {
    let hall = Hall::start();
    let emu = BusEmulator::start(&hall.path("bus"), devices()).expect("bus emulator");
    let handle = bus::spawn(hall.engine.clone(), config(&hall));
    // Every display shows its window, closed (未开放), once the master has written it.
    assert!(
        until(&emu.model, LIMIT, |m| [2u8, 5].iter().all(|a| m
            .shown(*a)
            .is_some_and(|c| c.status == reg::STATUS_CLOSED
                && c.text == "未开放"
                && c.window > 0)))
        .await,
        "displays written at start"
    );
    (hall, emu, handle)
}

async fn issue(hall: &Hall, queue: &str) {
    hall.engine
        .execute(Command::IssueTicket {
            queue: queue.into(),
            class: TicketClass::Normal,
        })
        .await
        .expect("ticket");
}

#[tokio::test]
async fn a_keypad_press_reaches_the_engine_and_the_counter_display_changes() {
    let (hall, emu, _bus) = setup().await;
    issue(&hall, "A").await;
    assert!(emu.press(1, reg::KEY_LOGIN, 1001));
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(2)
            .is_some_and(|c| c.status == reg::STATUS_IDLE && c.text == "空闲"))
        .await,
        "logged in: 空闲"
    );
    // The keypad hears that its key was handled.
    assert!(
        until(&emu.model, LIMIT, |m| m.keypad_result(1)
            == Some([1, reg::RESULT_OK]))
        .await
    );
    assert!(emu.press(1, reg::KEY_CALL_NEXT, 0));
    assert!(
        until(&emu.model, LIMIT, |m| m.shown(2).is_some_and(|c| c.status
            == reg::STATUS_SERVING
            && c.ticket == "A001"
            && c.text == "办理中"
            && c.window == 1))
        .await,
        "display shows A001 办理中: {:?}",
        emu.model.read(|m| m.shown(2))
    );
    let view = hall.engine.view().await.unwrap();
    assert_eq!(view.windows[0].serving.as_deref(), Some("A001"));
    assert_eq!(view.windows[0].staff.as_deref(), Some("1001"));
    // The other window's display did not change.
    assert_eq!(
        emu.model.read(|m| m.shown(5).map(|c| c.status)),
        Some(reg::STATUS_CLOSED)
    );
    // A refused key (nothing waiting at window 2 once logged in) tells the keypad so.
    emu.press(4, reg::KEY_LOGIN, 1002);
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(5)
            .is_some_and(|c| c.status == reg::STATUS_IDLE))
        .await
    );
    emu.press(4, reg::KEY_CALL_NEXT, 0);
    assert!(
        until(&emu.model, LIMIT, |m| m.keypad_result(4)
            == Some([2, reg::RESULT_REFUSED]))
        .await
    );
    // Pause: 暂停服务 on the display.
    emu.press(4, reg::KEY_PAUSE, 0);
    assert!(
        until(&emu.model, LIMIT, |m| m.shown(5).is_some_and(|c| c.status
            == reg::STATUS_PAUSED
            && c.text == "暂停服务"))
        .await
    );
    hall.stop().await;
}

#[tokio::test]
async fn a_rating_key_links_to_the_finished_transaction() {
    let (hall, emu, _bus) = setup().await;
    issue(&hall, "B").await;
    emu.press(1, reg::KEY_LOGIN, 7);
    emu.press(1, reg::KEY_CALL_NEXT, 0);
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(2)
            .is_some_and(|c| c.ticket == "B001"))
        .await
    );
    // 办结 with catalogue item 8 (a withdrawal item): the rating lamp lights.
    emu.press(1, reg::KEY_FINISH, 8);
    assert!(
        until(&emu.model, LIMIT, |m| m.lamp(3) == Some(1)).await,
        "rating lamp lit"
    );
    assert_eq!(
        emu.model.read(|m| m.lamp(6)),
        Some(0),
        "only this window's keypad"
    );
    emu.press(3, 1, 0); // 满意
    assert!(
        until(&emu.model, LIMIT, |m| m.lamp(3) == Some(0)).await,
        "lamp dark after the rating"
    );
    let conn = rusqlite::Connection::open(&hall.db).unwrap();
    let (label, key, level): (String, i64, String) = conn
        .query_row(
            "SELECT t.label, r.key, r.level FROM ratings r JOIN transactions t ON t.id = r.transaction_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((label.as_str(), key, level.as_str()), ("B001", 1, "满意"));
    // A second key with no rating window open is a stray press, never a rating.
    emu.press(3, 3, 0);
    assert!(eventually(LIMIT, || hall.event_kinds().contains(&"stray_press".to_string())).await);
    let ratings: i64 = conn
        .query_row("SELECT COUNT(*) FROM ratings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ratings, 1);
    hall.stop().await;
}

#[tokio::test]
async fn garbage_crc_errors_and_other_addresses_are_counted_and_never_commands() {
    let (hall, emu, bus) = setup().await;
    issue(&hall, "A").await;
    issue(&hall, "A").await;
    emu.press(1, reg::KEY_LOGIN, 1001);
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(2)
            .is_some_and(|c| c.status == reg::STATUS_IDLE))
        .await
    );
    // The next replies come broken in every way; then one press.
    emu.model.update(|m| {
        m.faults = Faults {
            bad_crc: 2,
            wrong_address: 2,
            noise_before: 2,
        }
    });
    emu.press(1, reg::KEY_CALL_NEXT, 0);
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(2)
            .is_some_and(|c| c.ticket == "A001"))
        .await
    );
    assert!(until(&emu.model, LIMIT, |m| m.faults == Faults::default()).await);
    // Let the master poll the keypad several more times: the press must stay one call.
    let polls = emu.model.read(|m| m.requests);
    assert!(until(&emu.model, LIMIT, move |m| m.requests > polls + 20).await);
    let kinds = hall.event_kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "ticket_called").count(),
        1,
        "{kinds:?}"
    );
    let c = bus.status.lock().unwrap().counters.clone();
    assert!(c.crc_errors >= 1, "{c:?}");
    assert!(c.wrong_address >= 1, "{c:?}");
    assert!(c.garbage_bytes >= 5, "{c:?}");
    hall.stop().await;
}

#[tokio::test]
async fn a_device_that_vanishes_and_returns_is_recovered() {
    let (hall, mut emu, bus) = setup().await;
    issue(&hall, "A").await;
    // Keypad 1 and display 2 lose power.
    emu.model.update(|m| {
        m.silent.insert(1);
        m.silent.insert(2);
    });
    assert!(
        eventually(LIMIT, || {
            let k = hall.event_kinds();
            k.iter().filter(|k| *k == "device_offline").count() >= 2
        })
        .await,
        "offline events"
    );
    // The bus status (published at the end of each cycle) says the same.
    let offline = || -> Vec<String> {
        bus.status
            .lock()
            .unwrap()
            .devices
            .iter()
            .filter(|d| d.online == Some(false))
            .map(|d| d.name.clone())
            .collect()
    };
    assert!(
        eventually(LIMIT, || offline() == ["keypad@1", "display@2"]).await,
        "{:?}",
        offline()
    );
    // Meanwhile staff log in from the counter page; the display cannot show it yet.
    hall.engine
        .execute(Command::Login {
            window: 1,
            staff: "1001".into(),
        })
        .await
        .unwrap();
    // Power back: online again, the display is rewritten, a new press works.
    emu.model.update(|m| m.silent.clear());
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(2)
            .is_some_and(|c| c.status == reg::STATUS_IDLE))
        .await,
        "display rewritten on return"
    );
    assert!(
        eventually(LIMIT, || hall
            .event_kinds()
            .iter()
            .filter(|k| *k == "device_online")
            .count()
            >= 2)
        .await
    );
    emu.press(1, reg::KEY_CALL_NEXT, 0);
    assert!(
        until(&emu.model, LIMIT, |m| m
            .shown(2)
            .is_some_and(|c| c.ticket == "A001"))
        .await
    );

    // The whole bus adapter is pulled and put back.
    emu.unplug();
    assert!(
        eventually(LIMIT, || bus
            .status
            .lock()
            .unwrap()
            .devices
            .iter()
            .all(|d| d.online == Some(false)))
        .await,
        "every device offline without the adapter"
    );
    emu.replug().expect("replug");
    assert!(
        eventually(LIMIT, || bus
            .status
            .lock()
            .unwrap()
            .devices
            .iter()
            .all(|d| d.online == Some(true)))
        .await,
        "back by itself: {:?}",
        bus.status.lock().unwrap().devices
    );
    emu.press(1, reg::KEY_AWAY, 0); // 请您稍等 mid-service
    assert!(
        until(&emu.model, LIMIT, |m| m.shown(2).is_some_and(|c| c.status
            == reg::STATUS_AWAY
            && c.text == "请您稍等"))
        .await
    );
    hall.stop().await;
}
