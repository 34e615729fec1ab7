//! Kiosk pins on real GPIO: the Linux GPIO character device (`gpiocdev`,
//! any board, including the Raspberry Pi 5) or `rppal` on Raspberry Pi boards
//! (feature `rppal`; that crate is in maintenance mode). Buttons are wired
//! to ground with the internal pull-up on (active low); lamps are driven
//! active high through a transistor (see `hw/wiring.md`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, Value};
use gpiocdev::Request;
use tokio::sync::mpsc;

use super::kiosk::{Edge, Pins};
use super::DeviceError;

/// Pins on a GPIO chip through the character device.
pub struct CdevPins {
    chip: PathBuf,
    inputs: Vec<u32>,
    lamps: Vec<Option<u32>>,
    debounce: Duration,
    lamp_request: Option<Request>,
}

impl CdevPins {
    /// `chip` is e.g. `/dev/gpiochip0` (on a Pi 5 the 40-pin header is gpiochip4
    /// on older kernels, gpiochip0 on newer ones).
    pub fn new(
        chip: impl Into<PathBuf>,
        inputs: Vec<u32>,
        lamps: Vec<Option<u32>>,
        debounce: Duration,
    ) -> Result<CdevPins, DeviceError> {
        let chip = chip.into();
        let outs: Vec<u32> = lamps.iter().flatten().copied().collect();
        let lamp_request = if outs.is_empty() {
            None
        } else {
            Some(
                Request::builder()
                    .on_chip(&chip)
                    .with_consumer("hallq-kiosk-lamps")
                    .with_lines(&outs)
                    .as_output(Value::Inactive)
                    .request()
                    .map_err(|e| DeviceError::Gpio(format!("{}: lamps {outs:?}: {e}", chip.display())))?,
            )
        };
        Ok(CdevPins {
            chip,
            inputs,
            lamps,
            debounce,
            lamp_request,
        })
    }
}

impl Pins for CdevPins {
    fn watch(&mut self, tx: mpsc::UnboundedSender<Edge>) -> Result<(), DeviceError> {
        let req = Request::builder()
            .on_chip(&self.chip)
            .with_consumer("hallq-kiosk-buttons")
            .with_lines(&self.inputs)
            .as_input()
            .as_active_low()
            .with_bias(Bias::PullUp)
            .with_edge_detection(EdgeDetection::BothEdges)
            // The kernel debounces in hardware where the chip can, else in gpiolib.
            .with_debounce_period(self.debounce)
            .request()
            .map_err(|e| {
                DeviceError::Gpio(format!("{}: buttons {:?}: {e}", self.chip.display(), self.inputs))
            })?;
        let inputs = self.inputs.clone();
        std::thread::Builder::new()
            .name("hallq-kiosk-gpio".into())
            .spawn(move || loop {
                match req.read_edge_event() {
                    Ok(ev) => {
                        let Some(button) = inputs.iter().position(|o| *o == ev.offset) else {
                            continue;
                        };
                        let e = Edge {
                            button,
                            pressed: ev.kind == EdgeKind::Rising,
                            at: Instant::now(),
                        };
                        if tx.send(e).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reading GPIO edge events failed");
                        return;
                    }
                }
            })?;
        Ok(())
    }

    fn set_lamp(&mut self, index: usize, lit: bool) -> Result<(), DeviceError> {
        let (Some(Some(offset)), Some(req)) = (self.lamps.get(index), self.lamp_request.as_ref()) else {
            return Ok(());
        };
        req.set_value(*offset, if lit { Value::Active } else { Value::Inactive })
            .map_err(|e| DeviceError::Gpio(format!("lamp {offset}: {e}")))
    }
}

/// Pins through rppal (Raspberry Pi only; BCM numbering).
#[cfg(feature = "rppal")]
pub struct RppalPins {
    inputs: Vec<u8>,
    debounce: Duration,
    held: Vec<rppal::gpio::InputPin>,
    lamps: Vec<Option<rppal::gpio::OutputPin>>,
}

#[cfg(feature = "rppal")]
impl RppalPins {
    pub fn new(
        inputs: Vec<u8>,
        lamps: Vec<Option<u8>>,
        debounce: Duration,
    ) -> Result<RppalPins, DeviceError> {
        let gpio = rppal::gpio::Gpio::new().map_err(|e| DeviceError::Gpio(format!("rppal: {e}")))?;
        let mut outs = Vec::new();
        for l in lamps {
            outs.push(match l {
                Some(n) => Some(
                    gpio.get(n)
                        .map_err(|e| DeviceError::Gpio(format!("lamp BCM {n}: {e}")))?
                        .into_output_low(),
                ),
                None => None,
            });
        }
        Ok(RppalPins {
            inputs,
            debounce,
            held: Vec::new(),
            lamps: outs,
        })
    }
}

#[cfg(feature = "rppal")]
impl Pins for RppalPins {
    fn watch(&mut self, tx: mpsc::UnboundedSender<Edge>) -> Result<(), DeviceError> {
        use rppal::gpio::Trigger;
        let gpio = rppal::gpio::Gpio::new().map_err(|e| DeviceError::Gpio(format!("rppal: {e}")))?;
        for (button, n) in self.inputs.iter().enumerate() {
            let mut pin = gpio
                .get(*n)
                .map_err(|e| DeviceError::Gpio(format!("button BCM {n}: {e}")))?
                .into_input_pullup();
            let tx = tx.clone();
            pin.set_async_interrupt(Trigger::Both, Some(self.debounce), move |ev| {
                let _ = tx.send(Edge {
                    button,
                    // wired to ground: a falling edge is a press
                    pressed: ev.trigger == Trigger::FallingEdge,
                    at: Instant::now(),
                });
            })
            .map_err(|e| DeviceError::Gpio(format!("button BCM {n}: {e}")))?;
            self.held.push(pin);
        }
        Ok(())
    }

    fn set_lamp(&mut self, index: usize, lit: bool) -> Result<(), DeviceError> {
        if let Some(Some(pin)) = self.lamps.get_mut(index) {
            if lit {
                pin.set_high();
            } else {
                pin.set_low();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_gpio_chip_is_a_clear_error() {
        // No GPIO chips exist on a build machine: the error must name the chip and lines.
        let err = CdevPins::new(
            "/dev/gpiochip-missing",
            vec![5, 6],
            vec![Some(12), None],
            Duration::from_millis(30),
        )
        .err()
        .expect("no such chip");
        let msg = err.to_string();
        assert!(
            msg.contains("/dev/gpiochip-missing") && msg.contains("[12]"),
            "{msg}"
        );
        let mut pins = CdevPins::new(
            "/dev/gpiochip-missing",
            vec![5, 6],
            vec![None, None],
            Duration::from_millis(30),
        )
        .expect("no lamps: nothing opened yet");
        let (tx, _rx) = mpsc::unbounded_channel();
        let msg = pins.watch(tx).unwrap_err().to_string();
        assert!(msg.contains("buttons [5, 6]"), "{msg}");
        // A lamp that is not wired is not an error.
        pins.set_lamp(0, true).unwrap();
    }
}
