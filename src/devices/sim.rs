//! Simulated devices: the printer, counter displays, rating keypads and the
//! speaker, kept as plain state so the API and tests can see what a citizen
//! would see and hear.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::WindowNo;
use crate::engine::{Effect, EngineHandle};

/// How many printed tickets and announcements are kept for inspection.
const KEPT: usize = 50;

#[derive(Debug, Clone, Default, Serialize)]
pub struct CounterDisplay {
    pub window: WindowNo,
    /// The ticket shown, if any.
    pub ticket: Option<String>,
    /// 办理中 / 暂停服务 / 请您稍等 / 空闲 / 未开放.
    pub status: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SimDevices {
    pub counters: BTreeMap<WindowNo, CounterDisplay>,
    pub rating_lamps: BTreeMap<WindowNo, bool>,
    /// The text of the last tickets printed, newest last.
    pub printed: VecDeque<String>,
    /// The last voice calls, newest last.
    pub announced: VecDeque<String>,
    /// Effects seen in all.
    pub effects: u64,
}

impl SimDevices {
    pub fn apply(&mut self, effect: &Effect) {
        self.effects += 1;
        match effect {
            Effect::PrintTicket {
                ticket,
                queue_name,
                ahead,
                estimated_wait_s,
            } => {
                push(
                    &mut self.printed,
                    format!(
                        "{} {} 前面还有{}人 预计等候{}分钟",
                        ticket.label,
                        queue_name,
                        ahead,
                        estimated_wait_s.div_ceil(60)
                    ),
                );
            }
            Effect::ShowOnCounter { window } => {
                self.counters.insert(
                    window.number,
                    CounterDisplay {
                        window: window.number,
                        ticket: window.serving.clone(),
                        status: window.status_text.to_string(),
                    },
                );
            }
            Effect::Announce { label, window } => {
                push(&mut self.announced, format!("请{label}号到{window}号窗口办理"));
            }
            Effect::RatingKeys { window, lit } => {
                self.rating_lamps.insert(*window, *lit);
            }
            Effect::RedrawHall | Effect::KioskLamps { .. } => {}
        }
    }
}

fn push(list: &mut VecDeque<String>, s: String) {
    if list.len() == KEPT {
        list.pop_front();
    }
    list.push_back(s);
}

/// Attach the simulated devices to the engine's effects, starting from the
/// hall as it is now (after a restart the counters show what they showed
/// before). Returns their shared state.
pub async fn attach(engine: &EngineHandle) -> Arc<Mutex<SimDevices>> {
    let state = Arc::new(Mutex::new(SimDevices::default()));
    // Subscribe before reading the hall, so no change falls in between.
    let mut rx = engine.subscribe();
    if let Ok(view) = engine.view().await {
        let mut s = state.lock().expect("fresh mutex");
        for window in view.windows {
            let number = window.number;
            let lit = window.rating_open_for.is_some();
            s.apply(&Effect::ShowOnCounter { window });
            s.apply(&Effect::RatingKeys { window: number, lit });
        }
        s.effects = 0;
    }
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(effect) => {
                    tracing::debug!(?effect, "simulated device");
                    shared.lock().expect("sim devices lock").apply(&effect);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "simulated devices fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    state
}
