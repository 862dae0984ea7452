//! Emulated devices.
pub mod console;
pub mod serial;

pub use console::Console;
pub use serial::SerialDevice;
