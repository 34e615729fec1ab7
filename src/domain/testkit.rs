//! A small hall for the domain's unit and property tests.

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};

use super::calendar::Calendar;
use super::catalog::{Catalog, Group};
use super::setup::{default_rating_levels, HallSetup, OpeningHours, QueueDef, Rules, Span, WindowDef};

pub fn catalog() -> Catalog {
    Catalog::from_toml_str(include_str!("../../config/catalog.toml")).expect("shipped catalogue parses")
}

pub fn calendar_2026() -> Calendar {
    Calendar::from_toml_str(include_str!("../../config/calendar/cn-2026.toml"))
        .expect("shipped calendar parses")
}

/// Queues A 归集, B 支取, C 贷款 (limit 50); windows 1 (绿色通道, all), 2, 3 (all), 4 (C only).
/// Open 08:30–12:00 and 13:30–17:00 Monday to Friday, Asia/Shanghai.
pub fn setup() -> HallSetup {
    let span = |a: &str, b: &str| Span {
        open: NaiveTime::parse_from_str(a, "%H:%M").unwrap(),
        close: NaiveTime::parse_from_str(b, "%H:%M").unwrap(),
    };
    let day = vec![span("08:30", "12:00"), span("13:30", "17:00")];
    let mut hours = OpeningHours::default();
    for d in 0..5 {
        hours.week[d] = day.clone();
    }
    hours.adjusted_workday = day;
    let q = |p: &str, n: &str, g: Group, limit| QueueDef {
        prefix: p.into(),
        name: n.into(),
        groups: vec![g],
        daily_limit: limit,
    };
    let all = vec!["A".to_string(), "B".to_string(), "C".to_string()];
    let w = |n, queues: &Vec<String>, green| WindowDef {
        number: n,
        name: format!("{n}号窗口"),
        queues: queues.clone(),
        green_channel: green,
        assisted: false,
        listed_order: false,
    };
    HallSetup {
        hall_id: "test".into(),
        name: "测试大厅".into(),
        phone: String::new(),
        tz: chrono_tz::Asia::Shanghai,
        queues: vec![
            q("A", "归集业务", Group::Collection, None),
            q("B", "支取业务", Group::Withdrawal, None),
            q("C", "贷款业务", Group::Loan, Some(50)),
        ],
        windows: vec![
            w(1, &all, true),
            w(2, &all, false),
            // a window that prefers loans, then withdrawals, then collections
            WindowDef {
                listed_order: true,
                ..w(3, &vec!["C".to_string(), "B".to_string(), "A".to_string()], false)
            },
            w(4, &vec!["C".to_string()], false),
        ],
        rules: Rules::default(),
        rating_levels: default_rating_levels(),
        hours,
        calendar: calendar_2026(),
        catalog: catalog(),
        notices: Vec::new(),
        staff: None,
        bundle_version: 0,
    }
}

/// The same hall open round the clock every day (for long random runs).
pub fn setup_always_open() -> HallSetup {
    let mut s = setup();
    let all_day = vec![Span {
        open: NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
        close: NaiveTime::from_hms_opt(23, 59, 59).unwrap(),
    }];
    for d in 0..7 {
        s.hours.week[d] = all_day.clone();
    }
    s.calendar = Calendar::weekends_only();
    s
}

pub fn shared(s: HallSetup) -> Arc<HallSetup> {
    Arc::new(s)
}

/// A local time in Asia/Shanghai as UTC.
pub fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}
