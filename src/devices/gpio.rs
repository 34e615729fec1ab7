//! Kiosk pins on real GPIO: the Linux GPIO character device (`gpiocdev`,
//! any board, including the Raspberry Pi 5) or `rppal` on Raspberry Pi boards
//! (feature `rppal`; that crate is in maintenance mode). Buttons are wired
//! to ground with the internal pull-up on (active low); lamps are driven
//! active high through a transistor (see `hw/wiring.md`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, Value};
use gpiocdev::Request;
use tokio::sync::{mpsc, watch};

use super::kiosk::{Edge, Pins};
use super::DeviceError;

/// Pins on a GPIO chip through the character device.
pub struct CdevPins {
    chip: PathBuf,
    inputs: Vec<u32>,
    lamps: Vec<Option<u32>>,
    debounce: Duration,
    lamp_request: Option<Request>,
    /// Whether the button inputs can be read (false while reopening them).
    health: Option<watch::Receiver<bool>>,
}

/// Reads the next button edge, blocking: the input's line offset and
/// whether it is now pressed.
pub trait EdgeReader: Send + 'static {
    fn next_edge(&mut self) -> Result<(u32, bool), String>;
}

impl EdgeReader for Request {
    fn next_edge(&mut self) -> Result<(u32, bool), String> {
        self.read_edge_event()
            .map(|ev| (ev.offset, ev.kind == EdgeKind::Rising))
            .map_err(|e| e.to_string())
    }
}

/// How long to wait between attempts to reopen failed inputs: doubling from
/// `first` up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

/// Forward edges from `reader` to `tx` until the kiosk driver goes away.
/// When reading fails, `online` turns false and `reopen` is tried with
/// backoff until it works; then `online` turns true again.
pub fn pump_edges<R: EdgeReader>(
    mut reader: R,
    mut reopen: impl FnMut() -> Result<R, String>,
    inputs: &[u32],
    tx: &mpsc::UnboundedSender<Edge>,
    online: &watch::Sender<bool>,
    backoff: Backoff,
) {
    loop {
        match reader.next_edge() {
            Ok((offset, pressed)) => {
                let Some(button) = inputs.iter().position(|o| *o == offset) else {
                    continue;
                };
                let e = Edge {
                    button,
                    pressed,
                    at: Instant::now(),
                };
                if tx.send(e).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the kiosk buttons failed; reopening them");
                online.send_replace(false);
                let mut wait = backoff.first;
                reader = loop {
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(wait); // backoff between attempts to reopen the chip
                    match reopen() {
                        Ok(r) => break r,
                        Err(e) => {
                            tracing::debug!(error = %e, "kiosk buttons still unavailable");
                            wait = (wait * 2).min(backoff.max);
                        }
                    }
                };
                tracing::info!("kiosk buttons readable again");
                online.send_replace(true);
            }
        }
    }
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
            health: None,
        })
    }

    fn request_inputs(chip: &std::path::Path, inputs: &[u32], debounce: Duration) -> Result<Request, String> {
        Request::builder()
            .on_chip(chip)
            .with_consumer("hallq-kiosk-buttons")
            .with_lines(inputs)
            .as_input()
            .as_active_low()
            .with_bias(Bias::PullUp)
            .with_edge_detection(EdgeDetection::BothEdges)
            // The kernel debounces in hardware where the chip can, else in gpiolib.
            .with_debounce_period(debounce)
            .request()
            .map_err(|e| format!("{}: buttons {inputs:?}: {e}", chip.display()))
    }
}

impl Pins for CdevPins {
    fn watch(&mut self, tx: mpsc::UnboundedSender<Edge>) -> Result<(), DeviceError> {
        let req = Self::request_inputs(&self.chip, &self.inputs, self.debounce).map_err(DeviceError::Gpio)?;
        let (online, health) = watch::channel(true);
        self.health = Some(health);
        let (chip, inputs, debounce) = (self.chip.clone(), self.inputs.clone(), self.debounce);
        std::thread::Builder::new()
            .name("hallq-kiosk-gpio".into())
            .spawn(move || {
                let reopen = || Self::request_inputs(&chip, &inputs, debounce);
                pump_edges(req, reopen, &inputs, &tx, &online, Backoff::default());
            })?;
        Ok(())
    }

    fn health(&mut self) -> Option<watch::Receiver<bool>> {
        self.health.clone()
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

    /// Edges scripted by the test; an `Err` is a failed read. A reader
    /// whose script ran dry reports the chip gone.
    struct Scripted(std::sync::mpsc::Receiver<Result<(u32, bool), String>>);

    impl EdgeReader for Scripted {
        fn next_edge(&mut self) -> Result<(u32, bool), String> {
            self.0.recv().unwrap_or_else(|_| Err("chip gone".into()))
        }
    }

    #[test]
    fn a_failed_edge_read_reports_offline_and_reopens_with_backoff() {
        let (script, rx1) = std::sync::mpsc::channel();
        let (script2, rx2) = std::sync::mpsc::channel();
        let mut second = Some(rx2);
        let mut attempts = Vec::new();
        let (tx, mut edges) = mpsc::unbounded_channel();
        let (online, mut health) = watch::channel(true);
        let t0 = Instant::now();
        let pump = std::thread::spawn(move || {
            let reopen = || {
                attempts.push(t0.elapsed());
                // The chip comes back on the third attempt.
                if attempts.len() < 3 {
                    Err("no such chip".to_string())
                } else {
                    second
                        .take()
                        .map(Scripted)
                        .ok_or_else(|| "opened twice".to_string())
                }
            };
            let backoff = Backoff {
                first: Duration::from_millis(2),
                max: Duration::from_millis(5),
            };
            pump_edges(Scripted(rx1), reopen, &[5, 6], &tx, &online, backoff);
            attempts
        });
        script.send(Ok((6, true))).unwrap();
        script.send(Err("read failed".into())).unwrap();
        script2.send(Ok((5, true))).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let e = edges.recv().await.unwrap();
            assert_eq!((e.button, e.pressed), (1, true));
            // off line, then on line again once the chip reopened
            health.changed().await.unwrap();
            let mut seen = vec![*health.borrow_and_update()];
            if seen == [false] {
                health.changed().await.unwrap();
                seen.push(*health.borrow_and_update());
            }
            assert_eq!(seen.last(), Some(&true), "{seen:?}");
            let e = edges.recv().await.unwrap();
            assert_eq!(
                (e.button, e.pressed),
                (0, true),
                "edges flow from the reopened chip"
            );
        });
        // The driver goes away: the pump ends at its next failure.
        drop(edges);
        drop(script2);
        let attempts = pump.join().unwrap();
        assert!(attempts.len() >= 3, "{attempts:?}");
        // backoff: each wait at least as long as the one before (2, 4, 5 ms …)
        assert!(
            attempts[1] - attempts[0] >= Duration::from_millis(4),
            "{attempts:?}"
        );
    }

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
