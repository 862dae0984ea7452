//! The stats device's transport: its registers probed, both virtqueues set
//! up in pages of their own, the control queue's buffers posted, and the
//! stats queue's sent messages taken back (the driver in `stats` speaks
//! the protocol over it).

use alloc::string::String;
use alloc::vec::Vec;

use shared::stats::{self as wire, CONTROL_QUEUE, STATS_QUEUE};

use super::virtio_mmio::{choose_queue_size, Buf, Mmio, Virtqueue, MAX_QUEUE_SIZE};
use crate::mm::addr::{PhysAddr, PAGE_SIZE};

/// Entries of the stats queue (one message is in flight at a time; the
/// rest absorb messages a device failed to return).
pub const STATS_QUEUE_SIZE: u16 = 16;
/// Entries of the control queue, each with one posted buffer.
pub const CONTROL_QUEUE_SIZE: u16 = 8;
/// Bytes of each control buffer (one page): the largest command.
pub const CONTROL_BUF_LEN: usize = PAGE_SIZE as usize;
pub struct Channel {
    pub mmio: Mmio,
    pub stats: Virtqueue,
    pub control: Virtqueue,
    /// Messages the device holds, by head descriptor, until it returns them.
    pub out: [Option<Vec<u8>>; MAX_QUEUE_SIZE as usize],
    /// Physical addresses of the control buffers, by token.
    pub control_bufs: [u64; CONTROL_QUEUE_SIZE as usize],
}

impl Channel {
    /// Frees the messages the device has returned.
    /// Returns how many used entries were bad (the device's fault).
    pub fn reclaim(&mut self) -> u64 {
        let mut bad = 0;
        while let Some(used) = self.stats.pop_used() {
            match used {
                Ok(u) => drop(self.out[u.head as usize].take()),
                Err(_) => bad += 1,
            }
        }
        bad
    }
}

/// The device's registers mapped, identity checked, features negotiated,
/// both queues live and the control buffers posted.
pub fn setup(base: u64) -> Result<Channel, String> {
    use crate::mm::buddy::{alloc_page, page_address, page_to_pfn};
    use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
    let va =
        crate::mm::vmalloc::ioremap(PhysAddr::new(base), wire::STATS_MMIO_SIZE, "stats_channel").ok_or_else(|| String::from("cannot map its registers"))?;
    // SAFETY: an uncached mapping of the device's register page, kept for
    // the life of the kernel (never unmapped).
    let mmio = unsafe { Mmio::new(va.as_mut_ptr::<u8>()) };
    mmio.probe(wire::STATS_DEVICE_ID, wire::STATS_VENDOR_ID).map_err(|e| alloc::format!("{e}"))?;
    // Ring memory: one zeroed lowmem page per queue (physically
    // contiguous, reachable through the direct map), never freed.
    let queue = |index: u16, want: u16| -> Result<Virtqueue, String> {
        let max = mmio.queue_max(index).map_err(|e| alloc::format!("{e}"))?;
        let size = choose_queue_size(max, want);
        if size == 0 {
            return Err(alloc::format!("queue {index} has no entries"));
        }
        let page = alloc_page(GFP_KERNEL | __GFP_ZERO).ok_or_else(|| String::from("no memory for a ring"))?;
        let ring = page_address(page).ok_or_else(|| String::from("ring page not in lowmem"))?;
        // SAFETY: a fresh zeroed page (4 KiB covers a 16-entry ring),
        // page aligned, owned by this queue from now on.
        let q = unsafe { Virtqueue::new(ring.as_mut_ptr::<u8>(), page_to_pfn(page).phys().as_u64(), size) };
        mmio.enable_queue(index, &q);
        Ok(q)
    };
    let stats = queue(STATS_QUEUE, STATS_QUEUE_SIZE);
    let control = queue(CONTROL_QUEUE, CONTROL_QUEUE_SIZE);
    let (stats, mut control) = match (stats, control) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => {
            mmio.fail();
            return Err(e);
        }
    };
    mmio.driver_ok();
    let mut control_bufs = [0u64; CONTROL_QUEUE_SIZE as usize];
    for (i, slot) in control_bufs.iter_mut().enumerate().take(control.size() as usize) {
        let Some(page) = alloc_page(GFP_KERNEL) else { break };
        if page_address(page).is_none() {
            break;
        }
        *slot = page_to_pfn(page).phys().as_u64();
        control.add(&[Buf { addr: *slot, len: CONTROL_BUF_LEN as u32, device_writes: true }], i as u32);
    }
    mmio.notify(CONTROL_QUEUE);
    Ok(Channel { mmio, stats, control, out: [const { None }; MAX_QUEUE_SIZE as usize], control_bufs })
}
