//! The hall's configuration file (TOML). Bad configuration stops start-up with
//! the file, the key and what is wrong; every problem is reported at once.
//!
//! `config/example.toml` documents every key.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, NaiveTime};
use serde::Deserialize;

use crate::domain::calendar::Calendar;
use crate::domain::catalog::{Catalog, Group};
use crate::domain::setup::{
    default_rating_levels, HallSetup, OpeningHours, QueueDef, RatingLevel, Rules, Span, WindowDef,
};
use crate::sync::wire::MAX_BATCH;
use crate::sync::{Secret, SyncConfig};

/// One thing wrong in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// The key at fault, e.g. `windows[2].number`, or `line 14, column 3`.
    pub key: String,
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.problem)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Invalid(p) => p.clone(),
            ConfigError::Read { file, source } => vec![Problem {
                file: file.clone(),
                key: "-".into(),
                problem: source.to_string(),
            }],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    hall: RawHall,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    data: RawData,
    hours: RawHours,
    #[serde(default)]
    rules: RawRules,
    #[serde(default)]
    rating: RawRating,
    #[serde(default)]
    queues: Vec<RawQueue>,
    #[serde(default)]
    windows: Vec<RawWindow>,
    #[serde(default)]
    devices: crate::devices::config::RawDevices,
    sync: Option<RawSync>,
    display: Option<crate::display::RawDisplay>,
    voice: Option<crate::voice::RawVoice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    centre: String,
    token_file: PathBuf,
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    #[serde(default = "d_sync_batch")]
    batch: u32,
    #[serde(default = "d_backoff_max")]
    backoff_max_seconds: u32,
    #[serde(default = "d_alert_after")]
    alert_after_seconds: u32,
    #[serde(default = "d_bundle_poll")]
    bundle_poll_seconds: u32,
}

fn d_sync_batch() -> u32 {
    500
}
fn d_backoff_max() -> u32 {
    300
}
fn d_alert_after() -> u32 {
    3600
}
fn d_bundle_poll() -> u32 {
    300
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHall {
    id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) phone: String,
    #[serde(default = "default_tz")]
    timezone: String,
}

fn default_tz() -> String {
    "Asia/Shanghai".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default = "default_db")]
    database: PathBuf,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            database: default_db(),
        }
    }
}

fn default_db() -> PathBuf {
    PathBuf::from("hallq.db")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    #[serde(default = "default_listen")]
    listen: String,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:7400".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    #[serde(default = "default_catalog")]
    catalog: PathBuf,
    #[serde(default = "default_calendars")]
    calendars: Vec<PathBuf>,
}

impl Default for RawData {
    fn default() -> Self {
        RawData {
            catalog: default_catalog(),
            calendars: default_calendars(),
        }
    }
}

fn default_catalog() -> PathBuf {
    PathBuf::from("catalog.toml")
}

fn default_calendars() -> Vec<PathBuf> {
    vec![PathBuf::from("calendar/cn-2026.toml")]
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHours {
    #[serde(default)]
    mon: Vec<String>,
    #[serde(default)]
    tue: Vec<String>,
    #[serde(default)]
    wed: Vec<String>,
    #[serde(default)]
    thu: Vec<String>,
    #[serde(default)]
    fri: Vec<String>,
    #[serde(default)]
    sat: Vec<String>,
    #[serde(default)]
    sun: Vec<String>,
    adjusted_workday: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default = "d_streak")]
    priority_streak_max: u32,
    #[serde(default = "d_normal_wait")]
    normal_wait_max_minutes: u32,
    #[serde(default = "d_hold")]
    no_show_hold_minutes: u32,
    #[serde(default = "d_service")]
    default_service_minutes: u32,
    #[serde(default = "d_recent")]
    recent_services: u32,
    #[serde(default = "d_digits")]
    number_digits: u8,
}

fn d_streak() -> u32 {
    3
}
fn d_normal_wait() -> u32 {
    20
}
fn d_hold() -> u32 {
    30
}
fn d_service() -> u32 {
    6
}
fn d_recent() -> u32 {
    20
}
fn d_digits() -> u8 {
    3
}

impl Default for RawRules {
    fn default() -> Self {
        RawRules {
            priority_streak_max: d_streak(),
            normal_wait_max_minutes: d_normal_wait(),
            no_show_hold_minutes: d_hold(),
            default_service_minutes: d_service(),
            recent_services: d_recent(),
            number_digits: d_digits(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRating {
    #[serde(default = "d_rating_window")]
    window_seconds: u32,
    #[serde(default)]
    levels: Vec<RawLevel>,
}

fn d_rating_window() -> u32 {
    30
}

impl Default for RawRating {
    fn default() -> Self {
        RawRating {
            window_seconds: d_rating_window(),
            levels: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    key: u8,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    prefix: String,
    name: String,
    #[serde(default = "d_groups")]
    groups: Vec<String>,
    daily_limit: Option<u32>,
}

fn d_groups() -> Vec<String> {
    vec!["综合".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    number: u16,
    name: Option<String>,
    queues: Option<Vec<String>>,
    #[serde(default)]
    green_channel: bool,
    #[serde(default)]
    assisted: bool,
    /// "oldest_first" (default) or "listed".
    order: Option<String>,
}

/// A loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    pub setup: Arc<HallSetup>,
    /// The SQLite database (relative paths are relative to the config file).
    pub database: PathBuf,
    pub listen: SocketAddr,
    /// Which backend drives each device (simulated when left out).
    pub devices: crate::devices::config::Devices,
    /// Sync to the centre; `None` when the file has no `[sync]` table.
    pub sync: Option<SyncConfig>,
    /// The waiting-hall display (`[display]`); None when off or left out.
    pub display: Option<crate::display::DisplaySettings>,
    /// Voice calls (`[voice]`); None when off or left out.
    pub voice: Option<crate::voice::VoiceSettings>,
}

impl Config {
    /// Read and check a configuration file, and the catalogue and calendar files it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::from_str_at(&text, path)
    }

    /// Check configuration text as if it were the file at `path` (other files
    /// are looked up relative to it).
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut c = Checker {
            file: path.to_path_buf(),
            problems: Vec::new(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let key = e
                    .span()
                    .map(|s| line_col(text, s.start))
                    .unwrap_or_else(|| "-".into());
                c.add(key, e.message().to_string());
                return Err(ConfigError::Invalid(c.problems));
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        // [hall]
        let id = raw.hall.id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            c.add(
                "hall.id",
                "must be letters, digits, '-' or '_' (it names the hall at the centre)",
            );
        }
        if raw.hall.name.trim().is_empty() {
            c.add("hall.name", "must not be empty (it is printed on every ticket)");
        }
        let tz: Option<chrono_tz::Tz> = match raw.hall.timezone.parse() {
            Ok(tz) => Some(tz),
            Err(_) => {
                c.add(
                    "hall.timezone",
                    format!(
                        "unknown time zone `{}` (use an IANA name such as Asia/Shanghai)",
                        raw.hall.timezone
                    ),
                );
                None
            }
        };

        // [api]
        let listen = match raw.api.listen.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                c.add(
                    "api.listen",
                    format!(
                        "`{}` is not an address:port such as 127.0.0.1:7400",
                        raw.api.listen
                    ),
                );
                None
            }
        };

        // [data]
        let catalog_path = resolve(&raw.data.catalog);
        let catalog = match std::fs::read_to_string(&catalog_path) {
            Ok(t) => match Catalog::from_toml_str(&t) {
                Ok(cat) => Some(cat),
                Err(e) => {
                    c.problems.push(Problem {
                        file: catalog_path.clone(),
                        key: "item".into(),
                        problem: e.to_string(),
                    });
                    None
                }
            },
            Err(e) => {
                c.add(
                    "data.catalog",
                    format!("cannot read {}: {e}", catalog_path.display()),
                );
                None
            }
        };
        let mut calendar = Calendar::weekends_only();
        for (i, p) in raw.data.calendars.iter().enumerate() {
            let cal_path = resolve(p);
            match std::fs::read_to_string(&cal_path) {
                Ok(t) => match Calendar::from_toml_str(&t) {
                    Ok(cal) => calendar.merge(cal),
                    Err(e) => c.problems.push(Problem {
                        file: cal_path.clone(),
                        key: "holiday".into(),
                        problem: e.to_string(),
                    }),
                },
                Err(e) => c.add(
                    format!("data.calendars[{i}]"),
                    format!("cannot read {}: {e}", cal_path.display()),
                ),
            }
        }

        // [hours]
        let h = &raw.hours;
        let mut hours = OpeningHours::default();
        for (i, (name, spans)) in [
            ("mon", &h.mon),
            ("tue", &h.tue),
            ("wed", &h.wed),
            ("thu", &h.thu),
            ("fri", &h.fri),
            ("sat", &h.sat),
            ("sun", &h.sun),
        ]
        .into_iter()
        .enumerate()
        {
            hours.week[i] = c.spans(&format!("hours.{name}"), spans);
        }
        hours.adjusted_workday = match &h.adjusted_workday {
            Some(s) => c.spans("hours.adjusted_workday", s),
            None => hours.week[0].clone(),
        };
        if hours.week.iter().all(Vec::is_empty) {
            c.add(
                "hours",
                "the hall is never open: give opening hours for at least one weekday",
            );
        }

        // [rules]
        let r = &raw.rules;
        if !(1..=240).contains(&r.normal_wait_max_minutes) {
            c.add("rules.normal_wait_max_minutes", "must be 1–240");
        }
        if !(1..=480).contains(&r.no_show_hold_minutes) {
            c.add("rules.no_show_hold_minutes", "must be 1–480");
        }
        if !(1..=240).contains(&r.default_service_minutes) {
            c.add("rules.default_service_minutes", "must be 1–240");
        }
        if !(1..=200).contains(&r.recent_services) {
            c.add("rules.recent_services", "must be 1–200");
        }
        if !(2..=4).contains(&r.number_digits) {
            c.add("rules.number_digits", "must be 2–4");
        }
        if !(5..=600).contains(&raw.rating.window_seconds) {
            c.add("rating.window_seconds", "must be 5–600 seconds");
        }

        // [rating]
        let levels: Vec<RatingLevel> = if raw.rating.levels.is_empty() {
            default_rating_levels()
        } else {
            let mut seen = BTreeSet::new();
            for (i, l) in raw.rating.levels.iter().enumerate() {
                if !(1..=9).contains(&l.key) {
                    c.add(
                        format!("rating.levels[{i}].key"),
                        "must be 1–9 (a key on the keypad)",
                    );
                }
                if !seen.insert(l.key) {
                    c.add(
                        format!("rating.levels[{i}].key"),
                        format!("key {} is used twice", l.key),
                    );
                }
                if l.name.trim().is_empty() {
                    c.add(format!("rating.levels[{i}].name"), "must not be empty");
                }
            }
            if raw.rating.levels.len() < 2 {
                c.add("rating.levels", "give at least two levels");
            }
            raw.rating
                .levels
                .iter()
                .map(|l| RatingLevel {
                    key: l.key,
                    name: l.name.trim().to_string(),
                })
                .collect()
        };

        // [[queues]]
        if raw.queues.is_empty() {
            c.add("queues", "define at least one [[queues]]");
        }
        let mut prefixes = BTreeSet::new();
        let mut queues = Vec::new();
        for (i, q) in raw.queues.iter().enumerate() {
            let prefix = q.prefix.trim().to_string();
            if prefix.len() != 1 || !prefix.chars().all(|ch| ch.is_ascii_uppercase()) {
                c.add(
                    format!("queues[{i}].prefix"),
                    format!("`{}` must be one capital letter A–Z", q.prefix),
                );
            } else if !prefixes.insert(prefix.clone()) {
                c.add(
                    format!("queues[{i}].prefix"),
                    format!("prefix {prefix} is used by two queues"),
                );
            }
            if q.name.trim().is_empty() {
                c.add(
                    format!("queues[{i}].name"),
                    "must not be empty (it is on the kiosk button)",
                );
            }
            let mut groups = Vec::new();
            for g in &q.groups {
                match g.trim() {
                    "综合" => groups.extend(Group::ALL),
                    other => match Group::from_chinese(other) {
                        Some(grp) => groups.push(grp),
                        None => c.add(
                            format!("queues[{i}].groups"),
                            format!("unknown group `{other}` (use 归集, 支取, 贷款 or 综合)"),
                        ),
                    },
                }
            }
            groups.sort();
            groups.dedup();
            if q.daily_limit == Some(0) {
                c.add(
                    format!("queues[{i}].daily_limit"),
                    "must be at least 1, or left out for no limit",
                );
            }
            queues.push(QueueDef {
                prefix,
                name: q.name.trim().to_string(),
                groups,
                daily_limit: q.daily_limit,
            });
        }

        // [[windows]]
        if raw.windows.is_empty() {
            c.add("windows", "define at least one [[windows]]");
        }
        let mut numbers = BTreeSet::new();
        let mut windows = Vec::new();
        for (i, w) in raw.windows.iter().enumerate() {
            if w.number == 0 {
                c.add(format!("windows[{i}].number"), "window numbers start at 1");
            } else if !numbers.insert(w.number) {
                c.add(
                    format!("windows[{i}].number"),
                    format!("window {} is defined twice", w.number),
                );
            }
            let serves: Vec<String> = match &w.queues {
                None => queues.iter().map(|q| q.prefix.clone()).collect(),
                Some(list) => {
                    if list.is_empty() {
                        c.add(
                            format!("windows[{i}].queues"),
                            "lists no queue: leave it out to serve every queue",
                        );
                    }
                    let mut out = Vec::new();
                    for p in list {
                        let p = p.trim().to_string();
                        if !prefixes.contains(&p) {
                            c.add(
                                format!("windows[{i}].queues"),
                                format!("no queue with prefix `{p}`"),
                            );
                        } else if out.contains(&p) {
                            c.add(
                                format!("windows[{i}].queues"),
                                format!("queue {p} is listed twice"),
                            );
                        } else {
                            out.push(p);
                        }
                    }
                    out
                }
            };
            let listed_order = match w.order.as_deref().map(str::trim) {
                None | Some("oldest_first") => false,
                Some("listed") => true,
                Some(other) => {
                    c.add(
                        format!("windows[{i}].order"),
                        format!("`{other}` is not an order: use \"oldest_first\" or \"listed\""),
                    );
                    false
                }
            };
            windows.push(WindowDef {
                number: w.number,
                name: w.name.clone().unwrap_or_else(|| format!("{}号窗口", w.number)),
                queues: serves,
                green_channel: w.green_channel,
                assisted: w.assisted,
                listed_order,
            });
        }
        for q in &queues {
            if !windows.iter().any(|w| w.queues.contains(&q.prefix)) {
                c.add(
                    "windows",
                    format!(
                        "no window serves queue {} ({}): its tickets could never be called",
                        q.prefix, q.name
                    ),
                );
            }
        }

        // [devices]
        let (devices, device_problems) = crate::devices::config::check(&raw.devices, &queues, &windows);
        for (key, problem) in device_problems {
            c.add(key, problem);
        }
        // [sync]
        let sync = raw.sync.as_ref().and_then(|s| c.sync(s, &resolve));

        // [display], and the names it shows
        let display = match &raw.display {
            Some(d) => {
                let (settings, mut problems) = d.check(resolve);
                if settings.is_some() {
                    problems.extend(crate::display::check_names(&raw.hall, &queues, &windows));
                }
                for (key, problem) in problems {
                    c.add(key, problem);
                }
                settings
            }
            None => None,
        };

        // [voice]
        let voice = match &raw.voice {
            Some(v) => {
                let (settings, problems) = v.check(resolve);
                for (key, problem) in problems {
                    c.add(key, problem);
                }
                settings
            }
            None => None,
        };

        if !c.problems.is_empty() {
            return Err(ConfigError::Invalid(c.problems));
        }
        let (Some(tz), Some(listen), Some(catalog)) = (tz, listen, catalog) else {
            unreachable!("every None above recorded a problem")
        };
        let rules = Rules {
            priority_streak_max: r.priority_streak_max,
            normal_wait_max: Duration::minutes(r.normal_wait_max_minutes.into()),
            no_show_hold: Duration::minutes(r.no_show_hold_minutes.into()),
            rating_window: Duration::seconds(raw.rating.window_seconds.into()),
            default_service: Duration::minutes(r.default_service_minutes.into()),
            recent_services: r.recent_services as usize,
            number_digits: r.number_digits,
        };
        Ok(Config {
            file: path.to_path_buf(),
            database: resolve(&raw.store.database),
            listen,
            devices,
            sync,
            setup: Arc::new(HallSetup {
                hall_id: id.to_string(),
                name: raw.hall.name.trim().to_string(),
                phone: raw.hall.phone.trim().to_string(),
                tz,
                queues,
                windows,
                rules,
                rating_levels: levels,
                hours,
                calendar,
                catalog,
                notices: Vec::new(),
                staff: None,
                bundle_version: 0,
            }),
            display,
            voice,
        })
    }
}

struct Checker {
    file: PathBuf,
    problems: Vec<Problem>,
}

impl Checker {
    fn add(&mut self, key: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            key: key.into(),
            problem: problem.into(),
        });
    }

    /// Check `[sync]` and read the token file; `None` after recording problems.
    fn sync(&mut self, s: &RawSync, resolve: &dyn Fn(&Path) -> PathBuf) -> Option<SyncConfig> {
        let before = self.problems.len();
        let centre = s.centre.trim().trim_end_matches('/').to_string();
        let rest = centre
            .strip_prefix("https://")
            .or_else(|| centre.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') => {
                // The token travels in every request: in clear only on this machine.
                let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
                let loopback = matches!(name, "localhost" | "[::1]") || name.starts_with("127.");
                if centre.starts_with("http://") && !loopback {
                    self.add(
                        "sync.centre",
                        format!(
                            "`{}` would send the hall's token unencrypted: use https:// (http:// only to 127.0.0.1 or localhost)",
                            s.centre
                        ),
                    );
                }
            }
            _ => self.add(
                "sync.centre",
                format!("`{}` is not a URL like https://centre.example:7443", s.centre),
            ),
        }
        let token_path = resolve(&s.token_file);
        let token = match std::fs::read_to_string(&token_path) {
            Ok(t) if !t.trim().is_empty() => Some(Secret::new(t.trim().to_string())),
            Ok(_) => {
                self.add(
                    "sync.token_file",
                    format!(
                        "{} is empty: put the hall's token from `hallq-central hall add` in it",
                        token_path.display()
                    ),
                );
                None
            }
            Err(e) => {
                self.add(
                    "sync.token_file",
                    format!("cannot read {}: {e}", token_path.display()),
                );
                None
            }
        };
        let ca_file = s.ca_file.as_deref().map(resolve);
        if let Some(ca) = &ca_file {
            if let Err(e) = std::fs::metadata(ca) {
                self.add("sync.ca_file", format!("cannot read {}: {e}", ca.display()));
            }
        }
        let client_cert = match (&s.client_cert_file, &s.client_key_file) {
            (None, None) => None,
            (Some(c), Some(k)) => {
                let (c, k) = (resolve(c), resolve(k));
                for (key, p) in [("sync.client_cert_file", &c), ("sync.client_key_file", &k)] {
                    if let Err(e) = std::fs::metadata(p) {
                        self.add(key, format!("cannot read {}: {e}", p.display()));
                    }
                }
                Some((c, k))
            }
            _ => {
                self.add(
                    "sync.client_cert_file",
                    "give both client_cert_file and client_key_file for mutual TLS, or neither",
                );
                None
            }
        };
        if !(1..=MAX_BATCH as u32).contains(&s.batch) {
            self.add("sync.batch", format!("must be 1–{MAX_BATCH}"));
        }
        if !(1..=3600).contains(&s.backoff_max_seconds) {
            self.add("sync.backoff_max_seconds", "must be 1–3600");
        }
        if !(1..=2_592_000).contains(&s.alert_after_seconds) {
            self.add("sync.alert_after_seconds", "must be 1–2592000 (30 days)");
        }
        if !(1..=86400).contains(&s.bundle_poll_seconds) {
            self.add("sync.bundle_poll_seconds", "must be 1–86400");
        }
        if self.problems.len() > before {
            return None;
        }
        Some(SyncConfig {
            centre,
            token: token?,
            ca_file,
            client_cert,
            batch: s.batch as usize,
            backoff_max: std::time::Duration::from_secs(s.backoff_max_seconds.into()),
            alert_after: std::time::Duration::from_secs(s.alert_after_seconds.into()),
            bundle_poll: std::time::Duration::from_secs(s.bundle_poll_seconds.into()),
        })
    }

    /// Parse `["08:30-12:00", "13:30-17:00"]`: each span open < close, in order, not overlapping.
    fn spans(&mut self, key: &str, raw: &[String]) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let parsed = s.split_once('-').and_then(|(a, b)| {
                Some((
                    NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?,
                    NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?,
                ))
            });
            match parsed {
                None => self.add(
                    format!("{key}[{i}]"),
                    format!("`{s}` is not a span like 08:30-12:00"),
                ),
                Some((open, close)) if open >= close => {
                    self.add(format!("{key}[{i}]"), format!("`{s}` closes before it opens"))
                }
                Some((open, close)) => {
                    if let Some(prev) = out.last() {
                        if open < prev.close {
                            self.add(
                                format!("{key}[{i}]"),
                                format!("`{s}` overlaps or precedes the span before it"),
                            );
                        }
                    }
                    out.push(Span { open, close });
                }
            }
        }
        out
    }
}

/// `line L, column C` (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {col}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// A small valid hall: two queues, window 1 serves both, window 2 only B.
    fn base() -> String {
        format!(
            r#"[hall]
id = "test-hall"
name = "测试大厅"

[store]
database = "db/hall.db"

[data]
catalog = "{catalog}"
calendars = []

[hours]
mon = ["08:30-12:00", "13:30-17:00"]
fri = ["08:30-12:00"]

[[queues]]
prefix = "A"
name = "归集业务"
groups = ["归集"]

[[queues]]
prefix = "B"
name = "支取业务"

[[windows]]
number = 1

[[windows]]
number = 2
queues = ["B"]
"#,
            catalog = repo("config/catalog.toml").display()
        )
    }

    /// Check `text` as `hall.toml` in a fresh folder.
    fn check(text: &str) -> (tempfile::TempDir, PathBuf, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hall.toml");
        let r = Config::from_str_at(text, &path);
        (dir, path, r)
    }

    /// The problems of an invalid `text`; each must name the file.
    fn problems(text: &str) -> Vec<Problem> {
        let (_dir, path, r) = check(text);
        let e = r.expect_err("configuration should be rejected");
        let ps = e.problems();
        assert!(!ps.is_empty());
        for p in &ps {
            assert_eq!(p.file, path, "{p}");
        }
        ps
    }

    fn find<'a>(ps: &'a [Problem], key: &str) -> &'a Problem {
        ps.iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no problem at `{key}` in {ps:#?}"))
    }

    fn replace(text: &str, from: &str, to: &str) -> String {
        assert!(text.contains(from), "`{from}` not in the base config");
        text.replacen(from, to, 1)
    }

    #[test]
    fn demo_config_loads() {
        let c = Config::load(&repo("config/demo.toml")).unwrap_or_else(|e| panic!("{e}"));
        let s = &c.setup;
        assert_eq!(s.hall_id, "demo-hall");
        assert_eq!(s.queues.len(), 3);
        assert_eq!(s.windows.len(), 6);
        assert_eq!(s.catalog.len(), 34);
        assert_eq!(s.queue("C").and_then(|q| q.daily_limit), Some(200));
        assert_eq!(s.window(5).unwrap().queues, ["C", "A", "B"]);
        assert_eq!(s.window(6).unwrap().name, "帮办代办窗口");
        assert!(s.window(1).unwrap().green_channel);
        // Relative to the config folder, not the working directory.
        assert_eq!(c.database, repo("config/../target/demo/hallq-demo.db"));
        assert_eq!(c.listen, "127.0.0.1:7400".parse().unwrap());
    }

    #[test]
    fn example_config_loads() {
        let c = Config::load(&repo("config/example.toml")).unwrap_or_else(|e| panic!("{e}"));
        let s = &c.setup;
        assert_eq!(s.hall_id, "heze-mudan-01");
        assert_eq!(
            s.queues.iter().map(|q| q.prefix.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C", "Z"]
        );
        assert_eq!(s.windows.len(), 5);
        assert_eq!(s.window(4).unwrap().queues, ["C", "Z"]);
        assert_eq!(s.window(2).unwrap().name, "2号窗口");
        assert_eq!(s.rating_levels.len(), 3);
        assert_eq!(s.hours.week[0].len(), 2);
        assert!(s.hours.week[5].is_empty() && s.hours.week[6].is_empty());
        assert_eq!(s.hours.adjusted_workday, s.hours.week[0]);
        assert_eq!(s.queue("Z").unwrap().groups, Group::ALL.to_vec());
        assert_eq!(c.database, PathBuf::from("/var/lib/hallq/hall.db"));
    }

    #[test]
    fn base_config_loads_with_defaults() {
        let (dir, path, r) = check(&base());
        let c = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.file, path);
        assert_eq!(c.setup.tz, chrono_tz::Asia::Shanghai);
        assert_eq!(c.listen, "127.0.0.1:7400".parse().unwrap());
        assert_eq!(c.setup.rules, Rules::default());
        assert_eq!(c.setup.rating_levels, default_rating_levels());
        assert_eq!(c.setup.window(1).unwrap().queues, ["A", "B"]);
        assert!(c.setup.hours.week[1].is_empty(), "tuesday left out is closed");
        assert_eq!(c.setup.hours.adjusted_workday, c.setup.hours.week[0]);
        assert_eq!(c.database, dir.path().join("db/hall.db"));
    }

    #[test]
    fn relative_database_path_is_resolved_against_the_config_folder() {
        let (dir, _, r) = check(&replace(&base(), "db/hall.db", "../data/q.db"));
        assert_eq!(r.unwrap().database, dir.path().join("../data/q.db"));
        let (_dir, _, r) = check(&replace(&base(), "db/hall.db", "/var/lib/hallq/hall.db"));
        assert_eq!(r.unwrap().database, PathBuf::from("/var/lib/hallq/hall.db"));
        // Left out: hallq.db beside the file.
        let (dir, _, r) = check(&replace(&base(), "[store]\ndatabase = \"db/hall.db\"\n", ""));
        assert_eq!(r.unwrap().database, dir.path().join("hallq.db"));
    }

    #[test]
    fn unknown_key_names_line_column_and_key() {
        let text = replace(
            &base(),
            "name = \"测试大厅\"\n",
            "name = \"测试大厅\"\ncolour = \"red\"\n",
        );
        let ps = problems(&text);
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(ps[0].key, "line 4, column 1");
        assert!(ps[0].problem.contains("colour"), "{}", ps[0].problem);

        // Deeper in the file, indented.
        let text = replace(&base(), "number = 2\n", "number = 2\n  queus = [\"A\"]\n");
        let line = text.lines().position(|l| l.contains("queus")).unwrap() + 1;
        let ps = problems(&text);
        assert_eq!(ps[0].key, format!("line {line}, column 3"));
        assert!(ps[0].problem.contains("queus"), "{}", ps[0].problem);

        // An unknown table.
        let ps = problems(&format!("{}\n[printer]\nmodel = \"x\"\n", base()));
        assert!(ps[0].problem.contains("printer"), "{}", ps[0].problem);
        assert!(ps[0].key.starts_with("line "), "{}", ps[0].key);
    }

    #[test]
    fn window_order_is_oldest_first_or_listed() {
        let (_dir, path, _) = check(&base());
        let c = Config::from_str_at(&base(), &path).unwrap();
        assert!(c.setup.windows.iter().all(|w| !w.listed_order));
        let listed = replace(&base(), "number = 2", "number = 2\norder = \"listed\"");
        let c = Config::from_str_at(&listed, &path).unwrap();
        assert!(c.setup.windows[1].listed_order);
        let ps = problems(&replace(&base(), "number = 2", "number = 2\norder = \"fastest\""));
        assert!(find(&ps, "windows[1].order").problem.contains("fastest"));
    }

    #[test]
    fn duplicate_window_number() {
        let ps = problems(&replace(&base(), "number = 2", "number = 1"));
        let p = find(&ps, "windows[1].number");
        assert!(p.problem.contains("window 1 is defined twice"), "{p}");
        let ps = problems(&replace(&base(), "number = 2", "number = 0"));
        assert!(find(&ps, "windows[1].number").problem.contains("start at 1"));
    }

    #[test]
    fn queue_no_window_serves() {
        let text = replace(&base(), "number = 1\n", "number = 1\nqueues = [\"B\"]\n");
        let ps = problems(&text);
        assert_eq!(ps.len(), 1, "{ps:#?}");
        let p = find(&ps, "windows");
        assert!(p.problem.contains("no window serves queue A"), "{p}");
    }

    #[test]
    fn window_serving_unknown_queue() {
        let ps = problems(&replace(&base(), "queues = [\"B\"]", "queues = [\"B\", \"Z\"]"));
        assert!(find(&ps, "windows[1].queues")
            .problem
            .contains("no queue with prefix `Z`"));
        let ps = problems(&replace(&base(), "queues = [\"B\"]", "queues = [\"B\", \"B\"]"));
        assert!(find(&ps, "windows[1].queues").problem.contains("listed twice"));
        let ps = problems(&replace(&base(), "queues = [\"B\"]", "queues = []"));
        assert!(find(&ps, "windows[1].queues").problem.contains("lists no queue"));
    }

    #[test]
    fn bad_hours() {
        let mon = "mon = [\"08:30-12:00\", \"13:30-17:00\"]";
        let ps = problems(&replace(&base(), mon, "mon = [\"17:00-08:30\"]"));
        assert!(find(&ps, "hours.mon[0]")
            .problem
            .contains("closes before it opens"));

        let ps = problems(&replace(&base(), mon, "mon = [\"8:30\"]"));
        assert!(find(&ps, "hours.mon[0]")
            .problem
            .contains("not a span like 08:30-12:00"));

        let ps = problems(&replace(&base(), mon, "mon = [\"08:30-25:00\"]"));
        find(&ps, "hours.mon[0]");

        let ps = problems(&replace(&base(), mon, "mon = [\"08:30-12:00\", \"11:00-17:00\"]"));
        assert!(find(&ps, "hours.mon[1]").problem.contains("overlaps"));

        let ps = problems(&replace(
            &base(),
            "fri = [\"08:30-12:00\"]",
            "adjusted_workday = [\"x\"]",
        ));
        find(&ps, "hours.adjusted_workday[0]");

        let text = replace(&base(), mon, "mon = []");
        let ps = problems(&replace(&text, "fri = [\"08:30-12:00\"]", "fri = []"));
        assert!(find(&ps, "hours").problem.contains("never open"));
    }

    #[test]
    fn bad_timezone() {
        let text = replace(
            &base(),
            "name = \"测试大厅\"\n",
            "name = \"测试大厅\"\ntimezone = \"Asia/Beijing\"\n",
        );
        let ps = problems(&text);
        assert!(find(&ps, "hall.timezone").problem.contains("Asia/Beijing"));
        // A real zone other than the default is fine.
        let text = replace(
            &base(),
            "name = \"测试大厅\"\n",
            "name = \"测试大厅\"\ntimezone = \"Asia/Urumqi\"\n",
        );
        let (_dir, _, r) = check(&text);
        assert_eq!(r.unwrap().setup.tz, chrono_tz::Asia::Urumqi);
    }

    #[test]
    fn bad_prefix() {
        for bad in ["AB", "a", "1", "", "甲"] {
            let ps = problems(&replace(
                &base(),
                "prefix = \"A\"",
                &format!("prefix = \"{bad}\""),
            ));
            let p = find(&ps, "queues[0].prefix");
            assert!(p.problem.contains("one capital letter"), "{bad}: {p}");
        }
    }

    #[test]
    fn duplicate_prefix() {
        let ps = problems(&replace(&base(), "prefix = \"B\"", "prefix = \"A\""));
        assert!(find(&ps, "queues[1].prefix")
            .problem
            .contains("prefix A is used by two queues"));
    }

    #[test]
    fn rating_levels() {
        let levels =
            "\n[[rating.levels]]\nkey = 1\nname = \"好\"\n[[rating.levels]]\nkey = 1\nname = \"差\"\n";
        let ps = problems(&format!("{}{levels}", base()));
        assert!(find(&ps, "rating.levels[1].key")
            .problem
            .contains("key 1 is used twice"));

        let levels =
            "\n[[rating.levels]]\nkey = 0\nname = \"好\"\n[[rating.levels]]\nkey = 2\nname = \" \"\n";
        let ps = problems(&format!("{}{levels}", base()));
        assert!(find(&ps, "rating.levels[0].key").problem.contains("1–9"));
        find(&ps, "rating.levels[1].name");

        let ps = problems(&format!(
            "{}\n[[rating.levels]]\nkey = 1\nname = \"好\"\n",
            base()
        ));
        find(&ps, "rating.levels");

        let good = "\n[[rating.levels]]\nkey = 1\nname = \"好\"\n[[rating.levels]]\nkey = 9\nname = \"差\"\n";
        let (_dir, _, r) = check(&format!("{}{good}", base()));
        let keys: Vec<u8> = r.unwrap().setup.rating_levels.iter().map(|l| l.key).collect();
        assert_eq!(keys, [1, 9]);
    }

    #[test]
    fn several_problems_are_reported_at_once() {
        let mut text = base();
        text = replace(
            &text,
            "name = \"测试大厅\"\n",
            "name = \"测试大厅\"\ntimezone = \"Mars/Olympus\"\n",
        );
        text = replace(&text, "mon = [\"08:30-12:00\"", "mon = [\"12:00-08:30\"");
        text = replace(&text, "prefix = \"B\"", "prefix = \"b\"");
        text = replace(&text, "number = 2", "number = 1");
        text = replace(
            &text,
            "[[windows]]\nnumber = 1\n",
            "[[windows]]\nnumber = 1\nqueues = [\"A\"]\n",
        );
        text += "\n[rules]\nnumber_digits = 9\n";
        let (_dir, path, r) = check(&text);
        let e = r.unwrap_err();
        let ps = e.problems();
        for key in [
            "hall.timezone",
            "hours.mon[0]",
            "queues[1].prefix",
            "windows[1].number",
            "windows[1].queues",
            "rules.number_digits",
        ] {
            find(&ps, key);
        }
        // Display: one `FILE: KEY: PROBLEM` line per problem.
        let shown = e.to_string();
        assert_eq!(shown.lines().count(), ps.len());
        for (line, p) in shown.lines().zip(&ps) {
            assert_eq!(line, format!("{}: {}: {}", path.display(), p.key, p.problem));
        }
    }

    #[test]
    fn other_values_are_checked() {
        let ps = problems(&replace(&base(), "id = \"test-hall\"", "id = \"test hall\""));
        find(&ps, "hall.id");
        let ps = problems(&replace(&base(), "name = \"测试大厅\"", "name = \"  \""));
        find(&ps, "hall.name");
        let ps = problems(&format!("{}\n[api]\nlisten = \"localhost\"\n", base()));
        find(&ps, "api.listen");
        let ps = problems(&replace(&base(), "groups = [\"归集\"]", "groups = [\"存款\"]"));
        assert!(find(&ps, "queues[0].groups").problem.contains("存款"));
        let ps = problems(&replace(&base(), "groups = [\"归集\"]", "daily_limit = 0"));
        find(&ps, "queues[0].daily_limit");
    }

    #[test]
    fn missing_data_files_are_named() {
        let cat = repo("config/catalog.toml").display().to_string();
        let ps = problems(&replace(&base(), &cat, "nowhere/catalog.toml"));
        assert!(find(&ps, "data.catalog").problem.contains("nowhere/catalog.toml"));
        let ps = problems(&replace(
            &base(),
            "calendars = []",
            "calendars = [\"nowhere.toml\"]",
        ));
        find(&ps, "data.calendars[0]");
    }

    #[test]
    fn unreadable_file_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.toml");
        let e = Config::load(&path).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        let ps = e.problems();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].file, path);
        assert!(e
            .to_string()
            .starts_with(&format!("{}: cannot read", path.display())));
    }

    #[test]
    fn sync_table_is_checked_and_reads_the_token_file() {
        let (dir, path, _) = check(&base());
        std::fs::write(dir.path().join("centre.token"), "hq_secret_token\n").unwrap();
        let sync = "\n[sync]\ncentre = \"https://centre.example:7443/\"\ntoken_file = \"centre.token\"\n";
        let c = Config::from_str_at(&format!("{}{sync}", base()), &path).unwrap_or_else(|e| panic!("{e}"));
        let s = c.sync.expect("a [sync] table");
        assert_eq!(s.centre, "https://centre.example:7443");
        assert_eq!(s.token.expose(), "hq_secret_token");
        assert_eq!(s.batch, 500);
        assert_eq!(s.alert_after, std::time::Duration::from_secs(3600));
        assert!(!format!("{s:?}").contains("hq_secret"), "the token never shows");
        assert!(Config::from_str_at(&base(), &path).unwrap().sync.is_none());

        let bad = "\n[sync]\ncentre = \"ftp://x\"\ntoken_file = \"nowhere.token\"\nbatch = 0\nbackoff_max_seconds = 0\nalert_after_seconds = 0\nbundle_poll_seconds = 0\nca_file = \"no-ca.pem\"\nclient_cert_file = \"c.pem\"\n";
        let e = Config::from_str_at(&format!("{}{bad}", base()), &path).unwrap_err();
        let ps = e.problems();
        for key in [
            "sync.centre",
            "sync.token_file",
            "sync.batch",
            "sync.backoff_max_seconds",
            "sync.alert_after_seconds",
            "sync.bundle_poll_seconds",
            "sync.ca_file",
            "sync.client_cert_file",
        ] {
            find(&ps, key);
        }
        std::fs::write(dir.path().join("empty.token"), "  \n").unwrap();
        let empty = "\n[sync]\ncentre = \"http://127.0.0.1:1\"\ntoken_file = \"empty.token\"\n";
        let ps = Config::from_str_at(&format!("{}{empty}", base()), &path)
            .unwrap_err()
            .problems();
        assert!(find(&ps, "sync.token_file").problem.contains("empty"));

        // the token crosses a network only encrypted
        for (centre, ok) in [
            ("http://centre.example:7500", false),
            ("http://10.0.0.5:7500", false),
            ("http://127.0.0.1:7500", true),
            ("http://localhost:7500", true),
            ("https://10.0.0.5:7443", true),
        ] {
            let t = format!("\n[sync]\ncentre = \"{centre}\"\ntoken_file = \"centre.token\"\n");
            let r = Config::from_str_at(&format!("{}{t}", base()), &path);
            match (ok, r) {
                (true, Ok(_)) => {}
                (false, Err(e)) => {
                    assert!(find(&e.problems(), "sync.centre").problem.contains("unencrypted"))
                }
                (ok, r) => panic!("{centre}: expected ok={ok}, got {:?}", r.map(|_| ())),
            }
        }
    }
}
