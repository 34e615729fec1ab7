//! hallq: the queue controller of a public service hall.
//!
//! Devices and the local API send [`domain::Command`]s to the [`engine`], the
//! single owner of hall state. It applies the pure rules of [`domain`],
//! commits the state change and its events in one SQLite transaction
//! ([`store`]), and only then emits effects to the devices.

pub mod api;
pub mod config;
pub mod daemon;
pub mod devices;
pub mod display;
pub mod domain;
pub mod engine;
pub mod http;
pub mod store;
pub mod sync;

#[cfg(feature = "central")]
pub mod central;
pub mod voice;
