//! Devices: each kind behind a small interface, with a real backend and a
//! simulated one. Until the hardware drivers land, the hall runs on the
//! simulated devices below, driven through the local API.

pub mod sim;
