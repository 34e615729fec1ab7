//! Devices: each kind behind a small interface, with a real backend and a
//! simulated one. The engine sends the same effects and receives the same
//! commands whichever backend the hall's `[devices]` configuration picks.
//!
//! - [`kiosk`]: the ticket kiosk's buttons and lamps (GPIO: [`gpio`]).
//! - [`printer`]: the ESC/POS ticket printer on a serial port ([`escpos`]).
//! - [`bus`]: the RS-485 bus master (Modbus RTU) for caller keypads, counter
//!   displays and rating keypads ([`registers`]).
//! - [`emulator`]: the same devices played on pseudo-terminals, for the
//!   simulator binary, the tests and the bench.
//! - [`sim`]: the in-memory simulated devices of the demo hall.

pub mod bus;
pub mod emulator;
pub mod escpos;
pub mod gpio;
pub mod kiosk;
pub mod printer;
pub mod registers;
pub mod rs485;
pub mod sim;

/// Why a device could not be reached or driven.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot open {port}: {source}")]
    Open {
        port: String,
        #[source]
        source: tokio_serial::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("GPIO: {0}")]
    Gpio(String),
}
