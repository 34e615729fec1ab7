//! Events projected into query tables, inside the same transaction as the
//! event rows. The tables serve reports and look-ups; the hall state itself is
//! rebuilt from the events.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{ms, StoreError};
use crate::domain::event::TransferTarget;
use crate::domain::transaction::Outcome;
use crate::domain::Event;

pub fn project(conn: &Connection, at: DateTime<Utc>, event: &Event) -> Result<(), StoreError> {
    let at = ms(at);
    match event {
        Event::TicketIssued {
            ticket,
            ahead,
            estimated_wait_s,
        } => {
            let class = serde_json::to_value(ticket.class).expect("class serialises");
            conn.prepare_cached(
                "INSERT INTO tickets (id, day, origin_queue, number, label, class, issued_at_ms, queue, state, ahead, est_wait_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'waiting', ?9, ?10)",
            )?
            .execute(params![
                ticket.id as i64,
                ticket.day.to_string(),
                ticket.origin_queue,
                ticket.number,
                ticket.label,
                class.as_str().unwrap_or("normal"),
                ms(ticket.issued_at),
                ticket.queue,
                ahead,
                *estimated_wait_s as i64,
            ])?;
        }
        Event::TicketCalled { ticket, window, .. } => {
            conn.prepare_cached(
                "UPDATE tickets SET state = 'serving', window = ?2, called_at_ms = ?3 WHERE id = ?1",
            )?
            .execute(params![*ticket as i64, window, at])?;
        }
        Event::TicketRecalled { ticket, count, .. } => {
            conn.prepare_cached("UPDATE tickets SET recalls = ?2 WHERE id = ?1")?
                .execute(params![*ticket as i64, count])?;
        }
        Event::TicketSkipped { ticket, .. } => {
            conn.prepare_cached("UPDATE tickets SET state = 'postponed' WHERE id = ?1")?
                .execute(params![*ticket as i64])?;
        }
        Event::TicketExpired { ticket, .. } => {
            conn.prepare_cached("UPDATE tickets SET state = 'no_show', ended_at_ms = ?2 WHERE id = ?1")?
                .execute(params![*ticket as i64, at])?;
        }
        Event::TicketVoided { ticket, .. } => {
            conn.prepare_cached("UPDATE tickets SET state = 'void', ended_at_ms = ?2 WHERE id = ?1")?
                .execute(params![*ticket as i64, at])?;
        }
        Event::TicketTransferred { ticket, to, .. } => {
            let queue = match to {
                TransferTarget::Queue(q) => Some(q.clone()),
                TransferTarget::Window(_) => None,
            };
            conn.prepare_cached(
                "UPDATE tickets SET state = 'waiting', window = NULL, transfers = transfers + 1,
                 queue = COALESCE(?2, queue) WHERE id = ?1",
            )?
            .execute(params![*ticket as i64, queue])?;
        }
        Event::TransactionRecorded {
            transaction: t,
            rating_until,
        } => {
            let due = match &t.outcome {
                Outcome::Accepted { due } => Some(due.to_string()),
                _ => None,
            };
            conn.prepare_cached(
                "INSERT INTO transactions (id, ticket_id, label, queue, window, staff, started_at_ms, finished_at_ms,
                 items, outcome, outcome_detail, due_date, rating_until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                t.id as i64,
                t.ticket as i64,
                t.label,
                t.queue,
                t.window,
                t.staff,
                ms(t.started_at),
                ms(t.finished_at),
                serde_json::to_string(&t.items).expect("codes serialise"),
                t.outcome.code(),
                serde_json::to_string(&t.outcome).expect("outcome serialises"),
                due,
                ms(*rating_until),
            ])?;
            conn.prepare_cached("UPDATE tickets SET state = 'done', ended_at_ms = ?2 WHERE id = ?1")?
                .execute(params![t.ticket as i64, at])?;
        }
        Event::Rated {
            transaction,
            window,
            key,
            level,
        } => {
            conn.prepare_cached(
                "INSERT INTO ratings (transaction_id, window, key, level, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![*transaction as i64, window, key, level, at])?;
        }
        Event::Unrated { transaction, window } => {
            conn.prepare_cached(
                "INSERT INTO ratings (transaction_id, window, key, level, at_ms) VALUES (?1, ?2, NULL, NULL, ?3)",
            )?
            .execute(params![*transaction as i64, window, at])?;
        }
        Event::StaffLoggedIn { .. }
        | Event::StaffLoggedOut { .. }
        | Event::WindowPaused { .. }
        | Event::WindowResumed { .. }
        | Event::StrayPress { .. }
        | Event::PrinterChanged { .. }
        | Event::DeviceOffline { .. }
        | Event::DeviceOnline { .. }
        | Event::QueuePaused { .. }
        | Event::QueueResumed { .. } => {}
        Event::BundleApplied { bundle } => {
            // The bundles in force, merged, so that a restart rebuilds the same setup.
            let merged = match super::read_bundle(conn)? {
                Some(old) => old.merged_with(bundle),
                None => bundle.clone(),
            };
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('config_bundle', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [serde_json::to_string(&merged).expect("bundles serialise")],
            )?;
        }
    }
    Ok(())
}
