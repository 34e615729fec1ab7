//! The screen layouts: a 1920×1080 HDMI screen and LED matrix boards of
//! 192×64 and 128×32 pixels. Each draws a [`Scene`] onto a [`Canvas`]; the
//! bottom line is a ticker (滚动播放) that [`Screen`](super::Screen) scrolls.
//!
//! Sizes on the 1080p layout are font sizes (em) in pixels: the newest call
//! 200, older calls 150, body text 48–64.

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{Point, Size};
use embedded_graphics::primitives::{CornerRadii, Primitive, PrimitiveStyle, Rectangle, RoundedRectangle};
use embedded_graphics::Drawable;
use serde::Deserialize;

use super::canvas::Canvas;
use super::font::{LedFont, Painter};
use super::scene::{Call, Scene, CLOSED_TITLE, NEXT_OPEN};

/// Which screen the hall has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Layout {
    /// 1920×1080 HDMI screen.
    #[serde(rename = "1080p")]
    Hd1080,
    /// 192×64 LED matrix board (red/green, 16 px rows).
    #[serde(rename = "led-192x64")]
    Led192x64,
    /// 128×32 LED matrix board.
    #[serde(rename = "led-128x32")]
    Led128x32,
}

/// Font sizes (em, px) of the 1080p layout.
pub mod hd {
    pub const NEWEST_CALL: u32 = 200;
    pub const OLDER_CALL: u32 = 168;
    pub const BODY: u32 = 52;
    pub const SMALL_BODY: u32 = 48;
    // Legible at hall distance: call numbers at least 120 px of ink (digits are
    // about 0.73 em), body text at least 48 px.
    const _: () = assert!(OLDER_CALL >= 120 && NEWEST_CALL >= OLDER_CALL && SMALL_BODY >= 48 && BODY >= 48);
}

// 1080p palette
const BG: Rgb888 = Rgb888::new(8, 27, 56);
const HEADER: Rgb888 = Rgb888::new(18, 56, 108);
const PANEL: Rgb888 = Rgb888::new(15, 42, 82);
const RULE: Rgb888 = Rgb888::new(44, 78, 130);
const TEXT: Rgb888 = Rgb888::new(245, 247, 250);
const DIM: Rgb888 = Rgb888::new(176, 196, 226);
const GOLD: Rgb888 = Rgb888::new(255, 210, 64);
const HIGHLIGHT: Rgb888 = Rgb888::new(255, 193, 7);
const INK: Rgb888 = Rgb888::new(20, 24, 32);
const GREEN: Rgb888 = Rgb888::new(120, 232, 150);
const ALERT: Rgb888 = Rgb888::new(255, 128, 110);
const TICKER_BG: Rgb888 = Rgb888::new(112, 14, 20);
const TICKER_FG: Rgb888 = Rgb888::new(255, 226, 120);

// LED palette: a red/green board shows red, green and both (yellow).
const LED_RED: Rgb888 = Rgb888::new(255, 0, 0);
const LED_GREEN: Rgb888 = Rgb888::new(0, 255, 0);
const LED_YELLOW: Rgb888 = Rgb888::new(255, 255, 0);

/// Separator between items of a ticker.
const TICKER_SEP: &str = "　　";

impl Layout {
    pub fn size(self) -> Size {
        match self {
            Layout::Hd1080 => Size::new(1920, 1080),
            Layout::Led192x64 => Size::new(192, 64),
            Layout::Led128x32 => Size::new(128, 32),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Hd1080 => "1080p",
            Layout::Led192x64 => "led-192x64",
            Layout::Led128x32 => "led-128x32",
        }
    }

    pub fn background(self) -> Rgb888 {
        match self {
            Layout::Hd1080 => BG,
            _ => Rgb888::BLACK,
        }
    }

    /// The ticker's place on the screen.
    pub fn ticker_area(self) -> Rectangle {
        match self {
            Layout::Hd1080 => Rectangle::new(Point::new(0, 984), Size::new(1920, 96)),
            Layout::Led192x64 => Rectangle::new(Point::new(0, 48), Size::new(192, 16)),
            Layout::Led128x32 => Rectangle::new(Point::new(0, 16), Size::new(128, 16)),
        }
    }

    /// Pixels the ticker moves per tick.
    pub fn ticker_step(self) -> u32 {
        match self {
            Layout::Hd1080 => 4,
            _ => 1,
        }
    }

    fn ticker_bg(self) -> Rgb888 {
        match self {
            Layout::Hd1080 => TICKER_BG,
            _ => Rgb888::BLACK,
        }
    }

    /// What the ticker says.
    pub fn ticker_text(self, s: &Scene) -> String {
        let mut items: Vec<String> = Vec::new();
        let closed = s.closed_screen();
        match self {
            Layout::Hd1080 => {
                if s.notices.is_empty() {
                    if !s.phone.is_empty() {
                        items.push(format!("咨询电话：{}", s.phone));
                    }
                } else {
                    items.extend(s.notices.iter().cloned());
                }
            }
            Layout::Led192x64 | Layout::Led128x32 => {
                if self == Layout::Led128x32 {
                    if closed {
                        if let Some(n) = &s.next_open {
                            items.push(format!("{NEXT_OPEN} {n}"));
                        }
                    } else {
                        let older: Vec<String> = s
                            .calls
                            .iter()
                            .skip(1)
                            .take(3)
                            .map(|c| format!("{}→{}号", c.label, c.window))
                            .collect();
                        if !older.is_empty() {
                            items.push(older.join(" "));
                        }
                    }
                    items.push(format!("{} {}", s.date_short, s.clock));
                }
                if closed {
                    items.push(format!("营业时间 {}", s.hours_week.join(" ")));
                } else {
                    for q in &s.queues {
                        items.push(format!("{} 等候{}人 {}", q.name, q.waiting, q.wait));
                    }
                    if let Some(a) = &s.apology {
                        items.push(a.clone());
                    }
                    items.push(format!("今日营业时间 {}", s.hours_today));
                }
                items.extend(s.notices.iter().cloned());
            }
        }
        if items.is_empty() {
            s.hall_name.clone()
        } else {
            items.join(TICKER_SEP)
        }
    }

    /// Draw the ticker text once into a strip as high as the ticker; the
    /// screen scrolls through it. A strip no wider than the ticker stands still.
    pub fn ticker_strip(self, text: &str, painter: &mut Painter) -> Canvas {
        let area = self.ticker_area();
        match self {
            Layout::Hd1080 => {
                let w = painter.width(text, hd::BODY);
                let gap = if w > area.size.width {
                    area.size.width / 3
                } else {
                    area.size.width - w
                };
                let mut strip = Canvas::new(w + gap, area.size.height, TICKER_BG);
                let x = if w > area.size.width {
                    0
                } else {
                    40.min(gap as i32)
                };
                painter.draw_in_line(
                    &mut strip,
                    text,
                    Point::new(x, 0),
                    area.size.height,
                    hd::BODY,
                    TICKER_FG,
                );
                strip
            }
            _ => {
                let w = LedFont::Large.width(text);
                let gap = if w > area.size.width {
                    32
                } else {
                    area.size.width - w
                };
                let mut strip = Canvas::new(w + gap, area.size.height, Rgb888::BLACK);
                painter.led(LedFont::Large, &mut strip, text, Point::zero(), LED_GREEN);
                strip
            }
        }
    }

    /// Draw everything but the ticker.
    pub fn draw_body(self, s: &Scene, painter: &mut Painter, c: &mut Canvas) {
        c.fill_rect(Rectangle::new(Point::zero(), self.size()), self.background());
        let bar = self.ticker_area();
        c.fill_rect(bar, self.ticker_bg());
        match self {
            Layout::Hd1080 => hd1080(s, painter, c),
            Layout::Led192x64 => led192(s, painter, c),
            Layout::Led128x32 => led128(s, painter, c),
        }
    }
}

/// The largest em ≤ `max` (down to `min`) at which `text` fits in `width`;
/// if it does not fit even at `min`, the text is cut short with "…".
fn fit(p: &mut Painter, text: &str, max: u32, min: u32, width: u32) -> (String, u32) {
    let w = p.width(text, max);
    if w <= width {
        return (text.to_string(), max);
    }
    let em = ((max as u64 * width as u64 / w.max(1) as u64) as u32).clamp(min, max);
    if p.width(text, em) <= width {
        return (text.to_string(), em);
    }
    let mut cut: String = text.to_string();
    while !cut.is_empty() && p.width(&format!("{cut}…"), em) > width {
        cut.pop();
    }
    (format!("{cut}…"), em)
}

fn rounded(c: &mut Canvas, area: Rectangle, radius: u32, color: Rgb888) {
    let _ = RoundedRectangle::new(area, CornerRadii::new(Size::new(radius, radius)))
        .into_styled(PrimitiveStyle::with_fill(color))
        .draw(c);
}

fn hd1080(s: &Scene, p: &mut Painter, c: &mut Canvas) {
    // Header: hall name; date and clock on the right.
    c.fill_rect(Rectangle::new(Point::zero(), Size::new(1920, 120)), HEADER);
    let clock_w = p.width(&s.clock, 80);
    let date_w = p.width(&s.date, hd::SMALL_BODY);
    let right = 1880 - clock_w as i32;
    p.draw_in_line(c, &s.clock, Point::new(right, 0), 120, 80, TEXT);
    let date_x = right - 36 - date_w as i32;
    p.draw_in_line(c, &s.date, Point::new(date_x, 0), 120, hd::SMALL_BODY, DIM);
    let name_room = (date_x - 40 - 48).max(200) as u32;
    let (name, em) = fit(p, &s.hall_name, 56, 40, name_room);
    p.draw_in_line(c, &name, Point::new(40, 0), 120, em, TEXT);

    if s.closed_screen() {
        hd_closed(s, p, c);
    } else {
        hd_calls(s, p, c);
        hd_queues(s, p, c);
    }
}

fn centred(p: &mut Painter, c: &mut Canvas, text: &str, top: i32, line: u32, em: u32, color: Rgb888) {
    let w = p.width(text, em) as i32;
    p.draw_in_line(c, text, Point::new((1920 - w) / 2, top), line, em, color);
}

fn hd_closed(s: &Scene, p: &mut Painter, c: &mut Canvas) {
    centred(p, c, CLOSED_TITLE, 170, 220, 160, ALERT);
    if let Some(n) = &s.next_open {
        centred(p, c, NEXT_OPEN, 410, 90, 64, DIM);
        centred(p, c, n, 500, 130, 96, GOLD);
    }
    let _ = Rectangle::new(Point::new(460, 660), Size::new(1000, 2))
        .into_styled(PrimitiveStyle::with_fill(RULE))
        .draw(c);
    centred(p, c, "营业时间", 680, 76, hd::BODY, DIM);
    for (i, line) in s.hours_week.iter().take(3).enumerate() {
        centred(p, c, line, 756 + i as i32 * 72, 72, hd::BODY, TEXT);
    }
}

/// One call, "A012 → 3号窗口", in `area` (text starts 40 px in), with the
/// label and window at the given sizes (shrunk if too wide) and colours.
fn call_row(
    p: &mut Painter,
    c: &mut Canvas,
    call: &Call,
    area: Rectangle,
    ems: (u32, u32),
    colors: (Rgb888, Rgb888),
) {
    let (label, x, top, line) = (
        call.label.as_str(),
        area.top_left.x + 40,
        area.top_left.y,
        area.size.height,
    );
    let width = area.size.width - 80;
    let win = format!("{}号窗口", call.window);
    let (label_em, win_em) = ems;
    let total = p.width(label, label_em) + p.width("→", win_em) + p.width(&win, win_em) + 80;
    let scale = |em: u32| {
        if total > width {
            (em as u64 * width as u64 / total as u64) as u32
        } else {
            em
        }
    };
    let (label_em, win_em) = (scale(label_em), scale(win_em));
    let mut pen = x;
    pen += p.draw_in_line(c, label, Point::new(pen, top), line, label_em, colors.0) as i32 + 40;
    pen += p.draw_in_line(c, "→", Point::new(pen, top), line, win_em, colors.1) as i32 + 40;
    p.draw_in_line(c, &win, Point::new(pen, top), line, win_em, colors.1);
}

fn hd_calls(s: &Scene, p: &mut Painter, c: &mut Canvas) {
    p.draw_in_line(c, "请以下号码到窗口办理", Point::new(48, 128), 80, hd::BODY, DIM);
    let newest = Rectangle::new(Point::new(24, 212), Size::new(1200, 248));
    match s.calls.first() {
        Some(call) => {
            rounded(c, newest, 24, HIGHLIGHT);
            let area = Rectangle::new(Point::new(24, 212), Size::new(1200, 248));
            call_row(p, c, call, area, (hd::NEWEST_CALL, 140), (INK, INK));
        }
        None => {
            rounded(c, newest, 24, PANEL);
            p.draw_in_line(c, "请取号等候叫号", Point::new(64, 212), 248, 96, DIM);
        }
    }
    for i in 0..3 {
        let top = 476 + i * 170;
        if let Some(call) = s.calls.get(1 + i as usize) {
            let area = Rectangle::new(Point::new(24, top), Size::new(1200, 170));
            call_row(p, c, call, area, (hd::OLDER_CALL, 110), (GOLD, TEXT));
        }
        let _ = Rectangle::new(Point::new(40, top + 169), Size::new(1168, 2))
            .into_styled(PrimitiveStyle::with_fill(RULE))
            .draw(c);
    }
}

fn hd_queues(s: &Scene, p: &mut Painter, c: &mut Canvas) {
    let panel = Rectangle::new(Point::new(1252, 136), Size::new(644, 832));
    rounded(c, panel, 20, PANEL);
    let (x0, x1) = (1284, 1864);
    p.draw_in_line(c, "等候情况", Point::new(x0, 148), 80, hd::BODY, DIM);
    // Room for the queues between the title and the hours.
    let footer = 200 + if s.apology.is_some() { 70 } else { 0 };
    let top0 = 236;
    let room = (968 - footer - top0) as u32;
    let n = s.queues.len() as u32;
    let two_line = n * 150 <= room;
    let row = if two_line { 150 } else { (room / n.max(1)).max(64) };
    let fits = (room / row) as usize;
    let shown = if fits < s.queues.len() {
        fits.saturating_sub(1)
    } else {
        s.queues.len()
    };
    for (i, q) in s.queues.iter().take(shown).enumerate() {
        let top = top0 + i as i32 * row as i32;
        let count = format!("{}人", q.waiting);
        if two_line {
            let w = p.width(&count, 64) as i32;
            let (name, em) = fit(p, &q.name, 56, 36, (x1 - w - 24 - x0) as u32);
            p.draw_in_line(c, &name, Point::new(x0, top), 76, em, TEXT);
            p.draw_in_line(c, &count, Point::new(x1 - w, top), 76, 64, GREEN);
            p.draw_in_line(
                c,
                &format!("预计等候 {}", q.wait),
                Point::new(x0, top + 72),
                66,
                hd::SMALL_BODY,
                DIM,
            );
        } else {
            let right = format!("{count} {}", q.wait);
            let w = p.width(&right, hd::SMALL_BODY) as i32;
            let (name, em) = fit(p, &q.name, hd::SMALL_BODY, 32, (x1 - w - 24 - x0) as u32);
            p.draw_in_line(c, &name, Point::new(x0, top), row, em, TEXT);
            p.draw_in_line(c, &right, Point::new(x1 - w, top), row, hd::SMALL_BODY, GREEN);
        }
        let _ = Rectangle::new(
            Point::new(x0, top + row as i32 - 4),
            Size::new((x1 - x0) as u32, 2),
        )
        .into_styled(PrimitiveStyle::with_fill(RULE))
        .draw(c);
    }
    if shown < s.queues.len() {
        let top = top0 + shown as i32 * row as i32;
        let more = format!("另有{}个队列", s.queues.len() - shown);
        p.draw_in_line(c, &more, Point::new(x0, top), row, hd::SMALL_BODY, DIM);
    }
    let mut y = 968 - footer;
    if let Some(a) = &s.apology {
        p.draw_in_line(c, a, Point::new(x0, y), 70, hd::SMALL_BODY, GOLD);
        y += 70;
    }
    p.draw_in_line(c, "今日营业时间", Point::new(x0, y + 10), 80, hd::SMALL_BODY, DIM);
    let (hours, em) = fit(p, &s.hours_today, hd::BODY, 40, (x1 - x0) as u32);
    p.draw_in_line(c, &hours, Point::new(x0, y + 90), 80, em, TEXT);
}

/// Draw `text` centred on an LED row in the large font, or the small one if it is too wide.
fn led_line(p: &mut Painter, c: &mut Canvas, text: &str, top: i32, width: u32, color: Rgb888) {
    let font = if LedFont::Large.width(text) <= width {
        LedFont::Large
    } else {
        LedFont::Small
    };
    let w = font.width(text);
    let x = (width.saturating_sub(w) / 2) as i32;
    let y = top + (16 - font.height() as i32) / 2;
    p.led(font, c, text, Point::new(x, y), color);
}

fn led192(s: &Scene, p: &mut Painter, c: &mut Canvas) {
    if s.closed_screen() {
        led_line(p, c, CLOSED_TITLE, 0, 192, LED_RED);
        match &s.next_open {
            Some(n) => led_line(p, c, &format!("下次开放 {n}"), 16, 192, LED_YELLOW),
            None => led_line(p, c, &s.hall_name, 16, 192, LED_YELLOW),
        }
    } else {
        match s.calls.first() {
            Some(call) => led_line(
                p,
                c,
                &format!("请{}号到{}号窗口", call.label, call.window),
                0,
                192,
                LED_RED,
            ),
            None => led_line(p, c, "请取号等候叫号", 0, 192, LED_GREEN),
        }
        let older: Vec<String> = s
            .calls
            .iter()
            .skip(1)
            .take(2)
            .map(|c| format!("{}→{}号", c.label, c.window))
            .collect();
        led_line(p, c, &older.join("  "), 16, 192, LED_GREEN);
    }
    p.led(LedFont::Large, c, &s.date_short, Point::new(0, 32), LED_YELLOW);
    let w = LedFont::Large.width(&s.clock);
    p.led(
        LedFont::Large,
        c,
        &s.clock,
        Point::new(192 - w as i32, 32),
        LED_YELLOW,
    );
}

fn led128(s: &Scene, p: &mut Painter, c: &mut Canvas) {
    if s.closed_screen() {
        led_line(p, c, CLOSED_TITLE, 0, 128, LED_RED);
    } else {
        match s.calls.first() {
            Some(call) => led_line(
                p,
                c,
                &format!("{}→{}号窗口", call.label, call.window),
                0,
                128,
                LED_RED,
            ),
            None => led_line(p, c, &format!("{} {}", s.date_short, s.clock), 0, 128, LED_YELLOW),
        }
    }
}
