//! Device drivers. The plain parts (virtqueue ring logic, the stats
//! channel's records and encoder) build for the host too, for tests.
#[cfg(target_os = "none")]
pub mod hostio;
#[cfg(target_os = "none")]
pub mod pageop;
#[cfg(target_os = "none")]
pub mod serial;
/// The stats channel (virtio-mmio device, `shared::stats` wire format).
#[cfg(target_os = "none")]
pub mod stats;
#[cfg(target_os = "none")]
pub mod stats_channel;
#[cfg(target_os = "none")]
pub mod stats_collect;
#[cfg(target_os = "none")]
pub mod stats_host_procs;
pub mod stats_text;
pub mod stats_wire;
/// virtio-balloon, for free page reporting.
#[cfg(target_os = "none")]
pub mod virtio_balloon;
/// virtio-blk, for swap devices.
#[cfg(target_os = "none")]
pub mod virtio_blk;
pub mod virtio_mmio;
