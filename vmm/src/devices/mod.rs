//! Emulated devices.
pub mod console;
pub mod hostio;
pub mod serial;

pub use console::Console;
pub use hostio::HostIo;
pub use serial::SerialDevice;
