//! Devices: each kind behind a small interface, with a real backend and a
//! simulated one. The engine sends the same effects and receives the same
//! commands whichever backend the hall's `[devices]` configuration picks.
//!
//! - [`kiosk`]: the ticket kiosk's buttons and lamps (GPIO: [`gpio`]).
//! - [`printer`]: the ESC/POS ticket printer on a serial port ([`escpos`]).
//! - [`bus`]: the RS-485 bus master (Modbus RTU) for caller keypads, counter
//!   displays and rating keypads ([`registers`]; kernel RS-485 mode: [`rs485`]).
//! - [`config`]: the `[devices]` section of the hall's configuration.
//! - [`emulator`]: the same devices played on pseudo-terminals, for the
//!   simulator binary, the tests and the bench.
//! - [`sim`]: the in-memory simulated devices of the demo hall.

pub mod bus;
pub mod config;
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

/// The real drivers that run (simulated devices are attached by [`sim::attach`]).
#[derive(Default)]
pub struct Running {
    pub bus: Option<bus::SharedStatus>,
    pub kiosk: Option<std::sync::Arc<std::sync::Mutex<kiosk::KioskStatus>>>,
    /// The front of a simulated kiosk (`[devices.kiosk] backend = "sim"`):
    /// press its buttons, see its lamps.
    pub kiosk_panel: Option<kiosk::Panel>,
}

/// Start the drivers the configuration names. A simulated printer is always
/// ready: the hall is told so, in case a real one had reported a problem
/// before the configuration changed.
pub async fn start(
    engine: &crate::engine::EngineHandle,
    devices: &config::Devices,
) -> Result<Running, DeviceError> {
    let mut running = Running::default();
    match &devices.printer {
        Some(cfg) => {
            tracing::info!(port = %cfg.port, baud = cfg.baud, "ticket printer on a serial port");
            // Off line until its first status reply: no ticket before it answers.
            printer::start(engine.clone(), cfg.clone()).await;
        }
        None => {
            let ready = crate::domain::Command::ReportPrinter {
                status: crate::domain::PrinterStatus::default(),
            };
            if let Err(e) = engine.execute(ready).await {
                tracing::error!(error = %e, "could not record the simulated printer as ready");
            }
        }
    }
    if let Some(cfg) = &devices.bus {
        tracing::info!(port = %cfg.port, baud = cfg.baud, windows = cfg.windows.len(), "RS-485 bus master");
        running.bus = Some(bus::spawn(engine.clone(), cfg.clone()).status);
    }
    if let Some(k) = &devices.kiosk {
        let pins: Box<dyn kiosk::Pins> = if k.backend == config::PinsBackend::Sim {
            tracing::info!(buttons = k.kiosk.buttons.len(), "simulated kiosk");
            let (pins, panel) = kiosk::SimPins::new(k.kiosk.buttons.len());
            running.kiosk_panel = Some(panel);
            Box::new(pins)
        } else {
            kiosk_pins(k)?
        };
        let (status, _task) = kiosk::spawn(engine.clone(), k.kiosk.clone(), pins)?;
        running.kiosk = Some(status);
    }
    Ok(running)
}

/// The pins backend a kiosk configuration names (real pins only: a
/// simulated kiosk is started by [`start`], which keeps its panel).
pub fn kiosk_pins(k: &config::KioskSetup) -> Result<Box<dyn kiosk::Pins>, DeviceError> {
    let inputs: Vec<u32> = k.kiosk.buttons.iter().map(|b| b.input).collect();
    let lamps: Vec<Option<u32>> = k.kiosk.buttons.iter().map(|b| b.lamp).collect();
    match &k.backend {
        config::PinsBackend::Gpiocdev { chip } => Ok(Box::new(gpio::CdevPins::new(
            chip.as_str(),
            inputs,
            lamps,
            k.kiosk.debounce,
        )?)),
        #[cfg(feature = "rppal")]
        config::PinsBackend::Rppal => {
            let narrow =
                |n: u32| u8::try_from(n).map_err(|_| DeviceError::Gpio(format!("BCM {n} out of range")));
            let inputs = inputs.into_iter().map(narrow).collect::<Result<Vec<_>, _>>()?;
            let lamps = lamps
                .into_iter()
                .map(|l| l.map(narrow).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Box::new(gpio::RppalPins::new(inputs, lamps, k.kiosk.debounce)?))
        }
        #[cfg(not(feature = "rppal"))]
        config::PinsBackend::Rppal => Err(DeviceError::Gpio(
            "built without the rppal feature: use backend = \"gpiocdev\"".into(),
        )),
        config::PinsBackend::Sim => Err(DeviceError::Gpio(
            "the kiosk is simulated: it has no pins to open (backend = \"sim\")".into(),
        )),
    }
}
