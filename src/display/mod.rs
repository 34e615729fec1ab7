//! The waiting-hall display (电子显示屏, 客户等候区): the latest calls, people
//! waiting and the estimated wait per queue, date and clock, opening hours, a
//! rolling notice line, and outside hours the closed notice with the next
//! opening.
//!
//! [`Scene`] turns the engine's view into words; a [`Layout`] draws them on a
//! [`Canvas`] with embedded-graphics; [`Screen`] keeps the frame and scrolls
//! the ticker; [`start`] runs it on a thread of its own, redrawing when the
//! engine says the hall changed, once a minute for the clock, and on ticker
//! ticks only while the ticker text is too long to stand still. Nothing else
//! wakes it. The frame goes to the Linux framebuffer or a PNG file, and is
//! always available as a PNG snapshot (`GET /api/v1/display.png`,
//! `hallqctl snapshot`).

pub mod canvas;
pub mod fb;
pub mod font;
pub mod layout;
pub mod scene;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use embedded_graphics::prelude::Point;
use embedded_graphics::primitives::Rectangle;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::domain::setup::{QueueDef, WindowDef};
use crate::domain::WindowNo;
use crate::engine::{Effect, EngineError, EngineHandle};

pub use canvas::Canvas;
pub use layout::Layout;
pub use scene::{CallBoard, Scene};

/// Why the display could not show a frame.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    #[error("framebuffer {path}: {problem}")]
    Framebuffer { path: PathBuf, problem: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Png(#[from] canvas::PngError),
}

/// Where frames go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A Linux framebuffer device, e.g. /dev/fb0.
    Framebuffer(PathBuf),
    /// A PNG file, rewritten on every full redraw (not on ticker steps).
    Png(PathBuf),
    /// Only in memory (for snapshots).
    None,
}

/// The checked `[display]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplaySettings {
    pub layout: Layout,
    pub output: Output,
    /// Ticker steps per second; 0 keeps the ticker still.
    pub ticker_fps: u32,
    /// The rolling notice line (滚动播放最新政策信息).
    pub notices: Vec<String>,
}

/// `[display]` as written in the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisplay {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "d_layout")]
    layout: Layout,
    #[serde(default = "d_output")]
    output: String,
    #[serde(default = "d_fb")]
    framebuffer: PathBuf,
    #[serde(default = "d_png")]
    png: PathBuf,
    #[serde(default = "d_fps")]
    ticker_fps: u32,
    #[serde(default)]
    notices: Vec<String>,
}

fn yes() -> bool {
    true
}
fn d_layout() -> Layout {
    Layout::Hd1080
}
fn d_output() -> String {
    "framebuffer".into()
}
fn d_fb() -> PathBuf {
    PathBuf::from("/dev/fb0")
}
fn d_png() -> PathBuf {
    PathBuf::from("display.png")
}
fn d_fps() -> u32 {
    25
}

impl RawDisplay {
    /// Check the section: the settings (None when disabled) and the
    /// problems as (key, what is wrong).
    pub fn check(
        &self,
        resolve: impl Fn(&Path) -> PathBuf,
    ) -> (Option<DisplaySettings>, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let output = match self.output.as_str() {
            "framebuffer" => Output::Framebuffer(self.framebuffer.clone()),
            "png" => Output::Png(resolve(&self.png)),
            "none" => Output::None,
            other => {
                problems.push((
                    "display.output".to_string(),
                    format!("unknown output `{other}` (use framebuffer, png or none)"),
                ));
                Output::None
            }
        };
        if self.ticker_fps > 60 {
            problems.push((
                "display.ticker_fps".into(),
                "must be 0–60 (0 keeps the ticker still)".into(),
            ));
        }
        for (i, n) in self.notices.iter().enumerate() {
            if n.trim().is_empty() {
                problems.push((format!("display.notices[{i}]"), "is empty".into()));
            }
            let missing = font::missing_glyphs(n);
            if !missing.is_empty() {
                problems.push((
                    format!("display.notices[{i}]"),
                    format!(
                        "the display fonts lack {} (use characters of GB2312)",
                        missing
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
        }
        let settings = self.enabled.then(|| DisplaySettings {
            layout: self.layout,
            output,
            ticker_fps: self.ticker_fps,
            notices: self.notices.iter().map(|n| n.trim().to_string()).collect(),
        });
        (settings, problems)
    }
}

/// Names from the configuration that the display shows and its fonts cannot
/// draw, as (key, what is wrong).
pub(crate) fn check_names(
    hall: &crate::config::RawHall,
    queues: &[QueueDef],
    windows: &[WindowDef],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut check = |key: String, text: &str| {
        let missing = font::missing_glyphs(text);
        if !missing.is_empty() {
            out.push((
                key,
                format!(
                    "the hall display cannot show {} (use characters of GB2312)",
                    missing
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ));
        }
    };
    check("hall.name".into(), &hall.name);
    check("hall.phone".into(), &hall.phone);
    for (i, q) in queues.iter().enumerate() {
        check(format!("queues[{i}].name"), &q.name);
    }
    for (i, w) in windows.iter().enumerate() {
        check(format!("windows[{i}].name"), &w.name);
    }
    out
}

/// A layout's frame with its ticker.
pub struct Screen {
    layout: Layout,
    painter: font::Painter,
    frame: Canvas,
    strip: Canvas,
    strip_text: Option<String>,
    offset: u32,
}

impl Screen {
    pub fn new(layout: Layout) -> Screen {
        let size = layout.size();
        Screen {
            layout,
            painter: font::Painter::new(),
            frame: Canvas::new(size.width, size.height, layout.background()),
            strip: Canvas::new(0, 0, layout.background()),
            strip_text: None,
            offset: 0,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn frame(&self) -> &Canvas {
        &self.frame
    }

    pub fn full_area(&self) -> Rectangle {
        Rectangle::new(Point::zero(), self.layout.size())
    }

    /// Draw the whole frame. The ticker keeps its place unless its text changed length.
    pub fn draw(&mut self, scene: &Scene) {
        self.layout.draw_body(scene, &mut self.painter, &mut self.frame);
        let text = self.layout.ticker_text(scene);
        if self.strip_text.as_deref() != Some(text.as_str()) {
            self.strip = self.layout.ticker_strip(&text, &mut self.painter);
            self.strip_text = Some(text);
            if !self.scrolls() {
                self.offset = 0;
            }
        }
        self.blit_ticker();
    }

    /// Characters this screen was asked to draw and has no glyph for.
    pub fn missing_glyphs(&self) -> Vec<char> {
        self.painter.missing().iter().copied().collect()
    }

    /// Whether the ticker text is longer than its line and so scrolls.
    pub fn scrolls(&self) -> bool {
        self.strip.width() > self.layout.ticker_area().size.width
    }

    fn blit_ticker(&mut self) {
        let area = self.layout.ticker_area();
        self.offset %= self.strip.width().max(1);
        self.frame
            .blit_wrapping(&self.strip, self.offset, area.size.width, area.top_left);
    }

    /// Move the ticker one step; the area that changed, if any.
    pub fn scroll(&mut self) -> Option<Rectangle> {
        if !self.scrolls() {
            return None;
        }
        self.offset = (self.offset + self.layout.ticker_step()) % self.strip.width();
        self.blit_ticker();
        Some(self.layout.ticker_area())
    }
}

/// Render one frame of `scene` (tests, benches, snapshots).
pub fn render(layout: Layout, scene: &Scene) -> Canvas {
    let mut s = Screen::new(layout);
    s.draw(scene);
    s.frame
}

enum Msg {
    Call { label: String, window: WindowNo },
    Redraw,
    Notices(Vec<String>),
    Stop,
}

/// Counters, for tests and the status page.
#[derive(Debug, Default)]
pub struct DisplayStats {
    /// Full redraws.
    pub frames: AtomicU64,
    /// Ticker steps.
    pub ticks: AtomicU64,
    /// Times the display thread woke up (messages, ticks, the clock).
    pub wakeups: AtomicU64,
}

/// The running display.
#[derive(Clone)]
pub struct DisplayHandle {
    screen: Arc<Mutex<Screen>>,
    tx: Sender<Msg>,
    pub stats: Arc<DisplayStats>,
}

impl DisplayHandle {
    /// The frame on the screen now, as a PNG.
    pub fn snapshot_png(&self) -> Result<Vec<u8>, DisplayError> {
        let frame = self
            .screen
            .lock()
            .map(|s| s.frame.clone())
            .unwrap_or_else(|p| p.into_inner().frame.clone());
        Ok(frame.to_png()?)
    }

    pub fn layout(&self) -> Layout {
        self.screen
            .lock()
            .map(|s| s.layout)
            .unwrap_or_else(|p| p.into_inner().layout)
    }

    /// Replace the rolling notices (e.g. with the centre's latest policy
    /// notices); the screen redraws at once. Blank notices are dropped;
    /// characters the fonts lack show as □ (with a warning).
    pub fn set_notices(&self, notices: Vec<String>) {
        let notices = notices
            .iter()
            .map(|n| printable(n))
            .filter(|n| !n.is_empty())
            .collect();
        let _ = self.tx.send(Msg::Notices(notices));
    }

    /// Stop the display thread (the screen keeps its last frame).
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// `text` trimmed, with the characters the display fonts lack replaced by □
/// (and a warning).
pub fn printable(text: &str) -> String {
    let missing = font::missing_glyphs(text);
    if missing.is_empty() {
        return text.trim().to_string();
    }
    tracing::warn!(
        text,
        ?missing,
        "characters the display cannot draw are shown as □"
    );
    text.trim()
        .chars()
        .map(|c| if missing.contains(&c) { '□' } else { c })
        .collect()
}

/// Where frames go, with an output that may be missing (a warning, never a stop).
struct Sink {
    output: Output,
    fb: Option<fb::Framebuffer>,
    warned: bool,
}

impl Sink {
    /// Show `area` of `frame` (`full`: the whole frame was redrawn). A
    /// failing output is warned about once, until it works again.
    fn present(&mut self, frame: &Canvas, area: Rectangle, full: bool) {
        let result = match &self.output {
            Output::None => return,
            Output::Png(path) => {
                if !full {
                    return; // the file is a snapshot: ticker steps are not written
                }
                write_png(frame, path)
            }
            Output::Framebuffer(path) => {
                if self.fb.is_none() {
                    if !full {
                        return; // retried on the next full redraw
                    }
                    match fb::Framebuffer::open(path) {
                        Ok(f) => self.fb = Some(f),
                        Err(e) => {
                            self.failed(&e);
                            return;
                        }
                    }
                }
                if let Some(f) = &mut self.fb {
                    f.present(frame, area);
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                if self.warned {
                    tracing::info!("hall display output works again");
                }
                self.warned = false;
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&mut self, e: &DisplayError) {
        if !self.warned {
            tracing::warn!(error = %e, "hall display output failed; the hall runs on (hallqctl snapshot still shows the screen)");
            self.warned = true;
        }
    }
}

/// Write a PNG next to `path` and rename it into place, so that readers never see half a file.
pub fn write_png(frame: &Canvas, path: &Path) -> Result<(), DisplayError> {
    let tmp = path.with_extension("png.tmp");
    let bytes = frame.to_png()?;
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| DisplayError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Start the hall display: a thread that draws, fed by the engine's effects.
/// Call from inside the tokio runtime.
pub fn start(engine: &EngineHandle, settings: &DisplaySettings) -> DisplayHandle {
    let screen = Arc::new(Mutex::new(Screen::new(settings.layout)));
    let stats = Arc::new(DisplayStats::default());
    let (tx, rx) = unbounded();
    let handle = DisplayHandle {
        screen: screen.clone(),
        tx: tx.clone(),
        stats: stats.clone(),
    };
    let mut effects = engine.subscribe();
    tokio::spawn(async move {
        loop {
            let msg = match effects.recv().await {
                Ok(Effect::Announce { label, window }) => Msg::Call { label, window },
                Ok(Effect::RedrawHall) => Msg::Redraw,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => Msg::Redraw,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
    let worker = Worker {
        engine: engine.clone(),
        rt: tokio::runtime::Handle::current(),
        settings: settings.clone(),
        screen,
        stats,
        sink: Sink {
            output: settings.output.clone(),
            fb: None,
            warned: false,
        },
        board: CallBoard::default(),
    };
    std::thread::Builder::new()
        .name("hallq-display".into())
        .spawn(move || worker.run(rx))
        .expect("spawning the display thread");
    tracing::info!(layout = settings.layout.name(), output = ?settings.output, "hall display started");
    handle
}

struct Worker {
    engine: EngineHandle,
    rt: tokio::runtime::Handle,
    settings: DisplaySettings,
    screen: Arc<Mutex<Screen>>,
    stats: Arc<DisplayStats>,
    sink: Sink,
    board: CallBoard,
}

/// The next change of the minute shown on the clock, a little after it.
fn next_minute() -> Instant {
    let ms = chrono::Utc::now().timestamp_millis().rem_euclid(60_000) as u64;
    Instant::now() + Duration::from_millis(60_000 - ms + 20)
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>) {
        let tick = (self.settings.ticker_fps > 0)
            .then(|| Duration::from_secs_f64(1.0 / self.settings.ticker_fps as f64));
        let mut dirty = true;
        let mut seeded = false;
        let mut minute = Instant::now();
        let mut next_tick = Instant::now();
        loop {
            if dirty || Instant::now() >= minute {
                let view = match self.rt.block_on(self.engine.view()) {
                    Ok(v) => v,
                    Err(EngineError::Stopped) => break,
                    Err(e) => {
                        // Busy: the engine's queue is full. Try again shortly.
                        tracing::debug!(error = %e, "hall view not available; redrawing later");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                if !seeded {
                    self.board.seed(&view);
                    seeded = true;
                }
                // The centre's notices (from its latest configuration bundle)
                // replace the configured ones; its calendar decides the hours.
                let setup = self.engine.current_setup();
                let notices = if setup.notices.is_empty() {
                    &self.settings.notices
                } else {
                    &setup.notices
                };
                let scene = Scene::build(&setup, &view, &self.board, notices);
                let mut screen = self.screen.lock().unwrap_or_else(|p| p.into_inner());
                screen.draw(&scene);
                let area = screen.full_area();
                self.sink.present(screen.frame(), area, true);
                self.stats.frames.fetch_add(1, Ordering::Relaxed);
                dirty = false;
                minute = next_minute();
            }
            let scrolling = tick.is_some() && self.screen.lock().map(|s| s.scrolls()).unwrap_or(false);
            let deadline = if scrolling { next_tick.min(minute) } else { minute };
            let first = match rx.recv_deadline(deadline) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
            let mut stop = false;
            for m in first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match m {
                    Msg::Call { label, window } => {
                        self.board.called(&label, window);
                        dirty = true;
                    }
                    Msg::Redraw => dirty = true,
                    Msg::Notices(n) => {
                        self.settings.notices = n;
                        dirty = true;
                    }
                    Msg::Stop => stop = true,
                }
            }
            if stop {
                break;
            }
            if let (true, Some(tick)) = (scrolling, tick) {
                let now = Instant::now();
                if now >= next_tick {
                    let mut screen = self.screen.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(area) = screen.scroll() {
                        self.sink.present(screen.frame(), area, false);
                        self.stats.ticks.fetch_add(1, Ordering::Relaxed);
                    }
                    next_tick += tick;
                    if next_tick < now {
                        next_tick = now + tick;
                    }
                }
            }
        }
        tracing::info!("hall display stopped");
    }
}
