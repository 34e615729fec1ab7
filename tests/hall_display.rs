//! The hall display and the voice in a running hall: the real `hallqd`
//! writes the display PNG and one WAV file per call and recall, and
//! `hallqctl snapshot` saves the screen; in-process, the display thread only
//! wakes for changes, ticker steps and the clock.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{repo_config_dir, wait_until, write_hall_config, Daemon};
use embedded_graphics::pixelcolor::RgbColor;
use hallq::display::{Canvas, DisplaySettings, Layout, Output};
use hallq::domain::{Command as HallCommand, TicketClass};
use hallq::engine::{Engine, SystemClock};
use hallq::store::Store;
use hallq::voice::{Clip, Segments};
use serde_json::json;

fn voice_dir() -> PathBuf {
    repo_config_dir().join("../assets/voice")
}

/// The test hall with a display (PNG file, still ticker) and WAV-file voice.
fn hall_with_display(dir: &Path) -> PathBuf {
    let config = write_hall_config(dir, "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        r#"
[display]
layout = "1080p"
output = "png"
png = "screen.png"
ticker_fps = 0
notices = ["办理业务请提前准备材料。"]

[voice]
segments = "{}"
repeat = 1
pause_ms = 300
output = "wav"
wav_dir = "calls"
"#,
        voice_dir().display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn wavs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".wav"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn snapshot(d: &Daemon, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .args(["--api", &d.base, "snapshot", "--output"])
        .arg(out)
        .output()
        .expect("running hallqctl")
}

#[test]
fn calls_are_heard_as_their_segments_and_seen_on_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let config = hall_with_display(dir.path());
    let d = Daemon::start(&config);
    let screen = dir.path().join("screen.png");
    assert!(
        wait_until(Duration::from_secs(10), || screen.is_file()),
        "no first frame"
    );

    let shot = dir.path().join("before.png");
    let out = snapshot(&d, &shot);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1920×1080"));
    let before = Canvas::from_png(&std::fs::read(&shot).unwrap()).unwrap();
    assert_eq!((before.width(), before.height()), (1920, 1080));

    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "A"})).0, 201);
    assert_eq!(d.post("/api/v1/windows/2/login", json!({"staff": "S002"})).0, 200);
    assert_eq!(d.post_empty("/api/v1/windows/2/call-next").0, 200);
    assert_eq!(d.post_empty("/api/v1/windows/2/recall").0, 200);

    // One WAV per call and recall, in order, each exactly the segments.
    let calls = dir.path().join("calls");
    assert!(
        wait_until(Duration::from_secs(10), || wavs(&calls).len() == 2),
        "{:?}",
        wavs(&calls)
    );
    assert_eq!(wavs(&calls), ["0001-A001-w2.wav", "0002-A001-w2.wav"]);
    let segments = Segments::load(&voice_dir()).unwrap();
    let mut expected = segments.clip("chime").unwrap().samples.clone();
    for name in [
        "qing",
        "A",
        "0",
        "0",
        "1",
        "hao",
        "dao",
        "2",
        "hao-chuangkou",
        "banli",
    ] {
        expected.extend(&segments.clip(name).unwrap().samples);
    }
    for f in wavs(&calls) {
        let heard = Clip::read(&calls.join(&f)).unwrap();
        assert_eq!(heard.rate, segments.rate());
        assert!(
            heard.samples == expected,
            "{f} is not chime 请 A 0 0 1 号 到 2 号窗口 办理"
        );
    }

    // The screen shows the call: the snapshot and the PNG output change.
    let after = dir.path().join("after.png");
    assert!(wait_until(Duration::from_secs(10), || {
        snapshot(&d, &after).status.success()
            && Canvas::from_png(&std::fs::read(&after).unwrap())
                .unwrap()
                .difference(&before, 0)
                .is_some_and(|diff| diff.pixels > 1000)
    }));
    let file = Canvas::from_png(&std::fs::read(&screen).unwrap()).unwrap();
    assert!(file.difference(&before, 0).unwrap().pixels > 1000);
    assert_eq!(d.terminate(), Some(0));
}

#[test]
fn without_a_display_the_snapshot_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&write_hall_config(dir.path(), ""));
    let (status, body) = d.get("/api/v1/display.png");
    assert_eq!((status, body["code"].as_str()), (404, Some("display_off")));
    let out = snapshot(&d, &dir.path().join("x.png"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("display is off"));
}

/// Wake-ups of the display thread over `window`.
async fn wakeups_over(stats: &hallq::display::DisplayStats, window: Duration) -> u64 {
    let before = stats.wakeups.load(Ordering::Relaxed);
    tokio::time::sleep(window).await; // an observation window, not a wait for a result
    stats.wakeups.load(Ordering::Relaxed) - before
}

#[tokio::test]
async fn the_display_sleeps_unless_something_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = hallq::config::Config::load(&write_hall_config(dir.path(), "")).unwrap();
    let store = Store::open(&dir.path().join("hall.db"), "test-hall").unwrap();
    let (engine, _thread) = Engine::open(config.setup.clone(), store, Box::new(SystemClock))
        .unwrap()
        .spawn();
    // 1080p without notices: the ticker (the hall phone) fits and stands still.
    let still = DisplaySettings {
        layout: Layout::Hd1080,
        output: Output::None,
        ticker_fps: 25,
        notices: vec![],
    };
    let display = hallq::display::start(&engine, &still);
    let s = display.stats.clone();
    let frames_at_least = |n: u64| {
        let s = s.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while s.frames.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await; // poll, bounded by the deadline
            }
            s.frames.load(Ordering::Relaxed) >= n
        }
    };
    assert!(frames_at_least(1).await);
    // Nothing changes: only the minute clock could wake it.
    let idle = wakeups_over(&s, Duration::from_millis(600)).await;
    assert!(idle <= 1, "{idle} wake-ups in an idle hall");
    // A ticket changes the hall: a redraw, then sleep again.
    engine
        .execute(HallCommand::IssueTicket {
            queue: "A".into(),
            class: TicketClass::Normal,
        })
        .await
        .unwrap();
    assert!(frames_at_least(2).await);
    let idle = wakeups_over(&s, Duration::from_millis(600)).await;
    assert!(idle <= 1, "{idle} wake-ups after the redraw");
    assert_eq!(s.ticks.load(Ordering::Relaxed), 0);
    display.stop();

    // The 128x32 board's ticker (queues, hours) is longer than the board:
    // it steps 25 times a second, and that is all.
    let scrolling = DisplaySettings {
        layout: Layout::Led128x32,
        ..still.clone()
    };
    let display = hallq::display::start(&engine, &scrolling);
    let s = display.stats.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.frames.load(Ordering::Relaxed) < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await; // poll, bounded by the deadline
    }
    let ticks = s.ticks.load(Ordering::Relaxed);
    let busy = wakeups_over(&s, Duration::from_millis(600)).await;
    assert!((5..=25).contains(&busy), "{busy} wake-ups in 0.6 s at 25 fps");
    assert!(s.ticks.load(Ordering::Relaxed) > ticks);
    display.stop();

    // Notices fed later (from the centre) redraw the screen.
    let display = hallq::display::start(&engine, &still);
    let s = display.stats.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.frames.load(Ordering::Relaxed) < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await; // poll, bounded by the deadline
    }
    let png = |d: &hallq::display::DisplayHandle| Canvas::from_png(&d.snapshot_png().unwrap()).unwrap();
    let before = png(&display);
    display.set_notices(vec!["住房公积金贷款利率自1月1日起调整。".into(), "  ".into()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.frames.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await; // poll, bounded by the deadline
    }
    let after = png(&display);
    let ticker_top = Layout::Hd1080.ticker_area().top_left.y as u32;
    assert!(
        (ticker_top..1080).any(|y| before.row(y) != after.row(y)),
        "the ticker shows the new notice"
    );
    display.stop();
    engine.shutdown().await;
}

#[test]
fn bad_display_and_voice_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_hall_config(dir.path(), "");
    let text =
        std::fs::read_to_string(&config)
            .unwrap()
            .replacen("name = \"归集业务\"", "name = \"归集𠀀\"", 1)
            + r#"
[display]
layout = "1080p"
output = "hdmi"
ticker_fps = 100
notices = ["好😀", " "]

[voice]
segments = "nowhere"
repeat = 0
output = "speaker"
"#;
    let e = hallq::config::Config::from_str_at(&text, &config).unwrap_err();
    let problems = e.problems();
    let find = |key: &str| {
        problems
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no problem at {key}: {problems:#?}"))
            .problem
            .clone()
    };
    assert!(find("display.output").contains("hdmi"));
    assert!(find("display.ticker_fps").contains("0–60"));
    assert!(find("display.notices[0]").contains("😀"));
    assert!(find("display.notices[1]").contains("empty"));
    assert!(find("voice.segments").contains("nowhere"));
    assert!(find("voice.repeat").contains("1–5"));
    assert!(find("voice.output").contains("speaker"));
    assert!(
        find("queues[0].name").contains('𠀀'),
        "the names the screen shows are checked too"
    );
    // An unknown layout is a parse error at its line.
    let text = std::fs::read_to_string(&config).unwrap() + "\n[display]\nlayout = \"4k\"\n";
    let e = hallq::config::Config::from_str_at(&text, &config).unwrap_err();
    assert!(e.to_string().contains("4k"), "{e}");
}

#[test]
fn a_missing_screen_and_sound_card_do_not_stop_the_hall() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_hall_config(dir.path(), "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!(
        r#"
[display]
layout = "led-192x64"
output = "framebuffer"
framebuffer = "{}"

[voice]
segments = "{}"
output = "alsa"
alsa_device = "hallq-no-such-card"
"#,
        dir.path().join("no-fb0").display(),
        voice_dir().display()
    );
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);
    assert_eq!(d.post("/api/v1/tickets", json!({"queue": "B"})).0, 201);
    assert_eq!(d.post("/api/v1/windows/3/login", json!({"staff": "S003"})).0, 200);
    assert_eq!(d.post_empty("/api/v1/windows/3/call-next").0, 200);
    assert_eq!(d.post_empty("/api/v1/windows/3/recall").0, 200);
    let (status, devices) = d.get("/api/v1/devices");
    assert_eq!(status, 200);
    assert_eq!(devices["announced"].as_array().map(Vec::len), Some(2));
    // The snapshot still shows the call, on the LED layout.
    let shot = dir.path().join("led.png");
    assert!(wait_until(Duration::from_secs(10), || {
        snapshot(&d, &shot).status.success()
            && Canvas::from_png(&std::fs::read(&shot).unwrap())
                .is_ok_and(|c| (c.width(), c.height()) == (192, 64) && c.row(8).iter().any(|p| p.r() > 200))
    }));
    let big = dir.path().join("led-x6.png");
    let out = Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .args(["--api", &d.base, "snapshot", "--scale", "6", "-o"])
        .arg(&big)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1152×384"),
        "{out:?}"
    );
    assert_eq!(d.get("/healthz").0, 200);
    assert_eq!(d.terminate(), Some(0));
}

#[test]
fn check_config_lists_the_display_and_the_voice() {
    let out = Command::new(env!("CARGO_BIN_EXE_hallqctl"))
        .arg("check-config")
        .arg(repo_config_dir().join("example.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("display    1080p to /dev/fb0, 2 notices"), "{text}");
    assert!(
        text.contains("voice      ") && text.contains("said 2×, to ALSA default"),
        "{text}"
    );
}
