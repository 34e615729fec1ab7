//! The hall display: time to render one full frame of each layout from a
//! realistic demo hall, the time of one ticker step, and the CPU the real
//! `hallqd` uses over an idle minute with the display running (ticker
//! scrolling, ticker still) and with the display off.
//!
//! Run: `cargo bench --bench hall_display` (HALLQ_BENCH_IDLE_S sets the
//! idle window in seconds, default 60; HALLQ_BENCH_FRAMES the frames timed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use hallq::config::Config;
use hallq::display::{CallBoard, Layout, Scene, Screen};
use hallq::domain::{Command as HallCommand, Event, Hall, OutcomeInput, TicketClass};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The demo hall mid-morning: 28 waiting, six windows, recent calls.
fn demo_scene() -> Scene {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = Config::load(&root.join("config/demo.toml")).unwrap();
    let mut now = c
        .setup
        .tz
        .with_ymd_and_hms(2026, 12, 4, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let mut hall = Hall::new(c.setup.clone());
    let mut board = CallBoard::default();
    let mut run = |hall: &mut Hall, cmd: HallCommand| {
        now += chrono::Duration::seconds(40);
        for e in hall.handle(&cmd, now).unwrap() {
            if let Event::TicketCalled { label, window, .. } = e {
                board.called(&label, window);
            }
        }
    };
    for w in 1..=6 {
        run(
            &mut hall,
            HallCommand::Login {
                window: w,
                staff: format!("S{w:03}"),
            },
        );
    }
    for q in "ABACBAACBABCAABACBAABCBAACABBACA".chars() {
        run(
            &mut hall,
            HallCommand::IssueTicket {
                queue: q.to_string(),
                class: TicketClass::Normal,
            },
        );
    }
    for w in [1, 2, 3, 4, 5, 6, 2, 3] {
        run(&mut hall, HallCommand::CallNext { window: w });
        run(
            &mut hall,
            HallCommand::Finish {
                window: w,
                items: vec![1],
                outcome: OutcomeInput::Done,
            },
        );
    }
    for w in 1..=5 {
        run(&mut hall, HallCommand::CallNext { window: w });
    }
    let notices = c.display.as_ref().map(|d| d.notices.clone()).unwrap_or_default();
    Scene::build(&c.setup, &hall.view(now), &board, &notices)
}

fn time_layout(layout: Layout, scene: &Scene, frames: u32) {
    let mut screen = Screen::new(layout);
    let t = Instant::now();
    screen.draw(scene);
    let cold = t.elapsed();
    let t = Instant::now();
    for _ in 0..frames {
        screen.draw(scene);
    }
    let warm = t.elapsed() / frames;
    let steps = 200;
    let t = Instant::now();
    for _ in 0..steps {
        screen.scroll();
    }
    let step = t.elapsed() / steps;
    let t = Instant::now();
    let png = screen.frame().to_png().unwrap();
    let encode = t.elapsed();
    println!(
        "{:>10} full frame: {:.2} ms (first, rasterising glyphs {:.1} ms); ticker step {:.3} ms; PNG encode {:.1} ms ({} kB)",
        layout.name(),
        ms(warm),
        ms(cold),
        ms(step),
        ms(encode),
        png.len() / 1024
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ")"
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Run hallqd on the demo hall with `display` as its [display] section and
/// measure its CPU over `idle_s` seconds of an idle hall.
fn idle_cpu(dir: &Path, what: &str, display: &str, idle_s: u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read_to_string(root.join("config/demo.toml")).unwrap();
    // The demo without its own [display] and [voice], pointed at the repo's data.
    let base = demo.split("\n[display]").next().unwrap();
    let text = format!(
        "{}\n{display}\n",
        base.replace(
            "database = \"../target/demo/hallq-demo.db\"",
            "database = \"hall.db\""
        ) + &format!(
            "\n[data]\ncatalog = \"{}\"\ncalendars = [\"{}\"]\n",
            root.join("config/catalog.toml").display(),
            root.join("config/calendar/cn-2026.toml").display()
        )
    );
    let sub = dir.join(what.replace(' ', "-"));
    std::fs::create_dir_all(&sub).unwrap();
    let cfg = sub.join("hall.toml");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hallqd"))
        .args(["--config", cfg.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("hallqd listening on"), "{line}");
    std::thread::sleep(Duration::from_secs(2)); // let start-up and the first frame pass
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(idle_s));
    let used = cpu_ticks(child.id()) - before;
    let ticks_per_s = 100.0; // USER_HZ on Linux
    println!(
        "idle hall CPU over {idle_s} s, {what}: {:.2}% of one core ({used} ticks)",
        used as f64 / ticks_per_s / idle_s as f64 * 100.0
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and
    // should not spend time here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let frames = env_num("HALLQ_BENCH_FRAMES", 20) as u32;
    let idle_s = env_num("HALLQ_BENCH_IDLE_S", 60);
    let scene = demo_scene();
    for layout in [Layout::Hd1080, Layout::Led192x64, Layout::Led128x32] {
        time_layout(layout, &scene, frames);
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    idle_cpu(
        dir.path(),
        "1080p display, notices scrolling at 25 fps",
        "[display]\nlayout = \"1080p\"\noutput = \"png\"\npng = \"display.png\"\nticker_fps = 25\nnotices = [\"住房公积金缴存基数每年7月1日调整一次，请单位按时申报。\", \"办理业务请提前准备材料，材料不全的一次性告知。\"]",
        idle_s,
    );
    idle_cpu(
        dir.path(),
        "1080p display, ticker still",
        "[display]\nlayout = \"1080p\"\noutput = \"png\"\npng = \"display.png\"\nticker_fps = 0",
        idle_s,
    );
    idle_cpu(dir.path(), "display off", "", idle_s);
}
