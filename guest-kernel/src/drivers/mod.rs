//! Device drivers.
#[cfg(target_os = "none")]
pub mod serial;
#[cfg(target_os = "none")]
pub mod hostio;
/// The stats channel (virtio-mmio device, shared::stats wire format).
#[cfg(target_os = "none")]
pub mod stats;
pub mod stats_text;
pub mod virtio_mmio;
pub mod stats_wire;
