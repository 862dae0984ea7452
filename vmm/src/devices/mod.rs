//! Emulated devices.
pub mod console;
pub mod hostio;
pub mod pageop;
pub mod rtc;
pub mod serial;
pub mod stats;
pub mod virtio_chain;

pub use console::Console;
pub use hostio::HostIo;
pub use pageop::PageOps;
pub use rtc::Rtc;
pub use serial::SerialDevice;
pub use stats::StatsDevice;
