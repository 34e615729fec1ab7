//! The call rules (叫号规则): which waiting ticket a window calls next.
//!
//! Priority tickets (绿色通道, then appointments) go before normal ones, oldest
//! first within a class. Anti-starvation: once a window has made
//! `priority_streak_max` priority calls in a row, a normal ticket that has
//! waited at least `normal_wait_max` is called next instead, so normal tickets
//! cannot wait for ever. A 绿色通道 window is exempt: it always takes priority first.
//!
//! Within a class a window calls the oldest ticket across its queues (一窗受理),
//! unless it prefers its queues in the order listed: then its first queue goes
//! first, oldest first within a queue. The anti-starvation switch always takes
//! the normal ticket that has waited longest.

use chrono::{DateTime, Utc};

use super::setup::Rules;
use super::ticket::Ticket;

/// Pick the next ticket among `candidates` (the waiting tickets this window
/// may call). `preference` ranks a ticket's queue for this window (0 first;
/// the same for every ticket when the window takes the oldest first).
pub fn choose_next<'a>(
    candidates: impl IntoIterator<Item = &'a Ticket>,
    preference: impl Fn(&Ticket) -> usize,
    streak: u32,
    green_channel: bool,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Option<&'a Ticket> {
    let key = |t: &Ticket| (t.class.rank(), preference(t), t.issued_at, t.id);
    let mut best: Option<&Ticket> = None;
    let mut oldest_normal: Option<&Ticket> = None;
    for t in candidates {
        if best.is_none_or(|b| key(t) < key(b)) {
            best = Some(t);
        }
        if !t.class.is_priority() && oldest_normal.is_none_or(|n| t.order_key() < n.order_key()) {
            oldest_normal = Some(t);
        }
    }
    let best = best?;
    if best.class.is_priority() && !green_channel && streak >= rules.priority_streak_max {
        if let Some(normal) = oldest_normal {
            if starving(normal, rules, now) {
                return Some(normal);
            }
        }
    }
    Some(best)
}

/// Whether a normal ticket has waited long enough to beat the priority streak.
pub fn starving(ticket: &Ticket, rules: &Rules, now: DateTime<Utc>) -> bool {
    !ticket.class.is_priority() && now - ticket.issued_at >= rules.normal_wait_max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{TicketClass, TicketState};
    use chrono::{Duration, NaiveDate, TimeZone};

    fn t(id: u64, class: TicketClass, minutes_ago: i64, now: DateTime<Utc>) -> Ticket {
        Ticket {
            id,
            label: format!("A{id:03}"),
            origin_queue: "A".into(),
            number: id as u32,
            day: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
            class,
            issued_at: now - Duration::minutes(minutes_ago),
            queue: "A".into(),
            target_window: None,
            state: TicketState::Waiting,
            called_at: None,
            recalls: 0,
            transfers: 0,
        }
    }

    #[test]
    fn priority_first_then_oldest() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap();
        let rules = Rules::default();
        let ts = [
            t(1, TicketClass::Normal, 30, now),
            t(2, TicketClass::Priority, 1, now),
            t(3, TicketClass::Appointment, 5, now),
        ];
        assert_eq!(choose_next(&ts, |_| 0, 0, false, &rules, now).unwrap().id, 2);
        assert_eq!(choose_next(&ts[..1], |_| 0, 0, false, &rules, now).unwrap().id, 1);
        assert_eq!(choose_next(&ts[1..], |_| 0, 0, false, &rules, now).unwrap().id, 2);
        assert!(choose_next(&[], |_| 0, 0, false, &rules, now).is_none());
    }

    #[test]
    fn starving_normal_beats_a_long_priority_streak() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 2, 0, 0).unwrap();
        let rules = Rules::default();
        let ts = [
            t(1, TicketClass::Normal, 25, now),
            t(2, TicketClass::Priority, 1, now),
        ];
        assert_eq!(choose_next(&ts, |_| 0, 2, false, &rules, now).unwrap().id, 2);
        assert_eq!(choose_next(&ts, |_| 0, 3, false, &rules, now).unwrap().id, 1);
        // a green-channel window keeps priority first
        assert_eq!(choose_next(&ts, |_| 0, 3, true, &rules, now).unwrap().id, 2);
        // a normal ticket that has not waited long enough does not jump
        let fresh = [
            t(1, TicketClass::Normal, 5, now),
            t(2, TicketClass::Priority, 1, now),
        ];
        assert_eq!(choose_next(&fresh, |_| 0, 9, false, &rules, now).unwrap().id, 2);
    }
}
