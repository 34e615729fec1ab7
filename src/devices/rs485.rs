//! Kernel RS-485 mode (TIOCSRS485): the UART drives the transceiver's
//! direction pin (RTS) itself. serialport, tokio-serial and rppal do not set
//! it, so we call the ioctl. UARTs without support (USB adapters with
//! auto-direction transceivers, pseudo-terminals) answer ENOTTY or EINVAL;
//! that is fine when the transceiver switches direction by itself.

use std::io;
use std::os::fd::RawFd;

/// `struct serial_rs485` from `<linux/serial.h>`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct SerialRs485 {
    flags: u32,
    delay_rts_before_send: u32,
    delay_rts_after_send: u32,
    padding: [u32; 5],
}

const TIOCSRS485: libc::c_ulong = 0x542F;
const SER_RS485_ENABLED: u32 = 1 << 0;
const SER_RS485_RTS_ON_SEND: u32 = 1 << 1;

/// Switch the UART behind `fd` to RS-485 mode, RTS high while sending.
pub fn enable(fd: RawFd) -> io::Result<()> {
    let conf = SerialRs485 {
        flags: SER_RS485_ENABLED | SER_RS485_RTS_ON_SEND,
        ..Default::default()
    };
    // SAFETY: TIOCSRS485 reads one `struct serial_rs485` from the pointer,
    // which lives for the duration of the call.
    let rc = unsafe { libc::ioctl(fd, TIOCSRS485 as _, &conf as *const SerialRs485) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pseudo_terminal_says_it_has_no_rs485_mode() {
        use std::os::fd::AsRawFd;
        let (master, _slave) = serialport::TTYPort::pair().unwrap();
        let err = super::enable(master.as_raw_fd()).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EINVAL)),
            "{err}"
        );
    }
}
