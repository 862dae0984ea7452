//! A virtio-balloon driver (virtio 1.2, section 5.5) for free page
//! reporting (`VIRTIO_BALLOON_F_REPORTING`, Linux's
//! `virtballoon_free_page_report`): the buddy allocator's reporting pass
//! ([`crate::mm::page_reporting`]) hands free blocks to the device, which
//! gives the host memory behind them back. Found, as the block devices,
//! through `virtio_mmio.device=` on the command line (`vmm run
//! --balloon`).
//!
//! A pass runs [`REPORTING_DELAY_NS`] after memory of at least
//! `PAGE_REPORTING_ORDER` became free, as Linux's `page_reporting_delay`,
//! at a safe point (never in the interrupt handler): the timer tick only
//! flags it. The device is polled, as the block driver's requests are:
//! the VMM serves the report while the notify is trapped.
//!
//! Only the reporting queue is used: the host never asks this balloon to
//! inflate (the VMM has no such command yet), so the inflate and deflate
//! queues stay unset. With `page_poison=1` nothing is reported: a page the
//! host discarded reads as zeros, not as the poison its free state
//! promises.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::virtio_mmio::{choose_queue_size, Buf, Mmio, ProbeError, Virtqueue};
use crate::mm::addr::{Pfn, PhysAddr, PAGE_SIZE};
use crate::sync::SpinLock;

/// virtio device id of a memory balloon; the VMM's vendor id.
const VIRTIO_ID_BALLOON: u32 = 5;
const VENDOR_ID: u32 = u32::from_le_bytes(*b"RVMM");
/// The device takes reports of free pages (feature bit 5).
const VIRTIO_BALLOON_F_REPORTING: u32 = 1 << 5;
/// The reporting queue's index when neither the statistics nor the
/// free-page-hint queue is negotiated (queues are numbered densely).
const REPORTING_Q: u16 = 2;
/// Entries asked for.
const QUEUE_SIZE: u16 = 16;
/// How long after memory became free a pass runs (Linux's 2 s).
pub const REPORTING_DELAY_NS: u64 = 2_000_000_000;
/// How many times a report's completion is looked for.
const POLL_LIMIT: u32 = 1 << 20;

struct Balloon {
    mmio: Mmio,
    queue: Virtqueue,
}

// SAFETY: the ring page belongs to this device alone and is touched only through `&mut self`, under the lock below.
unsafe impl Send for Balloon {}

static BALLOON: SpinLock<Option<Balloon>> = SpinLock::new(None);
/// When the next pass is due (uptime ns; `u64::MAX`: none scheduled).
static NEXT_PASS: AtomicU64 = AtomicU64::new(u64::MAX);
/// A pass is due at the next safe point.
static PENDING: AtomicBool = AtomicBool::new(false);

impl Balloon {
    /// Maps the registers at `base`, checks the device is a balloon of the
    /// VMM's that reports free pages, and sets up the reporting queue.
    /// `Ok(None)`: another kind of device.
    fn probe(base: u64, size: u64) -> Result<Option<Self>, &'static str> {
        use crate::mm::buddy::{alloc_page, page_address, page_to_pfn};
        use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
        let va = crate::mm::vmalloc::ioremap(PhysAddr::new(base), size, "virtio_balloon").ok_or("cannot map its registers")?;
        // SAFETY: an uncached mapping of the device's register page, kept for the life of the kernel (unmapped below if it is not a balloon).
        let mmio = unsafe { Mmio::new(va.as_mut_ptr::<u8>()) };
        let taken = match mmio.probe_with_features(VIRTIO_ID_BALLOON, VENDOR_ID, VIRTIO_BALLOON_F_REPORTING) {
            Ok(taken) => taken,
            Err(ProbeError::DeviceId(_)) => {
                crate::mm::vmalloc::vunmap(va);
                return Ok(None);
            }
            Err(_) => return Err("it does not answer as a virtio balloon"),
        };
        if taken & VIRTIO_BALLOON_F_REPORTING == 0 {
            mmio.fail();
            return Err("it does not take free page reports");
        }
        let max = mmio.queue_max(REPORTING_Q).map_err(|_| "its reporting queue is missing")?;
        let qsize = choose_queue_size(max, QUEUE_SIZE);
        if qsize == 0 {
            mmio.fail();
            return Err("its reporting queue has no entries");
        }
        let page = alloc_page(GFP_KERNEL | __GFP_ZERO).ok_or("no memory for its ring")?;
        let ring = page_address(page).ok_or("ring page not in lowmem")?;
        // SAFETY: a fresh zeroed page (4 KiB covers a 16-entry ring), page aligned, owned by this queue from now on.
        let queue = unsafe { Virtqueue::new(ring.as_mut_ptr::<u8>(), page_to_pfn(page).phys().as_u64(), qsize) };
        mmio.enable_queue(REPORTING_Q, &queue);
        mmio.driver_ok();
        Ok(Some(Self { mmio, queue }))
    }

    /// Hands `blocks` (first frame, order) to the device, as many chains
    /// as its queue needs, and waits for each back; whether it took them.
    fn report(&mut self, blocks: &[(Pfn, usize)]) -> bool {
        let per_chain = usize::from(self.queue.size()).clamp(1, crate::mm::page_reporting::PAGE_REPORTING_CAPACITY);
        blocks.chunks(per_chain).all(|chunk| self.report_chain(chunk))
    }

    /// One chain of at most the queue's size.
    fn report_chain(&mut self, blocks: &[(Pfn, usize)]) -> bool {
        let mut bufs = [Buf { addr: 0, len: 0, device_writes: true }; crate::mm::page_reporting::PAGE_REPORTING_CAPACITY];
        for (buf, &(pfn, order)) in bufs.iter_mut().zip(blocks) {
            let Ok(len) = u32::try_from(PAGE_SIZE << order) else { return false };
            *buf = Buf { addr: pfn.phys().as_u64(), len, device_writes: true };
        }
        if self.queue.add(&bufs[..blocks.len()], 0).is_none() {
            return false;
        }
        self.mmio.notify(REPORTING_Q);
        for _ in 0..POLL_LIMIT {
            if let Some(used) = self.queue.pop_used() {
                return used.is_ok();
            }
            core::hint::spin_loop();
        }
        pr_err!("virtio_balloon: the device did not return a report; reporting stops");
        false
    }
}

/// Finds the balloon among the devices on the command line and, if it
/// takes free page reports, starts reporting.
pub fn init(cmdline: &crate::cmdline::Cmdline, page_poison: bool) {
    for value in cmdline.get_all("virtio_mmio.device") {
        let Some((size, base, irq)) = crate::cmdline::parse_virtio_mmio_device(value) else { continue };
        match Balloon::probe(base, size) {
            Ok(None) => continue,
            Ok(Some(b)) if page_poison => {
                b.mmio.fail();
                printk!("virtio_balloon: at {base:#x} irq {irq}: free page reporting off (page_poison=1)");
            }
            Ok(Some(b)) => {
                *BALLOON.lock() = Some(b);
                crate::proc::notify::register_observer(crate::proc::notify::Observer { tick, poll, pending, run_pending, task_exit });
                printk!(
                    "virtio_balloon: at {base:#x} irq {irq}: free page reporting of blocks of {} KiB and up, {} s after they free",
                    (PAGE_SIZE << crate::mm::page_reporting::PAGE_REPORTING_ORDER) >> 10,
                    REPORTING_DELAY_NS / 1_000_000_000
                );
            }
            Err(why) => pr_err!("virtio_balloon: device at {base:#x}: {why}"),
        }
        return;
    }
}

/// From the timer interrupt: schedules a pass once memory became free,
/// and flags it when it is due. A few loads.
fn tick() {
    let now = crate::time::uptime_ns();
    let next = NEXT_PASS.load(Relaxed);
    if next == u64::MAX {
        if crate::mm::buddy::page_alloc().take_report_request() {
            NEXT_PASS.store(now + REPORTING_DELAY_NS, Relaxed);
        }
    } else if now >= next {
        PENDING.store(true, Relaxed);
    }
}

fn poll() {
    if pending() {
        run_pending();
    }
}

fn pending() -> bool {
    PENDING.load(Relaxed)
}

/// A reporting pass, at a safe point.
fn run_pending() {
    if !PENDING.swap(false, Relaxed) {
        return;
    }
    NEXT_PASS.store(u64::MAX, Relaxed);
    let mut guard = BALLOON.lock();
    let Some(balloon) = guard.as_mut() else { return };
    let stats = crate::mm::buddy::page_alloc().report_free_pages(&mut |blocks| balloon.report(blocks));
    drop(guard);
    if stats.failed {
        // The device refused: no more passes (the VMM logged why).
        *BALLOON.lock() = None;
        pr_err!("virtio_balloon: a report was refused; free page reporting stops");
    }
}

fn task_exit(_pid: u32, _status: i32) {}
