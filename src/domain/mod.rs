//! The pure rules of the hall: no I/O, no clock (the time is an argument).

pub mod bundle;
pub mod calendar;
pub mod catalog;
pub mod command;
pub mod device;
pub mod error;
pub mod event;
pub mod hall;
pub mod policy;
pub mod setup;
pub mod ticket;
pub mod transaction;
pub mod view;

#[cfg(test)]
mod hall_props;
#[cfg(test)]
mod hall_tests;
#[cfg(test)]
pub(crate) mod testkit;

pub use bundle::{BundleError, ConfigBundle};
pub use command::{Command, TicketRef};
pub use device::PrinterStatus;
pub use error::{DomainError, ErrorKind};
pub use event::{Event, PauseKind, TransferTarget};
pub use hall::{Hall, HallState, WindowStatus};
pub use setup::HallSetup;
pub use ticket::{Ticket, TicketClass, TicketId, WindowNo};
pub use transaction::{Outcome, OutcomeInput, Transaction};
