//! Our small ESC/POS encoder, and a decoder for tests and the simulator.
//!
//! Only the subset in `hw/escpos.md`: init, Chinese mode with GBK text (2-byte
//! codes only: some printers cannot print 4-byte GB18030 sequences), size,
//! alignment, bold, feed, QR model 2, the cut `1D 56 42 00`, real-time status
//! (DLE EOT) and automatic status back (GS a).

use encoding_rs::GBK;

use crate::domain::PrinterStatus;

pub const ESC: u8 = 0x1B;
pub const GS: u8 = 0x1D;
pub const FS: u8 = 0x1C;
pub const DLE: u8 = 0x10;
pub const EOT: u8 = 0x04;
pub const LF: u8 = 0x0A;

/// Feed and partial cut: the most widely supported form (only at a line start).
pub const CUT: [u8; 4] = [GS, 0x56, 0x42, 0x00];
/// Automatic status back on for drawer, on/off line, errors and paper sensors.
pub const ASB_ON: [u8; 3] = [GS, 0x61, 0x0F];

/// Real-time status request `10 04 n` (n = 1 printer, 2 off-line cause,
/// 3 error cause, 4 paper sensor).
pub fn dle_eot(n: u8) -> [u8; 3] {
    [DLE, EOT, n]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left = 0,
    Center = 1,
    Right = 2,
}

/// Builds the bytes of one print job.
#[derive(Debug, Default, Clone)]
pub struct Job {
    buf: Vec<u8>,
}

impl Job {
    /// Initialise the printer and switch Chinese (2-byte GB) mode on.
    pub fn new() -> Job {
        Job {
            buf: vec![ESC, 0x40, FS, 0x26],
        }
    }

    pub fn align(mut self, a: Align) -> Job {
        self.buf.extend([ESC, 0x61, a as u8]);
        self
    }

    /// Character size: width and height multipliers 1–8.
    pub fn size(mut self, width: u8, height: u8) -> Job {
        let w = width.clamp(1, 8) - 1;
        let h = height.clamp(1, 8) - 1;
        self.buf.extend([GS, 0x21, (w << 4) | h]);
        self
    }

    pub fn bold(mut self, on: bool) -> Job {
        self.buf.extend([ESC, 0x45, u8::from(on)]);
        self
    }

    /// Text in GBK; a character GBK lacks prints as `?`.
    pub fn text(mut self, s: &str) -> Job {
        for ch in s.chars() {
            let mut tmp = [0u8; 4];
            let piece = ch.encode_utf8(&mut tmp);
            let (bytes, _, unmappable) = GBK.encode(piece);
            if bytes.len() == 1 && bytes[0] < 0x20 {
                // control characters never reach the printer from text
                self.buf.push(b' ');
            } else if unmappable || bytes.len() > 2 {
                self.buf.push(b'?');
            } else {
                self.buf.extend_from_slice(&bytes);
            }
        }
        self
    }

    pub fn line(self, s: &str) -> Job {
        let mut j = self.text(s);
        j.buf.push(LF);
        j
    }

    /// Print and feed `n` lines.
    pub fn feed(mut self, n: u8) -> Job {
        self.buf.extend([ESC, 0x64, n]);
        self
    }

    /// A QR code, model 2, error level M, module size 1–16.
    pub fn qr(mut self, data: &str, module: u8) -> Job {
        let data = data.as_bytes();
        let data = &data[..data.len().min(700)];
        self.buf
            .extend([GS, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]);
        self.buf
            .extend([GS, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, module.clamp(1, 16)]);
        self.buf.extend([GS, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31]);
        let len = data.len() + 3;
        self.buf.extend([
            GS,
            0x28,
            0x6B,
            (len & 0xFF) as u8,
            (len >> 8) as u8,
            0x31,
            0x50,
            0x30,
        ]);
        self.buf.extend_from_slice(data);
        self.buf.extend([GS, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30]);
        self
    }

    /// Feed and partial cut, at the start of a line.
    pub fn cut(mut self) -> Job {
        if self.buf.last() != Some(&LF) {
            self.buf.push(LF);
        }
        self.buf.extend(CUT);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// What goes on a ticket (取号凭条).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketText {
    pub hall_name: String,
    pub label: String,
    pub queue_name: String,
    /// 绿色通道 / 预约, or empty for a normal ticket.
    pub class_note: String,
    pub ahead: u32,
    pub wait_minutes: u64,
    /// Local time, `2026-12-04 09:00`.
    pub issued: String,
    pub qr: Option<String>,
    pub phone: String,
}

/// The courtesy line printed at the bottom.
pub const COURTESY: &str = "请留意叫号，过号请到窗口咨询。谢谢！";

/// The print job for one ticket.
pub fn ticket(t: &TicketText) -> Vec<u8> {
    let mut j = Job::new()
        .align(Align::Center)
        .bold(true)
        .line(&t.hall_name)
        .bold(false)
        .feed(1)
        .size(3, 3)
        .line(&t.label)
        .size(1, 1)
        .line(&t.queue_name);
    if !t.class_note.is_empty() {
        j = j.line(&format!("【{}】", t.class_note));
    }
    j = j
        .align(Align::Left)
        .line(&format!("前面还有 {} 人等候", t.ahead))
        .line(&format!("预计等候约 {} 分钟", t.wait_minutes))
        .line(&format!("取号时间：{}", t.issued));
    if let Some(q) = &t.qr {
        j = j.align(Align::Center).qr(q, 5).feed(1);
    }
    if !t.phone.is_empty() {
        j = j.align(Align::Left).line(&format!("咨询电话：{}", t.phone));
    }
    j.align(Align::Center).line(COURTESY).feed(3).cut().into_bytes()
}

/// A print job read back: text lines, what was printed large, QR contents, cuts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Printed {
    pub lines: Vec<String>,
    /// Lines printed at more than the normal size.
    pub large: Vec<String>,
    pub qr: Vec<String>,
    pub cuts: usize,
    /// Whether Chinese mode was on when text was printed.
    pub chinese_mode: bool,
}

/// Why bytes could not be read back as our subset of ESC/POS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ESC/POS decode: {0}")]
pub struct DecodeError(pub String);

/// Read a print job back (the simulator's printer and the tests use this).
/// Returns what was printed and how many bytes were consumed; an incomplete
/// command at the end is left for the next call.
pub fn decode(bytes: &[u8]) -> Result<(Printed, usize), DecodeError> {
    let mut out = Printed::default();
    let mut i = 0;
    let mut line: Vec<u8> = Vec::new();
    let mut large = false;
    let mut line_large = false;
    let mut qr_data: Option<String> = None;
    let need = |i: usize, n: usize| i + n <= bytes.len();
    let flush = |line: &mut Vec<u8>, large: bool, out: &mut Printed| {
        let (text, _, _) = GBK.decode(line);
        let text = text.trim_end().to_string();
        if large && !text.is_empty() {
            out.large.push(text.clone());
        }
        out.lines.push(text);
        line.clear();
    };
    while i < bytes.len() {
        let b = bytes[i];
        let n = match b {
            LF => {
                flush(&mut line, line_large, &mut out);
                line_large = large;
                1
            }
            ESC => {
                if !need(i, 2) {
                    break;
                }
                match bytes[i + 1] {
                    0x40 => {
                        large = false;
                        2
                    }
                    0x61 | 0x45 | 0x64 => {
                        if !need(i, 3) {
                            break;
                        }
                        if bytes[i + 1] == 0x64 {
                            flush(&mut line, line_large, &mut out);
                            for _ in 1..bytes[i + 2] {
                                out.lines.push(String::new());
                            }
                        }
                        3
                    }
                    other => return Err(DecodeError(format!("unknown ESC {other:02X} at byte {i}"))),
                }
            }
            FS => {
                if !need(i, 2) {
                    break;
                }
                match bytes[i + 1] {
                    0x26 => out.chinese_mode = true,
                    0x2E => out.chinese_mode = false,
                    other => return Err(DecodeError(format!("unknown FS {other:02X} at byte {i}"))),
                }
                2
            }
            GS => {
                if !need(i, 3) {
                    break;
                }
                match bytes[i + 1] {
                    0x21 => {
                        large = bytes[i + 2] != 0;
                        if line.is_empty() {
                            line_large = large;
                        } else {
                            line_large |= large;
                        }
                        3
                    }
                    0x61 => 3,
                    0x56 => {
                        if !need(i, 4) {
                            break;
                        }
                        if !line.is_empty() {
                            return Err(DecodeError("cut in the middle of a line".into()));
                        }
                        out.cuts += 1;
                        if matches!(bytes[i + 2], 0x41 | 0x42 | 0x61 | 0x62 | 0x67 | 0x68) {
                            4
                        } else {
                            3
                        }
                    }
                    0x28 if bytes[i + 2] == 0x6B => {
                        if !need(i, 5) {
                            break;
                        }
                        let len = usize::from(bytes[i + 3]) | (usize::from(bytes[i + 4]) << 8);
                        if !need(i, 5 + len) {
                            break;
                        }
                        let body = &bytes[i + 5..i + 5 + len];
                        match body {
                            [0x31, 0x50, 0x30, data @ ..] => {
                                qr_data = Some(String::from_utf8_lossy(data).into_owned())
                            }
                            [0x31, 0x51, 0x30] => {
                                if let Some(d) = qr_data.take() {
                                    out.qr.push(d);
                                }
                            }
                            _ => {}
                        }
                        5 + len
                    }
                    other => return Err(DecodeError(format!("unknown GS {other:02X} at byte {i}"))),
                }
            }
            DLE => {
                if !need(i, 3) {
                    break;
                }
                3
            }
            b if b < 0x20 => return Err(DecodeError(format!("stray control byte {b:02X} at byte {i}"))),
            _ => {
                line.push(b);
                1
            }
        };
        i += n;
    }
    if !line.is_empty() {
        // unfinished text stays for the next call
        return Ok((out, i - line.len()));
    }
    Ok((out, i))
}

// ----- status ---------------------------------------------------------------

/// One status message from the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMsg {
    /// A reply to `10 04 n` (pattern `0xx1xx10`); which n it answers is known
    /// only from the order of the requests.
    RealTime(u8),
    /// Automatic status back: 4 bytes (first `0xx1xx00`, then `0xx0xxxx`).
    Automatic([u8; 4]),
}

/// Splits the printer's byte stream into status messages; bytes that fit
/// neither pattern are counted and dropped.
#[derive(Debug, Default)]
pub struct StatusParser {
    pending: Vec<u8>,
    pub garbage: u64,
}

impl StatusParser {
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StatusMsg>) {
        for &b in bytes {
            if self.pending.is_empty() {
                if b & 0x93 == 0x12 {
                    out.push(StatusMsg::RealTime(b));
                } else if b & 0x93 == 0x10 {
                    self.pending.push(b);
                } else {
                    self.garbage += 1;
                }
            } else if b & 0x90 == 0x00 {
                self.pending.push(b);
                if self.pending.len() == 4 {
                    let m = [self.pending[0], self.pending[1], self.pending[2], self.pending[3]];
                    self.pending.clear();
                    out.push(StatusMsg::Automatic(m));
                }
            } else {
                // the automatic status broke off: start again with this byte
                self.garbage += self.pending.len() as u64;
                self.pending.clear();
                self.push(&[b], out);
            }
        }
    }
}

fn bit(b: u8, n: u8) -> bool {
    b & (1 << n) != 0
}

/// Apply a real-time status reply for request `n` to `s`.
pub fn apply_real_time(s: &mut PrinterStatus, n: u8, reply: u8) {
    match n {
        1 => s.offline = bit(reply, 3),
        2 => {
            s.cover_open = bit(reply, 2);
            s.paper_out = bit(reply, 5);
            s.error = bit(reply, 6) || s.error && bit(reply, 3);
        }
        3 => {
            s.cutter_error = bit(reply, 3);
            s.error = bit(reply, 5) || bit(reply, 6);
        }
        4 => {
            s.paper_near_end = bit(reply, 2) || bit(reply, 3);
            s.paper_out = bit(reply, 5) || bit(reply, 6);
        }
        _ => {}
    }
}

/// Apply an automatic status back message to `s`.
pub fn apply_automatic(s: &mut PrinterStatus, m: [u8; 4]) {
    s.offline = bit(m[0], 3);
    s.cover_open = bit(m[0], 5);
    s.cutter_error = bit(m[1], 3);
    s.error = bit(m[1], 5) || bit(m[1], 6);
    s.paper_near_end = bit(m[2], 0) || bit(m[2], 1);
    s.paper_out = bit(m[2], 2) || bit(m[2], 3);
}

/// The reply a printer in state `s` gives to `10 04 n` (for the simulator).
pub fn real_time_reply(s: &PrinterStatus, n: u8) -> u8 {
    let set = |on: bool, b: u8| if on { 1u8 << b } else { 0 };
    0x12 | match n {
        1 => set(s.offline, 3),
        2 => set(s.cover_open, 2) | set(s.paper_out, 5) | set(s.error, 6),
        3 => set(s.cutter_error, 3) | set(s.error, 5),
        4 => set(s.paper_near_end, 2) | set(s.paper_near_end, 3) | set(s.paper_out, 5) | set(s.paper_out, 6),
        _ => 0,
    }
}

/// The automatic status back a printer in state `s` sends (for the simulator).
pub fn automatic_status(s: &PrinterStatus) -> [u8; 4] {
    let set = |on: bool, b: u8| if on { 1u8 << b } else { 0 };
    [
        0x10 | set(s.offline, 3) | set(s.cover_open, 5),
        set(s.cutter_error, 3) | set(s.error, 5),
        set(s.paper_near_end, 0) | set(s.paper_near_end, 1) | set(s.paper_out, 2) | set(s.paper_out, 3),
        0x00,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TicketText {
        TicketText {
            hall_name: "菏泽市住房公积金管理中心".into(),
            label: "A012".into(),
            queue_name: "归集业务".into(),
            class_note: "绿色通道".into(),
            ahead: 3,
            wait_minutes: 18,
            issued: "2026-12-04 09:00".into(),
            qr: Some("https://gjj.example.cn/t/A012".into()),
            phone: "0530-1234567".into(),
        }
    }

    #[test]
    fn a_ticket_reads_back_as_the_chinese_text_it_was_built_from() {
        let bytes = ticket(&sample());
        assert_eq!(&bytes[..4], &[0x1B, 0x40, 0x1C, 0x26], "init, then Chinese mode");
        assert_eq!(&bytes[bytes.len() - 4..], &CUT);
        // QR model 2, not the escpos crate's model-1 default
        let model2 = [GS, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00];
        assert!(bytes.windows(model2.len()).any(|w| w == model2));
        let (p, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert!(p.chinese_mode);
        assert_eq!(p.large, vec!["A012".to_string()]);
        assert_eq!(p.qr, vec!["https://gjj.example.cn/t/A012".to_string()]);
        assert_eq!(p.cuts, 1);
        for want in [
            "菏泽市住房公积金管理中心",
            "归集业务",
            "【绿色通道】",
            "前面还有 3 人等候",
            "预计等候约 18 分钟",
            "取号时间：2026-12-04 09:00",
            "咨询电话：0530-1234567",
            COURTESY,
        ] {
            assert!(
                p.lines.iter().any(|l| l == want),
                "{want} missing in {:?}",
                p.lines
            );
        }
    }

    #[test]
    fn characters_outside_gbk_and_control_bytes_never_reach_the_printer() {
        let bytes = Job::new().line("A\u{1B}B😀").into_bytes();
        let (p, _) = decode(&bytes).unwrap();
        assert_eq!(p.lines, vec!["A B?".to_string()]);
    }

    #[test]
    fn status_replies_round_trip_and_are_told_apart() {
        let states = [
            PrinterStatus::default(),
            PrinterStatus {
                paper_out: true,
                ..Default::default()
            },
            PrinterStatus {
                paper_near_end: true,
                cover_open: true,
                ..Default::default()
            },
            PrinterStatus {
                offline: true,
                cutter_error: true,
                ..Default::default()
            },
        ];
        for s in states {
            let mut p = StatusParser::default();
            let mut msgs = Vec::new();
            let mut bytes = vec![0xFF];
            for n in 1..=4 {
                bytes.push(real_time_reply(&s, n));
            }
            bytes.extend(automatic_status(&s));
            p.push(&bytes, &mut msgs);
            assert_eq!(p.garbage, 1);
            assert_eq!(msgs.len(), 5);
            let mut rt = PrinterStatus::default();
            for (n, m) in (1..=4).zip(&msgs) {
                let StatusMsg::RealTime(b) = m else {
                    panic!("{m:?}")
                };
                apply_real_time(&mut rt, n, *b);
            }
            assert_eq!(rt, s);
            let StatusMsg::Automatic(a) = msgs[4] else {
                panic!()
            };
            let mut asb = PrinterStatus::default();
            apply_automatic(&mut asb, a);
            assert_eq!(asb, s);
        }
    }
}
