//! The hall display: golden images of every layout drawn from a realistic
//! demo hall (open, mid-morning) and a closed hall (Friday evening), and the
//! glyph coverage of every string the product can show.
//!
//! `HALLQ_BLESS=1 cargo test --test display` rewrites the PNGs in
//! `tests/golden/`; look at them before committing.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use hallq::config::Config;
use hallq::display::font::{missing_glyphs, Painter};
use hallq::display::layout::hd;
use hallq::display::scene::{CLOSED_TITLE, WEEKDAYS, WEEKDAYS_SHORT};
use hallq::display::{CallBoard, Canvas, Layout, Scene, Screen};
use hallq::domain::{Command, Event, Hall, OutcomeInput, PauseKind, TicketClass, WindowStatus};

const LAYOUTS: [Layout; 3] = [Layout::Hd1080, Layout::Led192x64, Layout::Led128x32];

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(rel: &str) -> Config {
    Config::load(&repo(rel)).unwrap_or_else(|e| panic!("{e}"))
}

fn local(c: &Config, d: u32, h: u32, m: u32) -> DateTime<Utc> {
    c.setup
        .tz
        .with_ymd_and_hms(2026, 12, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Run commands on a hall, feeding calls and recalls to the board as the
/// display's effects would.
struct Demo {
    hall: Hall,
    board: CallBoard,
    now: DateTime<Utc>,
}

impl Demo {
    fn new(c: &Config, now: DateTime<Utc>) -> Demo {
        Demo {
            hall: Hall::new(c.setup.clone()),
            board: CallBoard::default(),
            now,
        }
    }

    fn run(&mut self, cmd: Command) {
        self.now += Duration::seconds(20);
        let events = self
            .hall
            .handle(&cmd, self.now)
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        for e in events {
            if let Event::TicketCalled { label, window, .. } | Event::TicketRecalled { label, window, .. } = e
            {
                self.board.called(&label, window);
            }
        }
    }

    fn issue(&mut self, queue: &str, n: usize, class: TicketClass) {
        for _ in 0..n {
            self.run(Command::IssueTicket {
                queue: queue.into(),
                class,
            });
        }
    }

    fn serve(&mut self, window: u16, minutes: i64) {
        self.run(Command::CallNext { window });
        self.now += Duration::minutes(minutes);
        self.run(Command::Finish {
            window,
            items: vec![1],
            outcome: OutcomeInput::Done,
        });
    }

    fn scene(&self, c: &Config) -> Scene {
        let notices = c.display.as_ref().map(|d| d.notices.clone()).unwrap_or_default();
        Scene::build(&c.setup, &self.hall.view(self.now), &self.board, &notices)
    }
}

/// The demo hall on Friday 4 December 2026 at about 10:15: three queues with
/// people waiting, six windows serving, paused or away, calls and a recall.
fn open_hall() -> (Config, Scene) {
    let c = load("config/demo.toml");
    let mut d = Demo::new(&c, local(&c, 4, 8, 40));
    for w in 1..=6 {
        d.run(Command::Login {
            window: w,
            staff: format!("S{w:03}"),
        });
    }
    for q in "ABACBAACBABCAABACBAABCBAACAB".chars() {
        d.issue(&q.to_string(), 1, TicketClass::Normal);
    }
    d.issue("A", 2, TicketClass::Priority);
    for (w, m) in [(2, 9), (3, 7), (4, 12), (5, 15), (2, 8), (3, 10)] {
        d.serve(w, m);
    }
    d.issue("B", 5, TicketClass::Normal);
    for w in [1, 2, 3, 5, 6] {
        d.run(Command::CallNext { window: w });
    }
    d.run(Command::Pause {
        window: 4,
        kind: PauseKind::Paused,
    });
    d.run(Command::Recall { window: 3 });
    d.now = local(&c, 4, 10, 15);
    let scene = d.scene(&c);
    (c, scene)
}

/// The example hall on Friday 4 December 2026 at 18:30: closed until Monday.
fn closed_hall() -> (Config, Scene) {
    let c = load("config/example.toml");
    let d = Demo::new(&c, local(&c, 4, 18, 30));
    let scene = d.scene(&c);
    (c, scene)
}

fn check_golden(name: &str, frame: &Canvas) {
    let path = repo(&format!("tests/golden/{name}.png"));
    if std::env::var_os("HALLQ_BLESS").is_some() {
        let mut png = Vec::new();
        frame.write_png_compact(&mut png).unwrap();
        std::fs::write(&path, png).unwrap();
        return;
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (HALLQ_BLESS=1 cargo test --test display makes it)",
            path.display()
        )
    });
    let golden = Canvas::from_png(&bytes).unwrap();
    let d = frame
        .difference(&golden, 24)
        .expect("the golden image has the layout's size");
    // Anti-aliasing may differ by a little between platforms; layout must not.
    let allowed = (frame.width() * frame.height()) as usize / 500;
    if d.pixels > allowed {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.actual.png"));
        std::fs::write(&out, frame.to_png().unwrap()).unwrap();
        panic!(
            "{name}: {} pixels differ from {} (at most {allowed} may); this frame is in {}",
            d.pixels,
            path.display(),
            out.display()
        );
    }
}

fn draw(layout: Layout, scene: &Scene) -> Canvas {
    let mut s = Screen::new(layout);
    s.draw(scene);
    assert!(
        s.missing_glyphs().is_empty(),
        "{layout:?}: no glyph for {:?}",
        s.missing_glyphs()
    );
    s.frame().clone()
}

#[test]
fn the_demo_state_is_realistic() {
    let (_, s) = open_hall();
    assert!(s.open && !s.closed_screen());
    assert_eq!(s.clock, "10:15");
    assert_eq!(s.date, "2026年12月4日 星期五");
    assert_eq!(
        s.calls[0].window, 3,
        "the recall at window 3 is the newest: {:?}",
        s.calls
    );
    assert!(s.calls.len() >= 4);
    assert!(s.queues.iter().all(|q| q.waiting > 0), "{:?}", s.queues);
    assert_eq!(s.notices.len(), 3);
    let (_, s) = closed_hall();
    assert!(s.closed_screen());
    assert_eq!(s.next_open.as_deref(), Some("12月7日（星期一）08:30"));
    assert_eq!(
        s.hours_week,
        ["周一至周五 08:30-12:00 13:30-17:00", "周六、周日 休息"]
    );
}

#[test]
fn golden_images_of_every_layout() {
    let (_, open) = open_hall();
    let (_, closed) = closed_hall();
    for layout in LAYOUTS {
        check_golden(&format!("open-{}", layout.name()), &draw(layout, &open));
        check_golden(&format!("closed-{}", layout.name()), &draw(layout, &closed));
    }
}

#[test]
fn the_newest_call_is_highlighted_and_the_ticker_scrolls() {
    let (_, scene) = open_hall();
    let mut screen = Screen::new(Layout::Hd1080);
    screen.draw(&scene);
    // The newest call sits on the highlight colour.
    let hl = screen.frame().pixel(40, 300);
    assert_eq!(hl, Rgb888::new(255, 193, 7));
    let before = screen.frame().clone();
    assert!(screen.scrolls(), "three notices do not fit one line");
    let area = screen.scroll().expect("a step");
    let after = screen.frame();
    // Only the ticker changed.
    for y in 0..area.top_left.y as u32 {
        assert!(before.row(y) == after.row(y), "row {y} changed");
    }
    assert!((area.top_left.y as u32..after.height()).any(|y| before.row(y) != after.row(y)));
    // A short ticker stands still.
    let mut quiet = scene.clone();
    quiet.notices = vec!["欢迎光临".into()];
    let mut screen = Screen::new(Layout::Hd1080);
    screen.draw(&quiet);
    assert!(!screen.scrolls());
    assert!(screen.scroll().is_none());
}

#[test]
fn many_queues_and_long_names_stay_inside_the_waiting_panel() {
    let (_, mut scene) = open_hall();
    let q = scene.queues[0].clone();
    scene.queues = (0..12)
        .map(|i| hallq::display::scene::QueueLine {
            prefix: format!("{}", (b'A' + i) as char),
            name: if i == 0 {
                "个人住房公积金提取与贷款综合业务".into()
            } else {
                q.name.clone()
            },
            ..q.clone()
        })
        .collect();
    let frame = draw(Layout::Hd1080, &scene);
    if std::env::var_os("HALLQ_BLESS").is_some() {
        std::fs::write(
            std::env::temp_dir().join("many-queues.png"),
            frame.to_png().unwrap(),
        )
        .unwrap();
    }
    // On each queue line the name (white) stays left of the count and wait
    // (green), with a gap: a long name is shrunk and cut short, not overlaid.
    let f = &frame;
    let white = |p: Rgb888| p.r() > 200 && p.g() > 200 && p.b() > 200;
    let green = |p: Rgb888| p.g() > 200 && p.r() < 160;
    let panel = 1270..1896u32;
    let first_row = 236..300u32;
    let rightmost_white = first_row
        .clone()
        .flat_map(|y| panel.clone().filter(move |&x| white(f.pixel(x, y))))
        .max()
        .expect("the first queue's name is drawn");
    let leftmost_green = first_row
        .flat_map(|y| panel.clone().filter(move |&x| green(f.pixel(x, y))))
        .min()
        .expect("the first queue's count is drawn");
    assert!(
        rightmost_white + 8 < leftmost_green,
        "name ends at {rightmost_white}, count starts at {leftmost_green}"
    );
    // Nothing spills out of the panel.
    for y in 140..960 {
        for x in (1232..1250).chain(1898..1920) {
            assert!(
                !white(frame.pixel(x, y)) && !green(frame.pixel(x, y)),
                "text spilled to {x},{y}"
            );
        }
    }
}

#[test]
fn call_numbers_and_body_text_are_big_enough_on_1080p() {
    let mut p = Painter::new();
    // The ink of the digits of the oldest call shown.
    let ink = p.ink_height("0123456789", hd::OLDER_CALL);
    assert!(ink >= 120, "{ink}");
    let ink = p.ink_height("0123456789", hd::NEWEST_CALL);
    assert!(ink >= 140, "{ink}");
}

#[test]
fn every_string_the_product_shows_has_glyphs() {
    let mut texts: Vec<String> = Vec::new();
    for file in ["config/demo.toml", "config/example.toml"] {
        let c = load(file);
        texts.push(c.setup.name.clone());
        texts.push(c.setup.phone.clone());
        texts.extend(c.setup.queues.iter().map(|q| q.name.clone()));
        texts.extend(c.setup.windows.iter().map(|w| w.name.clone()));
        texts.extend(c.setup.rating_levels.iter().map(|l| l.name.clone()));
        texts.extend(c.display.iter().flat_map(|d| d.notices.clone()));
        for q in &c.setup.queues {
            for n in [1, 12, 999] {
                texts.push(format!("{}{:03}", q.prefix, n));
            }
        }
    }
    for s in [
        WindowStatus::Closed,
        WindowStatus::Idle,
        WindowStatus::Serving,
        WindowStatus::Paused,
        WindowStatus::Away,
    ] {
        texts.push(s.chinese().to_string());
    }
    texts.extend(
        WEEKDAYS
            .iter()
            .chain(WEEKDAYS_SHORT.iter())
            .map(|s| s.to_string()),
    );
    texts.push(CLOSED_TITLE.into());
    texts.push("0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ :-→（）、，。".into());
    for t in &texts {
        assert!(
            missing_glyphs(t).is_empty(),
            "{t}: no glyph for {:?}",
            missing_glyphs(t)
        );
    }
    // Every string the layouts put on screen, in many states: each hour of a
    // week, open and closed, with long waits.
    let (c, open) = open_hall();
    let mut scenes = vec![open.clone(), closed_hall().1];
    let mut long = open.clone();
    long.apology = Some(hallq::display::scene::APOLOGY.into());
    long.notices.clear();
    scenes.push(long);
    let mut d = Demo::new(&c, local(&c, 7, 0, 0));
    for h in (0..24 * 7).step_by(7) {
        d.now = local(&c, 7, 0, 0) + Duration::hours(h);
        scenes.push(d.scene(&c));
    }
    let ex = load("config/example.toml");
    let dx = Demo::new(&ex, local(&ex, 7, 0, 0));
    for h in (0..24 * 7).step_by(7) {
        let mut dx2 = Demo {
            hall: dx.hall.clone(),
            board: CallBoard::default(),
            now: local(&ex, 7, 0, 0) + Duration::hours(h),
        };
        dx2.board.called("Z120", 12);
        scenes.push(dx2.scene(&ex));
    }
    for layout in LAYOUTS {
        let mut screen = Screen::new(layout);
        for s in &scenes {
            screen.draw(s);
        }
        assert!(
            screen.missing_glyphs().is_empty(),
            "{layout:?}: {:?}",
            screen.missing_glyphs()
        );
    }
}
