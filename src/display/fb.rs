//! The Linux framebuffer (`/dev/fb0`): the HDMI screen, or the HDMI input of
//! an LED board's sending card, which shows a region of the picture.

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::primitives::Rectangle;

use super::canvas::Canvas;
use super::DisplayError;

/// Where each colour sits in a framebuffer pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    pub bytes_per_pixel: usize,
    /// (bit offset, bit length) of red, green and blue.
    pub red: (u32, u32),
    pub green: (u32, u32),
    pub blue: (u32, u32),
}

impl PixelFormat {
    /// XRGB8888, the usual 32-bit format.
    pub const XRGB8888: PixelFormat = PixelFormat {
        bytes_per_pixel: 4,
        red: (16, 8),
        green: (8, 8),
        blue: (0, 8),
    };
    /// RGB565, common on small panels.
    pub const RGB565: PixelFormat = PixelFormat {
        bytes_per_pixel: 2,
        red: (11, 5),
        green: (5, 6),
        blue: (0, 5),
    };

    /// Write one pixel (little-endian, as the kernel lays it out).
    #[inline]
    pub fn encode(&self, c: Rgb888, out: &mut [u8]) {
        let chan = |v: u8, (off, len): (u32, u32)| -> u32 { (u32::from(v) >> (8 - len.min(8))) << off };
        let v = chan(c.r(), self.red) | chan(c.g(), self.green) | chan(c.b(), self.blue);
        out[..self.bytes_per_pixel].copy_from_slice(&v.to_le_bytes()[..self.bytes_per_pixel]);
    }

    /// Encode a row of pixels.
    pub fn encode_row(&self, row: &[Rgb888], out: &mut [u8]) {
        for (c, px) in row.iter().zip(out.chunks_exact_mut(self.bytes_per_pixel)) {
            self.encode(*c, px);
        }
    }
}

/// An open framebuffer device.
pub struct Framebuffer {
    fb: framebuffer::Framebuffer,
    path: PathBuf,
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
    line: Vec<u8>,
}

impl Framebuffer {
    pub fn open(path: &Path) -> Result<Framebuffer, DisplayError> {
        let fb = framebuffer::Framebuffer::new(path).map_err(|e| DisplayError::Framebuffer {
            path: path.to_path_buf(),
            problem: e.details,
        })?;
        let v = &fb.var_screen_info;
        let bpp = v.bits_per_pixel as usize / 8;
        if !(2..=4).contains(&bpp) {
            return Err(DisplayError::Framebuffer {
                path: path.to_path_buf(),
                problem: format!(
                    "{} bits per pixel is not supported (16, 24 or 32)",
                    v.bits_per_pixel
                ),
            });
        }
        let format = PixelFormat {
            bytes_per_pixel: bpp,
            red: (v.red.offset, v.red.length),
            green: (v.green.offset, v.green.length),
            blue: (v.blue.offset, v.blue.length),
        };
        let (width, height) = (v.xres, v.yres);
        let stride = fb.fix_screen_info.line_length as usize;
        tracing::info!(device = %path.display(), width, height, bits = v.bits_per_pixel, "framebuffer opened");
        Ok(Framebuffer {
            fb,
            path: path.to_path_buf(),
            format,
            width,
            height,
            stride,
            line: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copy `area` of the frame to the screen (clipped to the screen).
    pub fn present(&mut self, frame: &Canvas, area: Rectangle) {
        let screen = Screen {
            format: self.format,
            width: self.width,
            height: self.height,
            stride: self.stride,
        };
        screen.copy(frame, area, &mut self.fb.frame, &mut self.line);
    }
}

/// The geometry of a framebuffer's memory.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes from one line to the next.
    pub stride: usize,
}

impl Screen {
    /// Encode `area` of `frame` into the screen memory `mem`, clipped to both;
    /// `line` is scratch space.
    pub fn copy(&self, frame: &Canvas, area: Rectangle, mem: &mut [u8], line: &mut Vec<u8>) {
        let x0 = area.top_left.x.max(0) as u32;
        let y0 = area.top_left.y.max(0) as u32;
        let x1 = (area.top_left.x.max(0) as u32 + area.size.width)
            .min(frame.width())
            .min(self.width);
        let y1 = (area.top_left.y.max(0) as u32 + area.size.height)
            .min(frame.height())
            .min(self.height);
        if x0 >= x1 {
            return;
        }
        let bpp = self.format.bytes_per_pixel;
        line.resize((x1 - x0) as usize * bpp, 0);
        for y in y0..y1 {
            let row = &frame.row(y)[x0 as usize..x1 as usize];
            self.format.encode_row(row, line);
            let start = y as usize * self.stride + x0 as usize * bpp;
            if let Some(dst) = mem.get_mut(start..start + line.len()) {
                dst.copy_from_slice(line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_land_at_their_place_in_screen_memory() {
        use embedded_graphics::prelude::{Point, Size};
        // A 4x3 frame on a 3x2 screen of XRGB8888 with padded lines (stride 16).
        let mut frame = Canvas::new(4, 3, Rgb888::new(1, 1, 1));
        frame.put(1, 1, Rgb888::new(9, 8, 7));
        let screen = Screen {
            format: PixelFormat::XRGB8888,
            width: 3,
            height: 2,
            stride: 16,
        };
        let mut mem = vec![0xEEu8; 16 * 2];
        let mut line = Vec::new();
        screen.copy(
            &frame,
            Rectangle::new(Point::new(1, 1), Size::new(10, 10)),
            &mut mem,
            &mut line,
        );
        // Line 0 untouched; line 1: x=0 untouched, x=1 the dot, x=2 the fill, padding untouched.
        assert!(mem[..16].iter().all(|b| *b == 0xEE));
        assert_eq!(&mem[16..20], &[0xEE; 4]);
        assert_eq!(&mem[20..24], &[7, 8, 9, 0]);
        assert_eq!(&mem[24..28], &[1, 1, 1, 0]);
        assert_eq!(&mem[28..32], &[0xEE; 4]);
        // An area off the screen writes nothing.
        let before = mem.clone();
        screen.copy(
            &frame,
            Rectangle::new(Point::new(3, 0), Size::new(1, 3)),
            &mut mem,
            &mut line,
        );
        assert_eq!(mem, before);
    }

    #[test]
    fn pixels_are_packed_as_the_kernel_says() {
        let mut b = [0u8; 4];
        PixelFormat::XRGB8888.encode(Rgb888::new(0x12, 0x34, 0x56), &mut b);
        assert_eq!(b, [0x56, 0x34, 0x12, 0x00]);
        let mut b = [0u8; 2];
        PixelFormat::RGB565.encode(Rgb888::new(255, 0, 0), &mut b);
        assert_eq!(u16::from_le_bytes(b), 0xF800);
        PixelFormat::RGB565.encode(Rgb888::new(0, 255, 0), &mut b);
        assert_eq!(u16::from_le_bytes(b), 0x07E0);
        PixelFormat::RGB565.encode(Rgb888::new(0, 0, 255), &mut b);
        assert_eq!(u16::from_le_bytes(b), 0x001F);
        // BGR 24-bit
        let bgr = PixelFormat {
            bytes_per_pixel: 3,
            red: (0, 8),
            green: (8, 8),
            blue: (16, 8),
        };
        let mut row = [0u8; 6];
        bgr.encode_row(&[Rgb888::new(1, 2, 3), Rgb888::new(4, 5, 6)], &mut row);
        assert_eq!(row, [1, 2, 3, 4, 5, 6]);
    }
}
