//! Text for the hall display.
//!
//! - Large screens (1080p): `assets/fonts/hallq-cjk.ttf`, Droid Sans Fallback
//!   (Apache-2.0) cut down to GB2312, for Chinese, and
//!   `assets/fonts/hallq-latin.ttf`, DejaVu Sans cut down to Latin-1 and the
//!   GB2312 symbols, for digits and letters (Droid Sans Fallback has none).
//!   Both are built into the binary and rasterised with anti-aliasing by
//!   `ab_glyph` at any size (call numbers ≥ 120 px, body ≥ 48 px). Glyphs
//!   are cached per size.
//! - LED matrix boards: the WenQuanYi GB2312 bitmap fonts of `u8g2-fonts`
//!   (12 and 16 px), drawn pixel for pixel: an LED pixel is on or off, and
//!   these fonts were hand-made for that.
//!
//! See `assets/fonts/README.md` for why.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::Point;
use u8g2_fonts::types::{FontColor, VerticalPosition};
use u8g2_fonts::{fonts, FontRenderer};

use super::canvas::Canvas;

/// The TrueType fonts built into the binary.
static CJK_TTF: &[u8] = include_bytes!("../../assets/fonts/hallq-cjk.ttf");
static LATIN_TTF: &[u8] = include_bytes!("../../assets/fonts/hallq-latin.ttf");

/// The CJK TrueType font (its metrics set the line).
pub fn cjk() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(CJK_TTF).expect("the bundled CJK font is a valid TrueType file")
    })
}

/// The Latin TrueType font: digits, letters, arrows.
pub fn latin() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(LATIN_TTF).expect("the bundled Latin font is a valid TrueType file")
    })
}

/// The font that draws `ch`: Latin below the CJK blocks when it has the
/// character, else the CJK font; None if neither has it.
pub fn font_for(ch: char) -> Option<&'static FontRef<'static>> {
    let has = |f: &FontRef<'_>| f.glyph_id(ch).0 != 0;
    if (ch as u32) < 0x2E80 && has(latin()) {
        Some(latin())
    } else if has(cjk()) {
        Some(cjk())
    } else if has(latin()) {
        Some(latin())
    } else {
        None
    }
}

/// The two bitmap sizes used on LED boards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedFont {
    /// 12 px (`wqy12_t_gb2312`).
    Small,
    /// 16 px (`wqy16_t_gb2312`).
    Large,
}

impl LedFont {
    fn renderer(self) -> &'static FontRenderer {
        static SMALL: FontRenderer = FontRenderer::new::<fonts::u8g2_font_wqy12_t_gb2312>();
        static LARGE: FontRenderer = FontRenderer::new::<fonts::u8g2_font_wqy16_t_gb2312>();
        match self {
            LedFont::Small => &SMALL,
            LedFont::Large => &LARGE,
        }
    }

    pub fn height(self) -> u32 {
        match self {
            LedFont::Small => 12,
            LedFont::Large => 16,
        }
    }

    /// Rows above the baseline: the WenQuanYi hanzi fill the cell from
    /// there down to the descent (2 rows at 16 px, 1 at 12 px).
    fn ascent(self) -> i32 {
        match self {
            LedFont::Small => 10,
            LedFont::Large => 14,
        }
    }

    /// Width in pixels of `text` (characters the font lacks count as nothing).
    pub fn width(self, text: &str) -> u32 {
        text.chars()
            .map(|ch| {
                let mut b = [0; 4];
                self.renderer()
                    .get_rendered_dimensions(&*ch.encode_utf8(&mut b), Point::zero(), VerticalPosition::Top)
                    .map(|d| d.advance.x.max(0) as u32)
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Draw `text` with its top-left at `at`; returns the width drawn.
    /// Characters the font lacks are skipped (the configuration check and
    /// the glyph tests keep them out).
    pub fn draw(self, canvas: &mut Canvas, text: &str, at: Point, color: Rgb888) -> u32 {
        let mut x = at.x;
        for ch in text.chars() {
            let mut b = [0; 4];
            let s = &*ch.encode_utf8(&mut b);
            if let Ok(d) = self.renderer().render(
                s,
                Point::new(x, at.y + self.ascent()),
                VerticalPosition::Baseline,
                FontColor::Transparent(color),
                canvas,
            ) {
                x += d.advance.x;
            }
        }
        (x - at.x).max(0) as u32
    }

    /// Characters of `text` this font cannot draw.
    pub fn missing(self, text: &str) -> Vec<char> {
        text.chars()
            .filter(|ch| !ch.is_whitespace())
            .filter(|ch| {
                let mut b = [0; 4];
                self.renderer()
                    .get_rendered_dimensions(&*ch.encode_utf8(&mut b), Point::zero(), VerticalPosition::Top)
                    .is_err()
            })
            .collect()
    }
}

/// Characters of `text` that the display cannot draw in some font: the
/// configuration check refuses such text and the tests check every string
/// the product shows.
/// Why some notices cannot be shown (a character the display's fonts lack),
/// or `None` when every one can. Checked before notices are accepted, at the
/// centre and at the hall.
pub fn unprintable_notices(notices: &[String]) -> Option<String> {
    notices.iter().enumerate().find_map(|(i, n)| {
        let missing = missing_glyphs(n);
        (!missing.is_empty()).then(|| {
            let chars: String = missing.iter().collect();
            format!("notices[{i}]: the hall display cannot show `{chars}` (its fonts cover GB2312)")
        })
    })
}

pub fn missing_glyphs(text: &str) -> Vec<char> {
    let mut out: Vec<char> = text
        .chars()
        .filter(|ch| !ch.is_whitespace())
        .filter(|ch| font_for(*ch).is_none())
        .collect();
    out.extend(LedFont::Small.missing(text));
    out.extend(LedFont::Large.missing(text));
    out.sort_unstable();
    out.dedup();
    out
}

/// One rasterised glyph: coverage bytes, placed relative to the pen on the baseline.
struct Bitmap {
    left: i32,
    top: i32,
    width: u32,
    height: u32,
    coverage: Vec<u8>,
    advance: f32,
}

/// Draws text, caching TrueType glyphs per (character, size), and notes
/// every character it was asked to draw and could not.
#[derive(Default)]
pub struct Painter {
    cache: HashMap<(char, u32), Bitmap>,
    missing: BTreeSet<char>,
}

/// Glyphs kept before the cache is emptied (a day's notices fit easily).
const CACHE_MAX: usize = 6000;

impl Painter {
    pub fn new() -> Painter {
        Painter::default()
    }

    /// `em` is the font size in pixels (the em square, as in CSS `font-size`).
    fn scale(f: &FontRef<'_>, em: u32) -> PxScale {
        let upem = f.units_per_em().unwrap_or(1000.0);
        PxScale::from(em as f32 * f.height_unscaled() / upem)
    }

    fn glyph(&mut self, ch: char, em: u32) -> &Bitmap {
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.entry((ch, em)).or_insert_with(|| {
            let face = font_for(ch).unwrap_or(latin());
            let font = face.as_scaled(Self::scale(face, em));
            let id = font.glyph_id(ch);
            let advance = font.h_advance(id);
            let glyph = id.with_scale_and_position(font.scale(), ab_glyph::point(0.0, 0.0));
            match face.outline_glyph(glyph) {
                Some(og) => {
                    let b = og.px_bounds();
                    let (w, h) = (b.width() as u32, b.height() as u32);
                    let mut coverage = vec![0u8; (w * h) as usize];
                    og.draw(|x, y, c| {
                        if x < w && y < h {
                            coverage[(y * w + x) as usize] = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                        }
                    });
                    Bitmap {
                        left: b.min.x as i32,
                        top: b.min.y as i32,
                        width: w,
                        height: h,
                        coverage,
                        advance,
                    }
                }
                None => Bitmap {
                    left: 0,
                    top: 0,
                    width: 0,
                    height: 0,
                    coverage: Vec::new(),
                    advance,
                },
            }
        })
    }

    /// Characters asked for that no font has, since this painter was made.
    pub fn missing(&self) -> &BTreeSet<char> {
        &self.missing
    }

    /// Draw LED text (see [`LedFont::draw`]), noting characters the font lacks.
    pub fn led(&mut self, font: LedFont, canvas: &mut Canvas, text: &str, at: Point, color: Rgb888) -> u32 {
        self.missing.extend(font.missing(text));
        font.draw(canvas, text, at, color)
    }

    /// Ascent (above the baseline) of the font at `em`, in pixels.
    pub fn ascent(em: u32) -> i32 {
        cjk().as_scaled(Self::scale(cjk(), em)).ascent().round() as i32
    }

    /// The width of `text` at `em`.
    pub fn width(&mut self, text: &str, em: u32) -> u32 {
        text.chars()
            .map(|c| self.glyph(c, em).advance)
            .sum::<f32>()
            .round() as u32
    }

    /// Draw `text` at `em` with the pen starting at `x` on the baseline `baseline`.
    /// Returns the advance width.
    pub fn draw(
        &mut self,
        canvas: &mut Canvas,
        text: &str,
        x: i32,
        baseline: i32,
        em: u32,
        color: Rgb888,
    ) -> u32 {
        let mut pen = x as f32;
        for ch in text.chars() {
            if !ch.is_whitespace() && font_for(ch).is_none() {
                self.missing.insert(ch);
            }
            let g = self.glyph(ch, em);
            let gx = pen.round() as i32 + g.left;
            let gy = baseline + g.top;
            for row in 0..g.height {
                let line = &g.coverage[(row * g.width) as usize..((row + 1) * g.width) as usize];
                for (col, &a) in line.iter().enumerate() {
                    canvas.blend(gx + col as i32, gy + row as i32, color, a);
                }
            }
            pen += g.advance;
        }
        (pen - x as f32).round() as u32
    }

    /// Draw `text` starting at `at.x`, vertically centred (by the font's
    /// ascent and descent) in the line of height `line` whose top is `at.y`.
    pub fn draw_in_line(
        &mut self,
        canvas: &mut Canvas,
        text: &str,
        at: Point,
        line: u32,
        em: u32,
        color: Rgb888,
    ) -> u32 {
        let f = cjk().as_scaled(Self::scale(cjk(), em));
        let h = f.ascent() - f.descent();
        let baseline = at.y as f32 + (line as f32 - h) / 2.0 + f.ascent();
        self.draw(canvas, text, at.x, baseline.round() as i32, em, color)
    }

    /// Height in pixels of the ink of `text` at `em` (for the legibility test).
    pub fn ink_height(&mut self, text: &str, em: u32) -> u32 {
        let mut top = i32::MAX;
        let mut bottom = i32::MIN;
        for ch in text.chars() {
            let g = self.glyph(ch, em);
            if g.height > 0 {
                top = top.min(g.top);
                bottom = bottom.max(g.top + g.height as i32);
            }
        }
        if top > bottom {
            0
        } else {
            (bottom - top) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use embedded_graphics::pixelcolor::RgbColor;

    use super::*;

    #[test]
    fn notices_the_display_cannot_show_are_named() {
        let ok = vec!["住房公积金缴存基数每年7月1日调整一次。".to_string()];
        assert_eq!(unprintable_notices(&ok), None);
        let bad = vec![ok[0].clone(), "新政策😀".to_string()];
        let problem = unprintable_notices(&bad).unwrap();
        assert!(
            problem.starts_with("notices[1]") && problem.contains('😀'),
            "{problem}"
        );
    }

    #[test]
    fn the_fonts_know_chinese_and_report_what_they_lack() {
        assert!(missing_glyphs("请A012号到3号窗口办理 归集业务 暂停服务 0123456789").is_empty());
        // 𠀀 (CJK extension B) is outside GB2312; so is the emoji.
        assert_eq!(missing_glyphs("好𠀀😀"), vec!['😀', '𠀀']);
    }

    #[test]
    fn undrawable_characters_become_boxes() {
        assert_eq!(crate::display::printable(" 新政策😀发布 "), "新政策□发布");
        assert_eq!(crate::display::printable("A012号"), "A012号");
        assert!(missing_glyphs("□").is_empty());
    }

    #[test]
    fn text_is_drawn_at_the_size_asked() {
        let mut p = Painter::new();
        let mut c = Canvas::new(500, 200, Rgb888::BLACK);
        let w = p.draw(&mut c, "A012", 10, 150, 160, Rgb888::WHITE);
        assert!(w > 300 && w < 480, "{w}");
        assert_eq!(w, p.width("A012", 160));
        // Digits at em 160 stand well over 100 px.
        let ink = p.ink_height("0123456789", 160);
        assert!((110..=140).contains(&ink), "{ink}");
        let lit = (0..200)
            .flat_map(|y| (0..500).map(move |x| (x, y)))
            .filter(|&(x, y)| c.pixel(x, y).r() > 128)
            .count();
        assert!(lit > 4000, "{lit}");
    }

    #[test]
    fn led_text_fills_its_cell_without_clipping() {
        for (font, text) in [(LedFont::Large, "非营下"), (LedFont::Small, "非营下")] {
            let h = font.height();
            let mut c = Canvas::new(64, h + 2, Rgb888::BLACK);
            font.draw(&mut c, text, Point::new(0, 1), Rgb888::RED);
            let lit = |y: u32| c.row(y).iter().any(|p| *p != Rgb888::BLACK);
            assert!(!lit(0) && !lit(h + 1), "{font:?} spills out of its cell");
            assert!(lit(1), "{font:?} leaves the top row empty: clipped or misplaced");
        }
    }

    #[test]
    fn led_fonts_are_crisp_bitmaps() {
        let mut c = Canvas::new(64, 16, Rgb888::BLACK);
        let w = LedFont::Large.draw(&mut c, "号3", Point::zero(), Rgb888::RED);
        assert_eq!(w, LedFont::Large.width("号3"));
        assert!(w >= 16 + 6, "{w}");
        for y in 0..16 {
            for x in 0..64 {
                let p = c.pixel(x, y);
                assert!(
                    p == Rgb888::BLACK || p == Rgb888::RED,
                    "anti-aliased pixel at {x},{y}"
                );
            }
        }
    }
}
