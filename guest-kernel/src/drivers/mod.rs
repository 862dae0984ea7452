//! Device drivers.
pub mod serial;
