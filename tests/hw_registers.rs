//! hw/registers.toml (the document device makers build from) and the
//! constants the bus master uses must say the same thing.

use hallq::devices::registers as reg;

fn doc() -> toml::Table {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw/registers.toml");
    let text = std::fs::read_to_string(&path).expect("hw/registers.toml");
    toml::from_str(&text).expect("hw/registers.toml parses")
}

fn get(t: &toml::Table, path: &str) -> i64 {
    let mut v: &toml::Value = t
        .get(path.split('.').next().unwrap())
        .unwrap_or_else(|| panic!("{path}"));
    for part in path.split('.').skip(1) {
        v = v
            .get(part)
            .unwrap_or_else(|| panic!("{path} missing in hw/registers.toml"));
    }
    v.as_integer()
        .unwrap_or_else(|| panic!("{path} is not an integer"))
}

#[test]
fn the_register_document_matches_the_code() {
    let t = doc();
    let pairs: &[(&str, i64)] = &[
        ("functions.read_input", reg::FC_READ_INPUT.into()),
        ("functions.write_multiple", reg::FC_WRITE_MULTIPLE.into()),
        ("device_types.keypad", reg::TYPE_KEYPAD.into()),
        ("device_types.display", reg::TYPE_DISPLAY.into()),
        ("device_types.rating", reg::TYPE_RATING.into()),
        ("input.device_type", reg::IN_DEVICE_TYPE.into()),
        ("input.firmware", reg::IN_FIRMWARE.into()),
        ("input.event_counter", reg::IN_EVENT_COUNTER.into()),
        ("input.status", reg::IN_STATUS.into()),
        ("input.event_ring", reg::IN_EVENT_RING.into()),
        ("input.event_ring_entries", reg::EVENT_RING_LEN.into()),
        ("keypad.result", reg::HR_KEYPAD_RESULT.into()),
        ("keypad.keys.call_next", reg::KEY_CALL_NEXT.into()),
        ("keypad.keys.recall", reg::KEY_RECALL.into()),
        ("keypad.keys.skip", reg::KEY_SKIP.into()),
        ("keypad.keys.transfer", reg::KEY_TRANSFER.into()),
        ("keypad.keys.pause", reg::KEY_PAUSE.into()),
        ("keypad.keys.away", reg::KEY_AWAY.into()),
        ("keypad.keys.resume", reg::KEY_RESUME.into()),
        ("keypad.keys.finish", reg::KEY_FINISH.into()),
        ("keypad.keys.login", reg::KEY_LOGIN.into()),
        ("keypad.keys.logout", reg::KEY_LOGOUT.into()),
        ("keypad.keys.transfer_to_queue", reg::TRANSFER_TO_QUEUE.into()),
        ("keypad.results.ok", reg::RESULT_OK.into()),
        ("keypad.results.refused", reg::RESULT_REFUSED.into()),
        ("keypad.results.not_found", reg::RESULT_NOT_FOUND.into()),
        ("keypad.results.invalid", reg::RESULT_INVALID.into()),
        ("keypad.results.failed", reg::RESULT_FAILED.into()),
        ("display.block", reg::HR_DISPLAY.into()),
        ("display.block_registers", reg::DISPLAY_REGS.into()),
        ("display.ticket_registers", reg::DISPLAY_TICKET_REGS.into()),
        ("display.text_registers", reg::DISPLAY_TEXT_REGS.into()),
        ("display.status.closed", reg::STATUS_CLOSED.into()),
        ("display.status.idle", reg::STATUS_IDLE.into()),
        ("display.status.serving", reg::STATUS_SERVING.into()),
        ("display.status.paused", reg::STATUS_PAUSED.into()),
        ("display.status.away", reg::STATUS_AWAY.into()),
        ("display.status.test_pattern", reg::STATUS_TEST_PATTERN.into()),
        ("rating.lamp", reg::HR_RATING_LAMP.into()),
    ];
    for (path, code) in pairs {
        assert_eq!(
            get(&t, path),
            *code,
            "{path}: hw/registers.toml and src/devices/registers.rs differ"
        );
    }
}

#[test]
fn the_display_block_layout_in_the_document_is_what_the_code_packs() {
    let t = doc();
    let c = reg::DisplayContent {
        window: 7,
        status: reg::STATUS_SERVING,
        brightness: 55,
        ticket: "C123".into(),
        text: "办理中".into(),
    };
    let r = c.to_registers();
    assert_eq!(r.len() as i64, get(&t, "display.block_registers"));
    assert_eq!(r[get(&t, "display.window_offset") as usize], 7);
    assert_eq!(r[get(&t, "display.status_offset") as usize], reg::STATUS_SERVING);
    assert_eq!(r[get(&t, "display.brightness_offset") as usize], 55);
    let ticket = get(&t, "display.ticket_offset") as usize;
    assert_eq!(r[ticket], u16::from_be_bytes(*b"C1"));
    assert_eq!(r[ticket + 1], u16::from_be_bytes(*b"23"));
    let text = get(&t, "display.text_offset") as usize;
    // 办 is B0EC in GB2312, high byte first
    assert_eq!(r[text], 0xB0EC);
    assert_eq!(text + get(&t, "display.text_registers") as usize, r.len());
}
