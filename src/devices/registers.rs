//! The register maps of the RS-485 bus devices (Modbus RTU). `hw/registers.md`
//! explains them for device makers and `hw/registers.toml` holds them as data;
//! a test checks that these constants match that file.
//!
//! Every device answers function 04 (read input registers) on the common
//! block; keypads keep their key presses in an 8-entry ring numbered by an
//! event counter, so a reply lost on the wire neither loses nor doubles a
//! press (the master remembers the last number it handled). Writes use
//! function 16 (write multiple registers) on the holding block at 0x0100.

use encoding_rs::GBK;

use crate::domain::transaction::OutcomeInput;
use crate::domain::{Command, PauseKind, TransferTarget, WindowNo, WindowStatus};

/// Function codes used on the bus.
pub const FC_READ_INPUT: u8 = 0x04;
pub const FC_WRITE_MULTIPLE: u8 = 0x10;

// ----- the common input block (function 04), every device -------------------

/// 1 caller keypad (呼叫器), 2 counter display (窗口屏), 3 rating keypad (评价器).
pub const IN_DEVICE_TYPE: u16 = 0x0000;
pub const IN_FIRMWARE: u16 = 0x0001;
/// Key events since power-up; 0 = none yet; after 65535 comes 1.
pub const IN_EVENT_COUNTER: u16 = 0x0002;
/// Bit 0: a key is held down; bit 1: hardware fault.
pub const IN_STATUS: u16 = 0x0003;
/// Start of the event ring: entry for event k (k ≥ 1) at `IN_EVENT_RING + 2·((k−1) mod 8)`:
/// key code, then argument.
pub const IN_EVENT_RING: u16 = 0x0010;
pub const EVENT_RING_LEN: u16 = 8;

pub const TYPE_KEYPAD: u16 = 1;
pub const TYPE_DISPLAY: u16 = 2;
pub const TYPE_RATING: u16 = 3;

// ----- holding registers (function 16) --------------------------------------

/// Keypad: the event number the master last handled, then its result code.
pub const HR_KEYPAD_RESULT: u16 = 0x0100;
/// Rating keypad: 1 lights the invitation lamp (请评价), 0 darkens it.
pub const HR_RATING_LAMP: u16 = 0x0100;
/// Counter display block: window, status, brightness, ticket (4 regs), text (16 regs).
pub const HR_DISPLAY: u16 = 0x0100;
pub const DISPLAY_TICKET_REGS: u16 = 4;
pub const DISPLAY_TEXT_REGS: u16 = 16;
/// Registers in the display block.
pub const DISPLAY_REGS: u16 = 3 + DISPLAY_TICKET_REGS + DISPLAY_TEXT_REGS;

/// Display status codes.
pub const STATUS_CLOSED: u16 = 0;
pub const STATUS_IDLE: u16 = 1;
pub const STATUS_SERVING: u16 = 2;
pub const STATUS_PAUSED: u16 = 3;
pub const STATUS_AWAY: u16 = 4;
pub const STATUS_TEST_PATTERN: u16 = 0xFFFF;

/// Keypad result codes.
pub const RESULT_OK: u16 = 0;
pub const RESULT_REFUSED: u16 = 1;
pub const RESULT_NOT_FOUND: u16 = 2;
pub const RESULT_INVALID: u16 = 3;
pub const RESULT_FAILED: u16 = 4;

// ----- keypad key codes ------------------------------------------------------

pub const KEY_CALL_NEXT: u16 = 1;
pub const KEY_RECALL: u16 = 2;
pub const KEY_SKIP: u16 = 3;
/// Argument: a window number 1–999, or 0x8000 | the ASCII code of a queue prefix.
pub const KEY_TRANSFER: u16 = 4;
pub const KEY_PAUSE: u16 = 5;
pub const KEY_AWAY: u16 = 6;
pub const KEY_RESUME: u16 = 7;
/// Argument: the catalogue item code handled (一窗受理目录).
pub const KEY_FINISH: u16 = 8;
/// Argument: the staff number (工号), 1–65535.
pub const KEY_LOGIN: u16 = 9;
pub const KEY_LOGOUT: u16 = 10;
/// Transfer argument flag: the low byte is a queue prefix letter.
pub const TRANSFER_TO_QUEUE: u16 = 0x8000;

/// One key event read from a keypad's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    pub number: u16,
    pub key: u16,
    pub arg: u16,
}

/// The command a caller keypad's key means at `window`, or why it means nothing.
pub fn keypad_command(window: WindowNo, key: u16, arg: u16) -> Result<Command, String> {
    Ok(match key {
        KEY_CALL_NEXT => Command::CallNext { window },
        KEY_RECALL => Command::Recall { window },
        KEY_SKIP => Command::Skip { window },
        KEY_TRANSFER => {
            let to = if arg & TRANSFER_TO_QUEUE != 0 {
                let letter = (arg & 0xFF) as u8;
                if !letter.is_ascii_uppercase() {
                    return Err(format!("transfer to queue {letter:#04x}: not a letter A–Z"));
                }
                TransferTarget::Queue((letter as char).to_string())
            } else if (1..=999).contains(&arg) {
                TransferTarget::Window(arg)
            } else {
                return Err(format!("transfer to window {arg}: not 1–999"));
            };
            Command::Transfer { window, to }
        }
        KEY_PAUSE => Command::Pause {
            window,
            kind: PauseKind::Paused,
        },
        KEY_AWAY => Command::Pause {
            window,
            kind: PauseKind::Away,
        },
        KEY_RESUME => Command::Resume { window },
        KEY_FINISH => {
            if arg == 0 {
                return Err("finish without an item code".into());
            }
            Command::Finish {
                window,
                items: vec![u32::from(arg)],
                outcome: OutcomeInput::Done,
            }
        }
        KEY_LOGIN => {
            if arg == 0 {
                return Err("log in without a staff number".into());
            }
            Command::Login {
                window,
                staff: arg.to_string(),
            }
        }
        KEY_LOGOUT => Command::Logout { window },
        other => return Err(format!("unknown key code {other}")),
    })
}

/// The events in a ring that come after `last` (the number handled before;
/// `None` on first contact, when older presses are not replayed), given the
/// device's counter now. More than 8 behind: the oldest are lost and counted.
/// Returns the events in order and how many were lost.
pub fn new_events(last: Option<u16>, counter: u16, ring: &[u16]) -> (Vec<KeyEvent>, u16) {
    let Some(last) = last else {
        return (Vec::new(), 0);
    };
    if counter == last {
        return (Vec::new(), 0);
    }
    // How many new events: counting from 1 to 65535 then 1 again. A counter
    // below the last one with no wrap in between means the device restarted:
    // everything since its power-up is new.
    let behind: u32 = if counter > last {
        u32::from(counter - last)
    } else if last > 65535 - 8 && counter <= 8 {
        (65535 - u32::from(last)) + u32::from(counter)
    } else {
        u32::from(counter)
    };
    let kept = behind.min(u32::from(EVENT_RING_LEN));
    let lost = (behind - kept) as u16;
    let mut out = Vec::with_capacity(kept as usize);
    for i in (0..kept).rev() {
        // event number counter - i, wrapping within 1..=65535
        let n = ((u32::from(counter) + 65535 - 1 - i) % 65535 + 1) as u16;
        let slot = usize::from((n - 1) % EVENT_RING_LEN) * 2;
        if slot + 1 < ring.len() {
            out.push(KeyEvent {
                number: n,
                key: ring[slot],
                arg: ring[slot + 1],
            });
        }
    }
    (out, lost)
}

/// The event number after `n` (1 follows 65535).
pub fn next_event_number(n: u16) -> u16 {
    if n == u16::MAX {
        1
    } else {
        n + 1
    }
}

/// What a counter display shows, as registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayContent {
    pub window: WindowNo,
    pub status: u16,
    pub brightness: u16,
    pub ticket: String,
    pub text: String,
}

pub fn status_code(s: WindowStatus) -> u16 {
    match s {
        WindowStatus::Closed => STATUS_CLOSED,
        WindowStatus::Idle => STATUS_IDLE,
        WindowStatus::Serving => STATUS_SERVING,
        WindowStatus::Paused => STATUS_PAUSED,
        WindowStatus::Away => STATUS_AWAY,
    }
}

impl DisplayContent {
    pub fn to_registers(&self) -> Vec<u16> {
        let mut r = vec![self.window, self.status, self.brightness.min(100)];
        r.extend(pack(self.ticket.as_bytes(), DISPLAY_TICKET_REGS));
        r.extend(pack(&gb2312(&self.text), DISPLAY_TEXT_REGS));
        r
    }

    pub fn from_registers(r: &[u16]) -> Option<DisplayContent> {
        if r.len() < usize::from(DISPLAY_REGS) {
            return None;
        }
        let t = 3 + usize::from(DISPLAY_TICKET_REGS);
        let ticket = unpack(&r[3..t]);
        let text = unpack(&r[t..t + usize::from(DISPLAY_TEXT_REGS)]);
        Some(DisplayContent {
            window: r[0],
            status: r[1],
            brightness: r[2],
            ticket: String::from_utf8_lossy(&ticket).into_owned(),
            text: GBK.decode(&text).0.into_owned(),
        })
    }

    /// The test pattern `hallqctl` shows: every segment lit.
    pub fn test_pattern(window: WindowNo) -> DisplayContent {
        DisplayContent {
            window,
            status: STATUS_TEST_PATTERN,
            brightness: 100,
            ticket: "8888".into(),
            text: format!("{window}号窗口 测试 显示正常"),
        }
    }
}

/// GB2312 bytes of `s` (2-byte codes in A1–F7 / A1–FE, or ASCII); anything
/// else becomes `?`.
pub fn gb2312(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for ch in s.chars() {
        let mut tmp = [0u8; 4];
        let (bytes, _, unmappable) = GBK.encode(ch.encode_utf8(&mut tmp));
        let ok = !unmappable
            && match &bytes[..] {
                [a] => (0x20..0x7F).contains(a),
                [a, b] => (0xA1..=0xF7).contains(a) && (0xA1..=0xFE).contains(b),
                _ => false,
            };
        if ok {
            out.extend_from_slice(&bytes);
        } else {
            out.push(b'?');
        }
    }
    out
}

/// Bytes into `regs` registers, high byte first, NUL-padded; a 2-byte
/// character is never cut in half.
fn pack(bytes: &[u8], regs: u16) -> Vec<u16> {
    let cap = usize::from(regs) * 2;
    let mut b: Vec<u8> = Vec::with_capacity(cap);
    let mut i = 0;
    while i < bytes.len() {
        let w = if bytes[i] >= 0x80 { 2 } else { 1 };
        if b.len() + w > cap || i + w > bytes.len() {
            break;
        }
        b.extend_from_slice(&bytes[i..i + w]);
        i += w;
    }
    b.resize(cap, 0);
    b.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()
}

fn unpack(regs: &[u16]) -> Vec<u8> {
    let mut b: Vec<u8> = regs.iter().flat_map(|r| r.to_be_bytes()).collect();
    while b.last() == Some(&0) {
        b.pop();
    }
    b
}

/// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Append the CRC to a frame.
pub fn with_crc(mut frame: Vec<u8>) -> Vec<u8> {
    let c = crc16(&frame);
    frame.extend(c.to_le_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_modbus_check_value() {
        assert_eq!(crc16(b"123456789"), 0x4B37);
    }

    #[test]
    fn display_registers_round_trip_in_gb2312() {
        let c = DisplayContent {
            window: 3,
            status: STATUS_SERVING,
            brightness: 80,
            ticket: "A012".into(),
            text: "请A012号到3号窗口办理".into(),
        };
        let r = c.to_registers();
        assert_eq!(r.len(), usize::from(DISPLAY_REGS));
        assert_eq!(DisplayContent::from_registers(&r).unwrap(), c);
        // too long: cut at a character boundary, never mid-character
        let long = DisplayContent {
            text: "办理中".repeat(10),
            ..c
        };
        let back = DisplayContent::from_registers(&long.to_registers()).unwrap();
        assert_eq!(back.text, "办理中".repeat(5) + "办");
        // 中 is in GB2312; 囧 only in GBK; an emoji in neither
        assert_eq!(gb2312("😀中囧"), b"?\xd6\xd0?".to_vec());
    }

    #[test]
    fn the_event_counter_neither_loses_nor_doubles_a_press() {
        let mut ring = vec![0u16; 16];
        let mut counter = 0u16;
        let press = |ring: &mut Vec<u16>, counter: &mut u16, key: u16| {
            *counter = next_event_number(*counter);
            let slot = usize::from((*counter - 1) % 8) * 2;
            ring[slot] = key;
            ring[slot + 1] = 0;
        };
        // first contact: nothing replayed
        assert_eq!(new_events(None, counter, &ring).0.len(), 0);
        let mut last = Some(counter);
        press(&mut ring, &mut counter, KEY_CALL_NEXT);
        let (ev, lost) = new_events(last, counter, &ring);
        assert_eq!((ev.len(), lost), (1, 0));
        // the reply was lost: the master did not move `last`; the next read gives it again, once
        press(&mut ring, &mut counter, KEY_RECALL);
        let (ev, _) = new_events(last, counter, &ring);
        assert_eq!(
            ev.iter().map(|e| e.key).collect::<Vec<_>>(),
            vec![KEY_CALL_NEXT, KEY_RECALL]
        );
        last = Some(counter);
        assert!(new_events(last, counter, &ring).0.is_empty());
        // ten presses while unreachable: the last eight come back, two are lost
        for _ in 0..10 {
            press(&mut ring, &mut counter, KEY_SKIP);
        }
        let (ev, lost) = new_events(last, counter, &ring);
        assert_eq!((ev.len(), lost), (8, 2));
        assert_eq!(ev.last().unwrap().number, counter);
        // wrap from 65535 to 1
        let (ev, lost) = new_events(Some(65534), 2, &ring);
        assert_eq!(ev.iter().map(|e| e.number).collect::<Vec<_>>(), vec![65535, 1, 2]);
        assert_eq!(lost, 0);
        // a restart (counter back to 1): the press since power-up is new
        let (ev, _) = new_events(Some(500), 1, &ring);
        assert_eq!(ev.iter().map(|e| e.number).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn keypad_keys_become_commands() {
        assert_eq!(
            keypad_command(2, KEY_CALL_NEXT, 0),
            Ok(Command::CallNext { window: 2 })
        );
        assert_eq!(
            keypad_command(2, KEY_TRANSFER, TRANSFER_TO_QUEUE | u16::from(b'C')),
            Ok(Command::Transfer {
                window: 2,
                to: TransferTarget::Queue("C".into())
            })
        );
        assert_eq!(
            keypad_command(2, KEY_LOGIN, 1001),
            Ok(Command::Login {
                window: 2,
                staff: "1001".into()
            })
        );
        assert!(keypad_command(2, KEY_FINISH, 0).is_err());
        assert!(keypad_command(2, 99, 0).is_err());
        assert!(keypad_command(2, KEY_TRANSFER, 5000).is_err());
    }
}
