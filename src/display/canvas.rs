//! The frame the hall display draws into: a plain RGB buffer that
//! embedded-graphics draws on, that fonts blend into, and that becomes a PNG
//! snapshot or is copied to the Linux framebuffer.

use std::convert::Infallible;
use std::io::Write;

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{Dimensions, DrawTarget, OriginDimensions, Pixel, Point, Size};
use embedded_graphics::primitives::Rectangle;

/// An RGB frame, row-major, one `Rgb888` per pixel.
#[derive(Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<Rgb888>,
}

impl std::fmt::Debug for Canvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Canvas({}x{})", self.width, self.height)
    }
}

/// Why a PNG could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] png::EncodingError),
    #[error("PNG decoding failed: {0}")]
    Decode(#[from] png::DecodingError),
    #[error("the PNG is not 8-bit RGB or RGBA")]
    Format,
}

/// How two frames differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    /// Pixels whose colour differs by more than the per-channel tolerance.
    pub pixels: usize,
    /// The largest difference of one channel anywhere.
    pub max_channel: u8,
}

impl Canvas {
    pub fn new(width: u32, height: u32, fill: Rgb888) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![fill; (width * height) as usize],
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn pixel(&self, x: u32, y: u32) -> Rgb888 {
        self.pixels[(y * self.width + x) as usize]
    }

    /// One row of pixels.
    pub fn row(&self, y: u32) -> &[Rgb888] {
        let start = (y * self.width) as usize;
        &self.pixels[start..start + self.width as usize]
    }

    /// Set a pixel if it lies on the canvas.
    #[inline]
    pub fn put(&mut self, x: i32, y: i32, c: Rgb888) {
        if x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height {
            self.pixels[(y as u32 * self.width + x as u32) as usize] = c;
        }
    }

    /// Blend `c` over the pixel with coverage `alpha` (0–255).
    #[inline]
    pub fn blend(&mut self, x: i32, y: i32, c: Rgb888, alpha: u8) {
        if alpha == 0 || x < 0 || y < 0 || x as u32 >= self.width || y as u32 >= self.height {
            return;
        }
        let i = (y as u32 * self.width + x as u32) as usize;
        if alpha == 255 {
            self.pixels[i] = c;
            return;
        }
        let bg = self.pixels[i];
        let a = u16::from(alpha);
        let mix = |f: u8, b: u8| ((u16::from(f) * a + u16::from(b) * (255 - a) + 127) / 255) as u8;
        self.pixels[i] = Rgb888::new(mix(c.r(), bg.r()), mix(c.g(), bg.g()), mix(c.b(), bg.b()));
    }

    /// Fill a rectangle (clipped to the canvas).
    pub fn fill_rect(&mut self, area: Rectangle, c: Rgb888) {
        let area = area.intersection(&self.bounding_box());
        if area.is_zero_sized() {
            return;
        }
        let (x0, y0) = (area.top_left.x as u32, area.top_left.y as u32);
        for y in y0..y0 + area.size.height {
            let start = (y * self.width + x0) as usize;
            self.pixels[start..start + area.size.width as usize].fill(c);
        }
    }

    /// Copy `src`'s columns `src_x..src_x+width` (wrapping around its width)
    /// into this canvas at `at`. Used to scroll a pre-drawn ticker strip.
    pub fn blit_wrapping(&mut self, src: &Canvas, src_x: u32, width: u32, at: Point) {
        if src.width == 0 {
            return;
        }
        for sy in 0..src.height {
            let dy = at.y + sy as i32;
            if dy < 0 || dy as u32 >= self.height {
                continue;
            }
            let mut done = 0;
            let mut sx = src_x % src.width;
            while done < width {
                let n = (src.width - sx).min(width - done);
                let dx = at.x + done as i32;
                if dx >= 0 && (dx as u32) + n <= self.width {
                    let d = (dy as u32 * self.width + dx as u32) as usize;
                    let s = (sy * src.width + sx) as usize;
                    self.pixels[d..d + n as usize].copy_from_slice(&src.pixels[s..s + n as usize]);
                }
                done += n;
                sx = 0;
            }
        }
    }

    /// Copy the whole of `src` to `at`.
    pub fn blit(&mut self, src: &Canvas, at: Point) {
        self.blit_wrapping(src, 0, src.width.min(self.width), at);
    }

    /// Each pixel as an `n`×`n` block (to look at an LED board's frame).
    pub fn scaled(&self, n: u32) -> Canvas {
        let n = n.max(1);
        let mut out = Canvas::new(self.width * n, self.height * n, Rgb888::BLACK);
        for y in 0..out.height {
            for x in 0..out.width {
                out.pixels[(y * out.width + x) as usize] = self.pixel(x / n, y / n);
            }
        }
        out
    }

    /// Encode as an 8-bit RGB PNG, fast (snapshots, the PNG output).
    pub fn write_png(&self, out: impl Write) -> Result<(), PngError> {
        // Rows of a screen mostly repeat the row above: the Up filter is
        // several times faster than adaptive filtering for files ~1.7× larger.
        self.encode(out, png::Compression::Fast, png::Filter::Up)
    }

    /// Encode as small as reasonably possible (PNGs kept in the repository).
    pub fn write_png_compact(&self, out: impl Write) -> Result<(), PngError> {
        self.encode(out, png::Compression::High, png::Filter::Adaptive)
    }

    fn encode(
        &self,
        out: impl Write,
        compression: png::Compression,
        filter: png::Filter,
    ) -> Result<(), PngError> {
        let mut enc = png::Encoder::new(out, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(compression);
        enc.set_filter(filter);
        let mut w = enc.write_header()?;
        let mut data = Vec::with_capacity(self.pixels.len() * 3);
        for p in &self.pixels {
            data.extend_from_slice(&[p.r(), p.g(), p.b()]);
        }
        w.write_image_data(&data)?;
        w.finish()?;
        Ok(())
    }

    pub fn to_png(&self) -> Result<Vec<u8>, PngError> {
        let mut out = Vec::new();
        self.write_png(&mut out)?;
        Ok(out)
    }

    /// Decode an 8-bit RGB or RGBA PNG (alpha is dropped).
    pub fn from_png(bytes: &[u8]) -> Result<Canvas, PngError> {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().ok_or(PngError::Format)?];
        let info = reader.next_frame(&mut buf)?;
        let step = match (info.color_type, info.bit_depth) {
            (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
            (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
            _ => return Err(PngError::Format),
        };
        let pixels = buf[..info.buffer_size()]
            .chunks_exact(step)
            .map(|p| Rgb888::new(p[0], p[1], p[2]))
            .collect();
        Ok(Canvas {
            width: info.width,
            height: info.height,
            pixels,
        })
    }

    /// Compare with another frame of the same size: pixels differing by more
    /// than `tolerance` in any channel. `None` if the sizes differ.
    pub fn difference(&self, other: &Canvas, tolerance: u8) -> Option<Difference> {
        if self.width != other.width || self.height != other.height {
            return None;
        }
        let mut d = Difference {
            pixels: 0,
            max_channel: 0,
        };
        for (a, b) in self.pixels.iter().zip(&other.pixels) {
            let m = a
                .r()
                .abs_diff(b.r())
                .max(a.g().abs_diff(b.g()))
                .max(a.b().abs_diff(b.b()));
            d.max_channel = d.max_channel.max(m);
            if m > tolerance {
                d.pixels += 1;
            }
        }
        Some(d)
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, c) in pixels {
            self.put(p.x, p.y, c);
        }
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        self.fill_rect(*area, color);
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pixels.fill(color);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_and_difference() {
        let mut c = Canvas::new(7, 5, Rgb888::BLACK);
        c.put(3, 2, Rgb888::new(200, 10, 30));
        c.blend(1, 1, Rgb888::WHITE, 128);
        let back = Canvas::from_png(&c.to_png().unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.pixel(1, 1), Rgb888::new(128, 128, 128));
        let mut other = c.clone();
        other.put(0, 0, Rgb888::new(3, 0, 0));
        other.put(6, 4, Rgb888::new(0, 90, 0));
        let d = c.difference(&other, 4).unwrap();
        assert_eq!(d.pixels, 1);
        assert_eq!(d.max_channel, 90);
        assert!(c.difference(&Canvas::new(5, 7, Rgb888::BLACK), 0).is_none());
        let big = c.scaled(3);
        assert_eq!((big.width(), big.height()), (21, 15));
        assert_eq!(big.pixel(9, 6), c.pixel(3, 2));
        assert_eq!(big.pixel(11, 8), c.pixel(3, 2));
    }

    #[test]
    fn blit_wraps_around_the_strip() {
        let mut strip = Canvas::new(4, 1, Rgb888::BLACK);
        for x in 0..4 {
            strip.put(x, 0, Rgb888::new(x as u8, 0, 0));
        }
        let mut c = Canvas::new(6, 2, Rgb888::WHITE);
        c.blit_wrapping(&strip, 3, 6, Point::new(0, 1));
        let reds: Vec<u8> = c.row(1).iter().map(|p| p.r()).collect();
        assert_eq!(reds, [3, 0, 1, 2, 3, 0]);
        assert!(c.row(0).iter().all(|p| *p == Rgb888::WHITE));
    }
}
