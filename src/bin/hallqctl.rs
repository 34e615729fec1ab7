//! hallqctl: the technician's command line for a hall running `hallqd`.
//!
//! `check-config` works offline on a configuration file. Every other command
//! talks to the daemon's local HTTP API (`--api`, default
//! `http://127.0.0.1:7400`, or `HALLQ_API`).
//!
//! Exit codes: 0 success; 1 the configuration has problems, or the API
//! refused the request (4xx/5xx); 2 the daemon could not be reached (clap
//! also uses 2 for a malformed command line).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Local, NaiveDate, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand};
use hallq::config::{Config, ConfigError};
use hallq::domain::transaction::Outcome;
use hallq::domain::{Event, PauseKind, TransferTarget};
use serde_json::{json, Value};

/// Technician's tool for a public service hall: check a configuration file,
/// look at the hall, and drive windows and the kiosk through the local API.
#[derive(Parser)]
#[command(name = "hallqctl", version)]
struct Cli {
    /// Base URL of hallqd's local API.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "http://127.0.0.1:7400",
        env = "HALLQ_API"
    )]
    api: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a configuration file (and the catalogue and calendars it names) without starting anything.
    CheckConfig {
        /// The hall's configuration file.
        file: PathBuf,
    },
    /// The hall now: open or closed, queues, windows, postponed tickets.
    Status {
        /// Print the API's raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue a ticket (取号), as the kiosk does.
    #[command(group(ArgGroup::new("class").args(["priority", "appointment"])))]
    Issue {
        /// Queue prefix, e.g. A.
        queue: String,
        /// 绿色通道: elderly, sick, disabled or pregnant citizens go first.
        #[arg(long)]
        priority: bool,
        /// 预约: a booked appointment checked in at the kiosk.
        #[arg(long)]
        appointment: bool,
    },
    /// Log a staff member (工号) in at a window.
    Login {
        /// Window number.
        window: u16,
        /// Staff number (工号).
        staff: String,
    },
    /// Log the staff member out of a window.
    Logout {
        /// Window number.
        window: u16,
    },
    /// 叫号: call the next ticket at a window.
    CallNext {
        /// Window number.
        window: u16,
    },
    /// Call a named ticket (label such as A012, or ticket id), e.g. back from the postponed pool.
    Call {
        /// Window number.
        window: u16,
        /// Ticket label (A012) or id.
        ticket: String,
    },
    /// 重呼: call the window's ticket again.
    Recall {
        /// Window number.
        window: u16,
    },
    /// 过号: the called citizen did not come.
    Skip {
        /// Window number.
        window: u16,
    },
    /// 转移: send the window's ticket to another queue or window, keeping its place.
    #[command(group(ArgGroup::new("to").required(true).args(["queue", "to_window"])))]
    Transfer {
        /// Window number.
        window: u16,
        /// Queue prefix to send the ticket to.
        #[arg(long, value_name = "Q")]
        queue: Option<String>,
        /// Window to send the ticket to.
        #[arg(long = "window", value_name = "W")]
        to_window: Option<u16>,
    },
    /// 暂停服务: stop calling at a window.
    Pause {
        /// Window number.
        window: u16,
    },
    /// 请您稍等: staff stepped away briefly.
    Away {
        /// Window number.
        window: u16,
    },
    /// Resume calling after pause or away.
    Resume {
        /// Window number.
        window: u16,
    },
    /// Stop the kiosk issuing a queue's tickets (hall manager); those already
    /// issued are still called.
    PauseQueue {
        /// Queue prefix, e.g. A.
        queue: String,
    },
    /// Let the kiosk issue a paused queue's tickets again.
    ResumeQueue {
        /// Queue prefix, e.g. A.
        queue: String,
    },
    /// 办结: finish the window's ticket with the catalogue items handled and the outcome (default: done).
    Finish(FinishArgs),
    /// Press a key on a window's rating keypad (服务评价器).
    Rate {
        /// Window number.
        window: u16,
        /// Keypad key (1 满意, 2 一般, 3 不满意 by default).
        key: u8,
    },
    /// Save what the waiting-hall display shows now as a PNG.
    Snapshot {
        /// The file to write.
        #[arg(short, long, value_name = "FILE", default_value = "display.png")]
        output: PathBuf,
        /// Enlarge each pixel N times (N×N), e.g. 6 for a 192×64 LED board.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
        scale: u32,
    },
    /// Transactions finished on a day (today by default).
    Transactions {
        /// Local date, YYYY-MM-DD.
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: Option<NaiveDate>,
        /// Print the API's raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tickets issued on a day (today by default).
    Tickets {
        /// Local date, YYYY-MM-DD.
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: Option<NaiveDate>,
        /// Print the API's raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// On-site device checks, straight on the ports and pins named in the
    /// hall's configuration. Stop hallqd first: ports are opened exclusively.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// The event log (audit trail).
    Events {
        /// Only events with a sequence number above N.
        #[arg(long, value_name = "N")]
        after: Option<i64>,
        /// At most N events (1–5000; the API's default is 500).
        #[arg(long, value_name = "N")]
        limit: Option<i64>,
        /// Print the API's raw JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// Print a test ticket and report the printer's paper, cover and cutter state.
    PrintTest {
        /// The hall's configuration file.
        #[arg(short, long, default_value = "/etc/hallq/hall.toml")]
        config: PathBuf,
    },
    /// Show the test pattern (8888, 测试 显示正常) on every counter display.
    DisplayTest {
        /// The hall's configuration file.
        #[arg(short, long, default_value = "/etc/hallq/hall.toml")]
        config: PathBuf,
    },
    /// Ask every configured bus address what answers there.
    BusList {
        /// The hall's configuration file.
        #[arg(short, long, default_value = "/etc/hallq/hall.toml")]
        config: PathBuf,
    },
    /// Print every kiosk button press (debounced, with lockout) and blink its lamp.
    WatchButtons {
        /// The hall's configuration file.
        #[arg(short, long, default_value = "/etc/hallq/hall.toml")]
        config: PathBuf,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

#[derive(Args)]
#[command(group(ArgGroup::new("outcome").args(["accepted", "incomplete", "referred", "refused"])))]
struct FinishArgs {
    /// Window number.
    window: u16,
    /// Catalogue item code handled (repeat for several items).
    #[arg(long = "item", value_name = "CODE", required = true)]
    items: Vec<u32>,
    /// 受理: accepted for back-office approval (the due date is computed by the hall).
    #[arg(long)]
    accepted: bool,
    /// 材料不全: the materials missing (一次性告知).
    #[arg(long, value_name = "MATERIAL", num_args = 1..)]
    incomplete: Vec<String>,
    /// Referred elsewhere (another agency, the bank, the centre).
    #[arg(long, value_name = "TO")]
    referred: Option<String>,
    /// 不予受理, with the supervisor's approval id.
    #[arg(long, value_name = "APPROVAL_ID")]
    refused: Option<String>,
    /// Why it was refused (with --refused).
    #[arg(long, value_name = "R", requires = "refused")]
    reason: Option<String>,
}

impl FinishArgs {
    fn outcome(&self) -> Value {
        if self.accepted {
            json!({"kind": "accepted"})
        } else if !self.incomplete.is_empty() {
            json!({"kind": "incomplete", "missing": self.incomplete})
        } else if let Some(to) = &self.referred {
            json!({"kind": "referred", "to": to})
        } else if let Some(approval_id) = &self.refused {
            json!({"kind": "refused", "approval_id": approval_id, "reason": self.reason.clone().unwrap_or_default()})
        } else {
            json!({"kind": "done"})
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<Unreachable>() {
                eprintln!("hallqctl: {u}");
                eprintln!(
                    "hint: is hallqd running? Check --api (or HALLQ_API): it must match `api.listen` \
                     in the hall's configuration."
                );
                ExitCode::from(2)
            } else {
                eprintln!("hallqctl: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

/// Show times in the hall's time zone (what its staff read on the wall
/// clock), not this machine's, unless TZ is set explicitly.
fn adopt_hall_timezone(status: &Value) {
    if std::env::var_os("TZ").is_none() {
        if let Some(tz) = status["timezone"]
            .as_str()
            .filter(|t| t.parse::<chrono_tz::Tz>().is_ok())
        {
            std::env::set_var("TZ", tz);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let api = Api::new(&cli.api);
    if matches!(
        cli.cmd,
        Cmd::Transactions { json: false, .. }
            | Cmd::Tickets { json: false, .. }
            | Cmd::Events { json: false, .. }
    ) {
        adopt_hall_timezone(&api.get("/api/v1/status", &[])?);
    }
    let line = match cli.cmd {
        Cmd::CheckConfig { file } => return Ok(check_config(&file)),
        Cmd::Device(d) => return device_check(d),
        Cmd::Status { json } => {
            let v = api.get("/api/v1/status", &[])?;
            adopt_hall_timezone(&v);
            if json {
                pretty(&v)
            } else {
                status_table(&v)
            }
        }
        Cmd::Issue {
            queue,
            priority,
            appointment,
        } => {
            let class = if priority {
                "priority"
            } else if appointment {
                "appointment"
            } else {
                "normal"
            };
            let t = api.post("/api/v1/tickets", Some(json!({"queue": queue, "class": class})))?;
            issued_line(&t)
        }
        Cmd::Login { window, staff } => window_op(&api, window, "login", Some(json!({"staff": staff})))?,
        Cmd::Logout { window } => window_op(&api, window, "logout", None)?,
        Cmd::CallNext { window } => window_op(&api, window, "call-next", None)?,
        Cmd::Call { window, ticket } => {
            let ticket = match ticket.trim().parse::<u64>() {
                Ok(id) => json!(id),
                Err(_) => json!(ticket.trim()),
            };
            window_op(&api, window, "call", Some(json!({ "ticket": ticket })))?
        }
        Cmd::Recall { window } => window_op(&api, window, "recall", None)?,
        Cmd::Skip { window } => window_op(&api, window, "skip", None)?,
        Cmd::Transfer {
            window,
            queue,
            to_window,
        } => {
            let body = match (queue, to_window) {
                (Some(q), _) => json!({ "queue": q }),
                (None, w) => json!({ "window": w }),
            };
            window_op(&api, window, "transfer", Some(body))?
        }
        Cmd::Pause { window } => window_op(&api, window, "pause", None)?,
        Cmd::Away { window } => window_op(&api, window, "away", None)?,
        Cmd::Resume { window } => window_op(&api, window, "resume", None)?,
        Cmd::PauseQueue { queue } => queue_op(&api, &queue, "pause")?,
        Cmd::ResumeQueue { queue } => queue_op(&api, &queue, "resume")?,
        Cmd::Finish(f) => {
            let body = json!({"items": f.items, "outcome": f.outcome()});
            window_op(&api, f.window, "finish", Some(body))?
        }
        Cmd::Rate { window, key } => window_op(&api, window, "rate", Some(json!({ "key": key })))?,
        Cmd::Snapshot { output, scale } => {
            let mut png = api.get_bytes("/api/v1/display.png")?;
            if scale > 1 {
                let frame = hallq::display::Canvas::from_png(&png)
                    .context("the API answered with something that is not a PNG")?;
                png = frame.scaled(scale).to_png()?;
            }
            std::fs::write(&output, &png).with_context(|| format!("writing {}", output.display()))?;
            let (w, h) = png_size(&png).context("the API answered with something that is not a PNG")?;
            format!(
                "{}: the hall display, {w}×{h} PNG ({} kB)",
                output.display(),
                png.len().div_ceil(1024)
            )
        }
        Cmd::Transactions { day, json } => {
            let v = api.get("/api/v1/transactions", &day_query(day))?;
            if json {
                pretty(&v)
            } else {
                transactions_table(&v)
            }
        }
        Cmd::Tickets { day, json } => {
            let v = api.get("/api/v1/tickets", &day_query(day))?;
            if json {
                pretty(&v)
            } else {
                tickets_table(&v)
            }
        }
        Cmd::Events { after, limit, json } => {
            let mut q = Vec::new();
            if let Some(a) = after {
                q.push(("after", a.to_string()));
            }
            if let Some(l) = limit {
                q.push(("limit", l.to_string()));
            }
            let v = api.get("/api/v1/events", &q)?;
            if json {
                pretty(&v)
            } else {
                events_table(&v)
            }
        }
    };
    println!("{}", line.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    Some((be(16), be(20)))
}

fn day_query(day: Option<NaiveDate>) -> Vec<(&'static str, String)> {
    day.map(|d| vec![("day", d.format("%Y-%m-%d").to_string())])
        .unwrap_or_default()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

// ----- check-config -----------------------------------------------------------

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(c) => {
            print!("{}", config_summary(&c));
            ExitCode::SUCCESS
        }
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
        Err(e) => {
            let problems = e.problems();
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "{}: {} problem{}; the daemon will not start with this file",
                file.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
    }
}

fn config_summary(c: &Config) -> String {
    let s = &c.setup;
    let mut out = format!("{}: OK\n", c.file.display());
    out += &format!("hall       {} {}\n", s.hall_id, s.name);
    out += &format!("time zone  {}\n", s.tz);
    let queues: Vec<String> = s
        .queues
        .iter()
        .map(|q| match q.daily_limit {
            Some(l) => format!("{} {} (at most {l}/day)", q.prefix, q.name),
            None => format!("{} {}", q.prefix, q.name),
        })
        .collect();
    out += &format!("queues     {}: {}\n", s.queues.len(), queues.join(", "));
    let windows: Vec<String> = s
        .windows
        .iter()
        .map(|w| {
            let mut tags = vec![w.queues.join("/")];
            if w.green_channel {
                tags.push("绿色通道".into());
            }
            if w.assisted {
                tags.push("帮办代办".into());
            }
            format!("{} ({})", w.number, tags.join(", "))
        })
        .collect();
    out += &format!("windows    {}: {}\n", s.windows.len(), windows.join(", "));
    out += &format!("catalogue  {} items\n", s.catalog.len());
    let spans = |v: &[hallq::domain::setup::Span]| {
        if v.is_empty() {
            "closed".to_string()
        } else {
            v.iter()
                .map(|sp| format!("{}-{}", sp.open.format("%H:%M"), sp.close.format("%H:%M")))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    out += "hours";
    for (i, day) in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .enumerate()
    {
        let indent = if i == 0 { "      " } else { "           " };
        out += &format!("{indent}{day} {}\n", spans(&s.hours.week[i]));
    }
    out += &format!(
        "           adjusted workday {}\n",
        spans(&s.hours.adjusted_workday)
    );
    out += &match &c.display {
        Some(d) => format!(
            "display    {} to {}, {} notice{}\n",
            d.layout.name(),
            match &d.output {
                hallq::display::Output::Framebuffer(p) => p.display().to_string(),
                hallq::display::Output::Png(p) => format!("PNG {}", p.display()),
                hallq::display::Output::None => "memory only (hallqctl snapshot)".to_string(),
            },
            d.notices.len(),
            if d.notices.len() == 1 { "" } else { "s" }
        ),
        None => "display    off\n".to_string(),
    };
    out += &match &c.voice {
        Some(v) => format!(
            "voice      {} ({} Hz), said {}×, to {}\n",
            v.segments.dir().display(),
            v.segments.rate(),
            v.repeat,
            match &v.output {
                hallq::voice::VoiceOutput::Alsa { device } => format!("ALSA {device}"),
                hallq::voice::VoiceOutput::WavDir(p) => format!("WAV files in {}", p.display()),
                hallq::voice::VoiceOutput::None => "nowhere".to_string(),
            }
        ),
        None => "voice      off\n".to_string(),
    };
    out += &format!("database   {}\n", c.database.display());
    out += &format!("listen     {}\n", c.listen);
    out
}

// ----- HTTP -------------------------------------------------------------------

/// The daemon could not be reached at all (exit code 2).
#[derive(Debug)]
struct Unreachable {
    url: String,
    error: ureq::Error,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot reach hallqd at {}: {}", self.url, self.error)
    }
}

impl std::error::Error for Unreachable {}

/// The API answered with a 4xx or 5xx (exit code 1).
#[derive(Debug)]
struct Refused {
    status: u16,
    code: String,
    message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            write!(f, "{} (HTTP {})", self.message, self.status)
        } else {
            write!(f, "{} (HTTP {}, {})", self.message, self.status, self.code)
        }
    }
}

impl std::error::Error for Refused {}

struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(base: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(3)))
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .new_agent();
        let base = base.trim().trim_end_matches('/');
        // `127.0.0.1:7400` is taken to mean plain HTTP.
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        Api { base, agent }
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(*k, v);
        }
        self.finish(&url, req.call())
    }

    fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = self.agent.post(&url);
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.send_empty(),
        };
        self.finish(&url, resp)
    }

    /// GET a binary answer (a PNG).
    fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let unreachable = |error| Unreachable {
            url: self.base.clone(),
            error,
        };
        let mut resp = self.agent.get(&url).call().map_err(unreachable)?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(unreachable)?;
        if status >= 400 {
            return Err(refusal(&url, status, &String::from_utf8_lossy(&bytes)).into());
        }
        Ok(bytes)
    }

    fn finish(
        &self,
        url: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let unreachable = |error| Unreachable {
            url: self.base.clone(),
            error,
        };
        let mut resp = resp.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(unreachable)?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        if status >= 400 {
            return Err(refusal(url, status, &text).into());
        }
        body.with_context(|| format!("{url}: the API answered HTTP {status} without JSON"))
    }
}

/// The error of a 4xx/5xx answer: its JSON `{error, code}`, or its text.
fn refusal(url: &str, status: u16, text: &str) -> Refused {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let field = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let message = field("error").unwrap_or_else(|| {
        let t = text.trim();
        if t.is_empty() {
            format!("the API refused {url}")
        } else {
            t.chars().take(300).collect()
        }
    });
    Refused {
        status,
        code: field("code").unwrap_or_default(),
        message,
    }
}

/// POST to `/api/v1/windows/{window}/{op}` and describe what happened.
fn window_op(api: &Api, window: u16, op: &str, body: Option<Value>) -> anyhow::Result<String> {
    let done = api.post(&format!("/api/v1/windows/{window}/{op}"), body)?;
    Ok(done_line(&done, window))
}

fn queue_op(api: &Api, queue: &str, op: &str) -> anyhow::Result<String> {
    let done = api.post(&format!("/api/v1/queues/{}/{op}", queue.trim()), None)?;
    let events: Vec<String> = done["events"]
        .as_array()
        .map(|a| a.iter().map(describe_event).collect())
        .unwrap_or_default();
    Ok(if events.is_empty() {
        format!(
            "queue {}: nothing changed (already {op}d)",
            queue.trim().to_ascii_uppercase()
        )
    } else {
        events.join("; ")
    })
}

// ----- one-line summaries -------------------------------------------------------

fn issued_line(t: &Value) -> String {
    let class = match t["class"].as_str() {
        Some("priority") => " (绿色通道)",
        Some("appointment") => " (预约)",
        _ => "",
    };
    format!(
        "{}{class} issued: {} ahead, about {} min",
        t["label"].as_str().unwrap_or("?"),
        t["ahead"].as_u64().unwrap_or(0),
        t["estimated_wait_minutes"].as_u64().unwrap_or(0),
    )
}

/// A window command's reply (`Done`, or `Done` flattened into the rate reply).
fn done_line(done: &Value, window: u16) -> String {
    let events: Vec<String> = done["events"]
        .as_array()
        .map(|a| a.iter().map(describe_event).collect())
        .unwrap_or_default();
    if events.is_empty() {
        let status = done["window"]["status_text"].as_str().unwrap_or("?");
        format!("window {window}: nothing changed ({status})")
    } else {
        events.join("; ")
    }
}

/// One event as a short English line.
fn describe_event(v: &Value) -> String {
    let Ok(e) = serde_json::from_value::<Event>(v.clone()) else {
        return format!("event {}", v["type"].as_str().unwrap_or("?"));
    };
    match e {
        Event::TicketIssued {
            ticket,
            ahead,
            estimated_wait_s,
        } => format!(
            "{} issued: {ahead} ahead, about {} min",
            ticket.label,
            estimated_wait_s.div_ceil(60)
        ),
        Event::TicketCalled {
            label, window, staff, ..
        } => format!("window {window} calls {label} (staff {staff})"),
        Event::TicketRecalled {
            label, window, count, ..
        } => format!("window {window} calls {label} again (recall {count})"),
        Event::TicketSkipped {
            label, window, until, ..
        } => format!(
            "{label} skipped at window {window}: can be called back until {}",
            local_hm(until)
        ),
        Event::TicketExpired { label, .. } => format!("{label} expired (no-show)"),
        Event::TicketVoided { label, reason, .. } => {
            format!("{label} voided (作废): the print failed ({reason}); nobody holds it")
        }
        Event::TicketTransferred {
            label,
            from_window,
            to,
            ..
        } => match to {
            TransferTarget::Queue(q) => {
                format!("{label} transferred from window {from_window} to queue {q}")
            }
            TransferTarget::Window(w) => {
                format!("{label} transferred from window {from_window} to window {w}")
            }
        },
        Event::StaffLoggedIn { window, staff } => format!("{staff} logged in at window {window}"),
        Event::StaffLoggedOut { window, staff } => format!("{staff} logged out of window {window}"),
        Event::WindowPaused { window, kind } => match kind {
            PauseKind::Paused => format!("window {window} paused (暂停服务)"),
            PauseKind::Away => format!("window {window} away (请您稍等)"),
        },
        Event::WindowResumed { window } => format!("window {window} resumed"),
        Event::TransactionRecorded {
            transaction: t,
            rating_until,
        } => {
            let items: Vec<String> = t.items.iter().map(u32::to_string).collect();
            let outcome = match &t.outcome {
                Outcome::Done => "done".to_string(),
                Outcome::Accepted { due } => format!("accepted, due {due}"),
                Outcome::Incomplete { missing } => format!("incomplete, missing {}", missing.join(", ")),
                Outcome::Referred { to } => format!("referred to {to}"),
                Outcome::Refused { approval_id, reason } if reason.is_empty() => {
                    format!("refused (approval {approval_id})")
                }
                Outcome::Refused { approval_id, reason } => {
                    format!("refused (approval {approval_id}): {reason}")
                }
            };
            format!(
                "{} finished at window {} as transaction {}: {outcome}; items {}; rating open until {}",
                t.label,
                t.window,
                t.id,
                items.join(", "),
                local_hms(rating_until)
            )
        }
        Event::Rated {
            transaction,
            window,
            key,
            level,
        } => format!("transaction {transaction} rated {level} (key {key} at window {window})"),
        Event::Unrated { transaction, window } => {
            format!("transaction {transaction} at window {window} closed unrated (未评价)")
        }
        Event::StrayPress { window, key, .. } => {
            format!("key {key} at window {window} was a stray press (no rating window open): not a rating")
        }
        Event::PrinterChanged { status } if status.problems().is_empty() => {
            "ticket printer ready".to_string()
        }
        Event::PrinterChanged { status } => format!("ticket printer: {}", status.problems()),
        Event::DeviceOffline { device } => format!("{device} stopped answering (offline)"),
        Event::DeviceOnline { device } => format!("{device} answers again (online)"),
        Event::QueuePaused { queue } => format!("queue {queue} paused: the kiosk issues none of its tickets"),
        Event::QueueResumed { queue } => format!("queue {queue} issues tickets again"),
        Event::BundleApplied { bundle } => {
            format!("configuration bundle {} from the centre in force", bundle.version)
        }
    }
}

fn local_hm(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M").to_string()
}

fn local_hms(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}

fn utc(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok())
}

/// An RFC 3339 time from the API, in this machine's local time (`fmt`), or `-`.
fn local_time(v: &Value, fmt: &str) -> String {
    utc(v)
        .map(|t| t.with_timezone(&Local).format(fmt).to_string())
        .unwrap_or_else(|| "-".into())
}

/// `at 17:00 (in 2 h 5 min)`, with the date when it is not today. The API
/// does not say the hall's time zone, so the relative time keeps it plain
/// even when this machine's zone differs.
fn when(v: &Value, now: DateTime<Utc>) -> String {
    let Some(t) = utc(v) else {
        return "-".into();
    };
    let local = t.with_timezone(&Local);
    let fmt = if local.date_naive() == now.with_timezone(&Local).date_naive() {
        "%H:%M"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let mins = (t - now).num_minutes().max(0);
    let rel = match (mins / 60, mins % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    };
    format!("at {} (in {rel})", local.format(fmt))
}

// ----- tables -------------------------------------------------------------------

/// Terminal columns a string takes (CJK characters take two).
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(display_width(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s += c;
            if i + 1 < cells.len() {
                s += &" ".repeat(widths[i] - display_width(c) + 2);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_table(v: &Value) -> String {
    let now = utc(&v["now"]).unwrap_or_else(Utc::now);
    let mut out = format!(
        "{} ({}), {} hall time\n",
        text(&v["name"]),
        text(&v["hall_id"]),
        now.with_timezone(&Local).format("%Y-%m-%d %H:%M %:z")
    );
    if v["open"].as_bool() == Some(true) {
        out += &format!("OPEN, closes {}", when(&v["closes_at"], now));
    } else if v["next_open"].is_null() {
        out += "CLOSED";
    } else {
        out += &format!("CLOSED, opens {}", when(&v["next_open"], now));
    }
    out += &format!(
        "; {} waiting ({} priority)\n\n",
        v["waiting_total"].as_u64().unwrap_or(0),
        v["priority_waiting"].as_u64().unwrap_or(0)
    );

    let rows: Vec<Vec<String>> = v["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            vec![
                text(&q["prefix"]),
                text(&q["name"]),
                text(&q["waiting"]),
                format!("{} min", q["estimated_wait_s"].as_u64().unwrap_or(0).div_ceil(60)),
                text(&q["issued_today"]),
                if q["paused"].as_bool() == Some(true) {
                    "paused (暂停取号)".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    out += &table(
        &["QUEUE", "NAME", "WAITING", "EST. WAIT", "ISSUED TODAY", ""],
        &rows,
    );
    out += "\n";

    let rows: Vec<Vec<String>> = v["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let mut tags = Vec::new();
            if w["green_channel"].as_bool() == Some(true) {
                tags.push("绿色通道".to_string());
            }
            if w["assisted"].as_bool() == Some(true) {
                tags.push("帮办代办".to_string());
            }
            if let Some(t) = w["rating_open_for"].as_u64() {
                tags.push(format!("rating open for transaction {t}"));
            }
            vec![
                text(&w["number"]),
                text(&w["status_text"]),
                text(&w["staff"]),
                text(&w["serving"]),
                tags.join(", "),
            ]
        })
        .collect();
    out += &table(&["WINDOW", "STATUS", "STAFF", "SERVING", ""], &rows);

    let postponed: Vec<String> = v["postponed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{} (until {})",
                text(&p["label"]),
                local_time(&p["until"], "%H:%M")
            )
        })
        .collect();
    out += "\npostponed (过号): ";
    out += &if postponed.is_empty() {
        "none".to_string()
    } else {
        postponed.join(", ")
    };
    out += "\n";
    let paused: Vec<String> = v["paused_while_waiting"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !paused.is_empty() {
        out += &format!(
            "paused while citizens wait (先外后内): window {}\n",
            paused.join(", ")
        );
    }
    if v["printer"]["ready"] == false {
        out += &format!(
            "printer: cannot print ({}): no tickets are issued\n",
            text(&v["printer"]["problems"])
        );
    } else if v["printer"]["paper_near_end"] == true {
        out += "printer: paper near end (纸将尽)\n";
    }
    let offline: Vec<String> = v["offline_devices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !offline.is_empty() {
        out += &format!("devices not answering (离线): {}\n", offline.join(", "));
    }
    if v["sync"]["enabled"] == true {
        out += &sync_line(&v["sync"]);
    }
    out
}

/// One line on the sync to the centre: link, backlog, oldest unsent, alert.
fn sync_line(s: &Value) -> String {
    let link = if s["connected"] == true {
        "connected".to_string()
    } else {
        format!(
            "NOT CONNECTED ({})",
            s["last_error"].as_str().unwrap_or("starting")
        )
    };
    let mut line = format!(
        "centre {}: {link}; {} event(s) not yet sent",
        text(&s["centre"]),
        s["backlog"].as_i64().unwrap_or(0)
    );
    if let Some(age) = s["oldest_unsent_age_s"].as_i64() {
        line += &format!(", oldest {} min old", age / 60);
    }
    if s["alert"] == true {
        line += " — ALERT: the centre has not had this hall's events for too long";
    }
    if let Some(reason) = s["bundle_refused"][1].as_str() {
        line += &format!("\nconfiguration bundle refused: {reason}");
    }
    line + "\n"
}

fn transactions_table(v: &Value) -> String {
    let list = v["transactions"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no transactions".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            let items: Vec<String> = t["items"].as_array().into_iter().flatten().map(text).collect();
            let o = &t["outcome"];
            let outcome = match o["kind"].as_str() {
                Some("accepted") => format!("accepted, due {}", text(&o["due"])),
                Some("incomplete") => format!(
                    "incomplete: {}",
                    o["missing"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some("referred") => format!("referred to {}", text(&o["to"])),
                Some("refused") => format!("refused ({})", text(&o["approval_id"])),
                Some(k) => k.to_string(),
                None => "-".into(),
            };
            let r = &t["rating"];
            let rating = match r["state"].as_str() {
                Some("rated") => format!("{} (key {})", text(&r["level"]), text(&r["key"])),
                Some(s) => s.to_string(),
                None => "-".into(),
            };
            vec![
                text(&t["id"]),
                text(&t["label"]),
                text(&t["window"]),
                text(&t["staff"]),
                local_time(&t["started_at"], "%H:%M"),
                local_time(&t["finished_at"], "%H:%M"),
                items.join(","),
                outcome,
                rating,
            ]
        })
        .collect();
    table(
        &[
            "ID", "TICKET", "WINDOW", "STAFF", "START", "END", "ITEMS", "OUTCOME", "RATING",
        ],
        &rows,
    )
}

fn tickets_table(v: &Value) -> String {
    let list = v["tickets"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no tickets".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            vec![
                text(&t["id"]),
                text(&t["label"]),
                text(&t["queue"]),
                text(&t["class"]),
                text(&t["state"]),
                text(&t["window"]),
                local_time(&t["issued_at"], "%H:%M"),
                local_time(&t["called_at"], "%H:%M"),
                local_time(&t["ended_at"], "%H:%M"),
                format!("{} min", t["estimated_wait_s"].as_u64().unwrap_or(0).div_ceil(60)),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "LABEL",
            "QUEUE",
            "CLASS",
            "STATE",
            "WINDOW",
            "ISSUED",
            "CALLED",
            "ENDED",
            "EST. WAIT",
        ],
        &rows,
    )
}

fn events_table(v: &Value) -> String {
    let list = v["events"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no events".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            vec![
                text(&e["seq"]),
                local_time(&e["at"], "%Y-%m-%d %H:%M:%S"),
                text(&e["event"]["type"]),
                describe_event(&e["event"]),
            ]
        })
        .collect();
    table(&["SEQ", "AT", "TYPE", "WHAT"], &rows)
}

fn load_for_devices(file: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(file).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `hallqctl device …`: straight on the ports, without the daemon.
fn device_check(cmd: DeviceCmd) -> anyhow::Result<ExitCode> {
    use hallq::devices::{bus, kiosk, printer};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            DeviceCmd::PrintTest { config } => {
                let c = load_for_devices(&config)?;
                let Some(p) = &c.devices.printer else {
                    anyhow::bail!("{}: the printer is simulated ([devices.printer] backend = \"serial\" names a real one)", config.display());
                };
                let status = printer::test_ticket(p, &c.setup.name).await?;
                let problems = status.problems();
                if problems.is_empty() {
                    println!("test ticket sent to {}; printer ready", p.port);
                    Ok(ExitCode::SUCCESS)
                } else {
                    println!("test ticket sent to {}; printer reports: {problems}", p.port);
                    Ok(ExitCode::from(1))
                }
            }
            DeviceCmd::DisplayTest { config } => {
                let c = load_for_devices(&config)?;
                let Some(b) = &c.devices.bus else {
                    anyhow::bail!("{}: no RS-485 bus configured ([devices.bus])", config.display());
                };
                let mut failed = false;
                for (name, r) in bus::test_pattern(b).await? {
                    match r {
                        Ok(()) => println!("{name}: test pattern shown"),
                        Err(e) => {
                            failed = true;
                            println!("{name}: FAILED: {e}");
                        }
                    }
                }
                Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
            }
            DeviceCmd::BusList { config } => {
                let c = load_for_devices(&config)?;
                let Some(b) = &c.devices.bus else {
                    anyhow::bail!("{}: no RS-485 bus configured ([devices.bus])", config.display());
                };
                println!("{} at {} baud:", b.port, b.baud);
                let probes = bus::probe(b).await?;
                let bad = probes.iter().filter(|p| !p.ok()).count();
                for p in &probes {
                    println!("  {}", p.describe());
                }
                println!("{} devices, {} not answering as expected", probes.len(), bad);
                Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
            DeviceCmd::WatchButtons { config, seconds } => {
                let c = load_for_devices(&config)?;
                let Some(k) = &c.devices.kiosk else {
                    anyhow::bail!("{}: the kiosk is simulated ([devices.kiosk] backend names its pins)", config.display());
                };
                let mut pins = hallq::devices::kiosk_pins(k)?;
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                pins.watch(tx)?;
                let cfg = &k.kiosk;
                let mut filter = kiosk::ButtonFilter::new(cfg.buttons.len(), cfg.debounce, cfg.lockout, std::time::Instant::now());
                let stop = tokio::time::sleep(std::time::Duration::from_secs(seconds.unwrap_or(u64::MAX / 4)));
                tokio::pin!(stop);
                println!("watching {} buttons; press them (Ctrl-C to stop)", cfg.buttons.len());
                let mut lit: Option<(usize, std::time::Instant)> = None;
                loop {
                    let wake = filter
                        .next_deadline()
                        .into_iter()
                        .chain(lit.map(|(_, t)| t))
                        .min()
                        .map(tokio::time::Instant::from_std)
                        .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::signal::ctrl_c() => break,
                        e = rx.recv() => match e {
                            Some(e) => {
                                println!("  edge: input {} {}", cfg.buttons[e.button].input, if e.pressed { "closed" } else { "open" });
                                filter.edge(e);
                            }
                            None => anyhow::bail!("the GPIO inputs stopped"),
                        },
                        _ = tokio::time::sleep_until(wake) => {}
                    }
                    let now = std::time::Instant::now();
                    if let Some((i, until)) = lit {
                        if now >= until {
                            pins.set_lamp(i, false)?;
                            lit = None;
                        }
                    }
                    for i in filter.due(now) {
                        let b = &cfg.buttons[i];
                        println!("PRESS button {i}: queue {} ({}) — one ticket", b.queue, b.class.chinese());
                        pins.set_lamp(i, true)?;
                        lit = Some((i, now + std::time::Duration::from_millis(500)));
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
