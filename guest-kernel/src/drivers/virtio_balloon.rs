//! A virtio-balloon driver (virtio 1.2, section 5.5), as Linux's
//! `virtio_balloon`:
//!
//! - **Inflating and deflating.** The host sets `num_pages`, the size it
//!   wants the balloon to have (`vmm balloon PATH SIZE`). The driver
//!   allocates that many pages and hands their frame numbers to the device
//!   on the inflate queue (the host gives the memory behind them back), or
//!   takes pages back, naming them on the deflate queue, and frees them;
//!   then it writes the size reached to `actual`. Pages in the balloon
//!   leave `MemTotal` (Linux's `adjust_managed_page_count`) and are counted
//!   in `/proc/vmstat` as `balloon_inflate` and `balloon_deflate`. With
//!   `VIRTIO_BALLOON_F_DEFLATE_ON_OOM` the OOM path takes 1 MiB back from
//!   the balloon before it chooses a victim (Linux's OOM notifier).
//! - **Free page reporting** (`VIRTIO_BALLOON_F_REPORTING`, Linux's
//!   `virtballoon_free_page_report`): the buddy allocator's reporting pass
//!   ([`crate::mm::page_reporting`]) hands free blocks to the device. A
//!   pass runs [`REPORTING_DELAY_NS`] after memory of at least
//!   `PAGE_REPORTING_ORDER` became free, as Linux's `page_reporting_delay`.
//!   With `page_poison=1` nothing is reported: a page the host discarded
//!   reads as zeros, not as the poison its free state promises.
//!
//! Found, as the block devices, through `virtio_mmio.device=` on the
//! command line (`vmm run --balloon`). There is no interrupt path for the
//! device here, so the timer tick looks at the configuration-change bit
//! every [`CONFIG_POLL_NS`] (one register read) and flags the work; the
//! work runs at a safe point, never in the interrupt handler. The device
//! is polled, as the block driver's requests are: the VMM serves a chain
//! while the notify is trapped.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::virtio_mmio::{driver_page, setup_queue, Buf, Mmio, ProbeError, SubmitError, Virtqueue};
use crate::mm::addr::{Pfn, PhysAddr, PAGE_SIZE};
use crate::mm::page::PageList;
use crate::mm::vmstat::{BALLOON_DEFLATE, BALLOON_INFLATE};
use crate::sync::SpinLock;
use shared::stats::regs;

/// virtio device id of a memory balloon; the VMM's vendor id.
const VIRTIO_ID_BALLOON: u32 = 5;
const VENDOR_ID: u32 = u32::from_le_bytes(*b"RVMM");
/// The device takes reports of free pages (feature bit 5).
const VIRTIO_BALLOON_F_REPORTING: u32 = 1 << 5;
/// The driver may deflate when the guest runs out of memory (bit 2).
const VIRTIO_BALLOON_F_DEFLATE_ON_OOM: u32 = 1 << 2;
/// Pages one OOM deflates (Linux's `VIRTIO_BALLOON_OOM_NR_PAGES`).
const OOM_NR_PAGES: usize = 256;
/// Queue indices when neither the statistics nor the free-page-hint queue
/// is negotiated (queues are numbered densely).
const INFLATE_Q: u16 = 0;
const DEFLATE_Q: u16 = 1;
const REPORTING_Q: u16 = 2;
/// Entries asked for per queue.
const QUEUE_SIZE: u16 = 16;
/// The configuration space: `num_pages`, then `actual`.
const CONFIG_NUM_PAGES: u64 = 0x100;
const CONFIG_ACTUAL: u64 = 0x104;
/// `InterruptStatus`: the configuration changed.
const INTERRUPT_CONFIG_CHANGE: u32 = 2;
/// Frame numbers per inflate or deflate chain (Linux's
/// `VIRTIO_BALLOON_ARRAY_PFNS_MAX`).
const PFNS_PER_CHAIN: usize = 256;
/// Chains per pass at most, so that a pass stays short; the next pass
/// comes at the next safe point.
const CHAINS_PER_PASS: usize = 16;
/// How long after memory became free a reporting pass runs (Linux's 2 s).
pub const REPORTING_DELAY_NS: u64 = 2_000_000_000;
/// How often the tick looks for a new size.
pub const CONFIG_POLL_NS: u64 = 100_000_000;

struct Balloon {
    mmio: Mmio,
    inflate: Virtqueue,
    deflate: Virtqueue,
    /// `None` without the feature, or with `page_poison=1`.
    reporting: Option<Virtqueue>,
    /// `VIRTIO_BALLOON_F_DEFLATE_ON_OOM` was negotiated.
    deflate_on_oom: bool,
    /// The frame-number array of inflate and deflate chains (a lowmem page).
    pfns: *mut u32,
    pfns_phys: u64,
    /// The pages in the balloon, linked through their `lru` words.
    pages: PageList,
    /// The size the host asked for, as last read.
    target: u64,
    /// An inflate failed for want of memory since the target changed
    /// (said once).
    out_of_puff: bool,
}

// SAFETY: the ring pages and the frame-number page belong to this device alone and are touched only through `&mut self`, under the lock below.
unsafe impl Send for Balloon {}

static BALLOON: SpinLock<Option<Balloon>> = SpinLock::new(None);
/// The device's registers, for the tick's look at the interrupt status
/// (the lock above may be held by the code the tick interrupted).
static MMIO_BASE: AtomicU64 = AtomicU64::new(0);
/// When the next reporting pass is due (uptime ns; `u64::MAX`: none).
static NEXT_PASS: AtomicU64 = AtomicU64::new(u64::MAX);
/// When the tick next looks at the configuration.
static NEXT_CONFIG_POLL: AtomicU64 = AtomicU64::new(0);
/// A reporting pass is due at the next safe point.
static PENDING: AtomicBool = AtomicBool::new(false);
/// The balloon's size is to be looked at (the host changed it, or a pass
/// has not reached it yet).
static RESIZE: AtomicBool = AtomicBool::new(false);
/// The host changed the configuration (a new size, or the same asked
/// again): a balloon that ran out of memory tries again.
static CONFIG_CHANGED: AtomicBool = AtomicBool::new(false);

/// Hands one chain to the device on queue `index` and waits for it back;
/// whether the device took it.
fn send_chain(mmio: &Mmio, queue: &mut Virtqueue, index: u16, bufs: &[Buf]) -> bool {
    match queue.submit_and_wait(mmio, index, bufs) {
        Ok(_) => true,
        Err(SubmitError::NoAnswer) => {
            pr_err!("virtio_balloon: the device did not return a chain on queue {index}");
            false
        }
        Err(_) => false,
    }
}

impl Balloon {
    /// Maps the registers at `base`, checks the device is a balloon of the
    /// VMM's, and sets up its queues (the reporting queue only when the
    /// device takes reports and `report` allows). `Ok(None)`: another kind
    /// of device.
    fn probe(base: u64, size: u64, report: bool) -> Result<Option<Self>, &'static str> {
        let va = crate::mm::vmalloc::ioremap(PhysAddr::new(base), size, "virtio_balloon").ok_or("cannot map its registers")?;
        // SAFETY: an uncached mapping of the device's register page, kept for the life of the kernel (unmapped below if it is not a balloon).
        let mmio = unsafe { Mmio::new(va.as_mut_ptr::<u8>()) };
        let wanted = VIRTIO_BALLOON_F_DEFLATE_ON_OOM | if report { VIRTIO_BALLOON_F_REPORTING } else { 0 };
        let taken = match mmio.probe_with_features(VIRTIO_ID_BALLOON, VENDOR_ID, wanted) {
            Ok(taken) => taken,
            Err(ProbeError::DeviceId(_)) => {
                crate::mm::vmalloc::vunmap(va);
                return Ok(None);
            }
            Err(_) => return Err("it does not answer as a virtio balloon"),
        };
        let set_up = || -> Result<Self, &'static str> {
            let inflate = setup_queue(&mmio, INFLATE_Q, QUEUE_SIZE)?;
            let deflate = setup_queue(&mmio, DEFLATE_Q, QUEUE_SIZE)?;
            let reporting = if taken & VIRTIO_BALLOON_F_REPORTING != 0 { Some(setup_queue(&mmio, REPORTING_Q, QUEUE_SIZE)?) } else { None };
            let (pfns, pfns_phys) = driver_page()?;
            // SAFETY: the same register page, which stays mapped for the life of the kernel.
            let mmio = unsafe { Mmio::new(va.as_mut_ptr::<u8>()) };
            let deflate_on_oom = taken & VIRTIO_BALLOON_F_DEFLATE_ON_OOM != 0;
            Ok(Self { mmio, inflate, deflate, reporting, deflate_on_oom, pfns: pfns.cast(), pfns_phys, pages: PageList::new(), target: 0, out_of_puff: false })
        };
        let balloon = set_up().inspect_err(|_| mmio.fail())?;
        balloon.mmio.driver_ok();
        MMIO_BASE.store(va.as_u64(), Relaxed);
        Ok(Some(balloon))
    }

    /// Hands `blocks` (first frame, order) to the device, as many chains
    /// as its queue needs, and waits for each back; whether it took them.
    fn report(&mut self, blocks: &[(Pfn, usize)]) -> bool {
        let Some(queue) = self.reporting.as_mut() else { return false };
        let per_chain = usize::from(queue.size()).clamp(1, crate::mm::page_reporting::PAGE_REPORTING_CAPACITY);
        let mmio = &self.mmio;
        blocks.chunks(per_chain).all(|chunk| {
            let mut bufs = [Buf { addr: 0, len: 0, device_writes: true }; crate::mm::page_reporting::PAGE_REPORTING_CAPACITY];
            for (buf, &(pfn, order)) in bufs.iter_mut().zip(chunk) {
                let Ok(len) = u32::try_from(PAGE_SIZE << order) else { return false };
                *buf = Buf { addr: pfn.phys().as_u64(), len, device_writes: true };
            }
            send_chain(mmio, queue, REPORTING_Q, &bufs[..chunk.len()])
        })
    }

    /// Names `frames` to the device on the inflate or deflate queue.
    fn tell_host(&mut self, deflate: bool, frames: &[Pfn]) -> bool {
        for (i, pfn) in frames.iter().enumerate().take(PFNS_PER_CHAIN) {
            // SAFETY: the array page holds 1,024 entries and is this driver's; 32 bits name a frame of the balloon's 4 KiB pages below 16 TiB.
            unsafe { self.pfns.add(i).write_volatile(pfn.as_u64() as u32) };
        }
        let buf = Buf { addr: self.pfns_phys, len: (frames.len().min(PFNS_PER_CHAIN) * 4) as u32, device_writes: false };
        let (queue, index) = if deflate { (&mut self.deflate, DEFLATE_Q) } else { (&mut self.inflate, INFLATE_Q) };
        send_chain(&self.mmio, queue, index, &[buf])
    }

    /// Pages in the balloon.
    fn held(&self) -> u64 {
        self.pages.len
    }
}

/// Finds the balloon among the devices on the command line and starts
/// it: inflating and deflating always, free page reporting when the
/// device takes reports and pages are not poisoned.
pub fn init(cmdline: &crate::cmdline::Cmdline, page_poison: bool) {
    for value in cmdline.get_all("virtio_mmio.device") {
        let Some((size, base, irq)) = crate::cmdline::parse_virtio_mmio_device(value) else { continue };
        match Balloon::probe(base, size, !page_poison) {
            Ok(None) => continue,
            Ok(Some(b)) => {
                let reporting = b.reporting.is_some();
                if b.deflate_on_oom {
                    crate::proc::notify::register_oom_notifier(oom_deflate);
                }
                *BALLOON.lock() = Some(b);
                RESIZE.store(true, Relaxed);
                crate::proc::notify::register_observer(crate::proc::notify::Observer { tick, poll, pending, run_pending, task_exit });
                if reporting {
                    printk!(
                        "virtio_balloon: at {base:#x} irq {irq}: inflate, deflate, and free page reporting of blocks of {} KiB and up, {} s after they free",
                        (PAGE_SIZE << crate::mm::page_reporting::PAGE_REPORTING_ORDER) >> 10,
                        REPORTING_DELAY_NS / 1_000_000_000
                    );
                } else {
                    let why = if page_poison { "page_poison=1" } else { "the device does not take reports" };
                    printk!("virtio_balloon: at {base:#x} irq {irq}: inflate and deflate; free page reporting off ({why})");
                }
            }
            Err(why) => pr_err!("virtio_balloon: device at {base:#x}: {why}"),
        }
        return;
    }
}

/// Pages the balloon holds now (for the leak check: they are not lost).
pub fn held_pages() -> u64 {
    BALLOON_INFLATE.load(Relaxed) - BALLOON_DEFLATE.load(Relaxed)
}

/// From the timer interrupt: schedules a reporting pass once memory
/// became free, flags it when it is due, and every [`CONFIG_POLL_NS`]
/// looks whether the host asked for a new size. A few loads, and one
/// register read per poll.
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
    if now >= NEXT_CONFIG_POLL.load(Relaxed) {
        NEXT_CONFIG_POLL.store(now + CONFIG_POLL_NS, Relaxed);
        let base = MMIO_BASE.load(Relaxed);
        if base != 0 {
            // SAFETY: the register page stays mapped for the life of the kernel (`probe`).
            let mmio = unsafe { Mmio::new(base as *mut u8) };
            if mmio.read(regs::INTERRUPT_STATUS) & INTERRUPT_CONFIG_CHANGE != 0 {
                mmio.write(regs::INTERRUPT_ACK, INTERRUPT_CONFIG_CHANGE);
                CONFIG_CHANGED.store(true, Relaxed);
                RESIZE.store(true, Relaxed);
            }
        }
    }
}

fn poll() {
    if pending() {
        run_pending();
    }
}

fn pending() -> bool {
    PENDING.load(Relaxed) || RESIZE.load(Relaxed)
}

/// The flagged work, at a safe point: a reporting pass, then a step
/// towards the size the host asked for.
fn run_pending() {
    if PENDING.swap(false, Relaxed) {
        report_pass();
    }
    if RESIZE.swap(false, Relaxed) {
        resize();
    }
}

fn report_pass() {
    NEXT_PASS.store(u64::MAX, Relaxed);
    let mut guard = BALLOON.lock();
    let Some(balloon) = guard.as_mut() else { return };
    if balloon.reporting.is_none() {
        return;
    }
    let stats = crate::mm::buddy::page_alloc().report_free_pages(&mut |blocks| balloon.report(blocks));
    if stats.failed {
        // The device refused: no more reports (the VMM logged why).
        balloon.reporting = None;
        pr_err!("virtio_balloon: a report was refused; free page reporting stops");
    }
}

/// Inflates or deflates towards `num_pages`, at most
/// [`CHAINS_PER_PASS`] chains of [`PFNS_PER_CHAIN`] pages (Linux's
/// `update_balloon_size_func`, which requeues itself the same way), then
/// writes the size reached to `actual`.
fn resize() {
    let target = {
        let mut guard = BALLOON.lock();
        let Some(b) = guard.as_mut() else { return };
        let target = u64::from(b.mmio.read(CONFIG_NUM_PAGES));
        if target != b.target || CONFIG_CHANGED.swap(false, Relaxed) {
            b.target = target;
            b.out_of_puff = false;
        }
        target
    };
    let mut more = false;
    for _ in 0..CHAINS_PER_PASS {
        let (held, puffed) = BALLOON.lock().as_ref().map_or((0, true), |b| (b.held(), b.out_of_puff));
        if target > held && puffed {
            // Out of memory since the target came (or the OOM path took
            // pages back): no more inflating until the host asks again.
            break;
        }
        let step = (target.abs_diff(held) as usize).min(PFNS_PER_CHAIN);
        if step == 0 {
            break;
        }
        let done = if target > held { fill_balloon(step) } else { leak_balloon(step) > 0 };
        if !done {
            break;
        }
        more = true;
    }
    let mut guard = BALLOON.lock();
    let Some(b) = guard.as_mut() else { return };
    b.mmio.write(CONFIG_ACTUAL, b.held() as u32);
    if more && b.held() != b.target && !b.out_of_puff {
        RESIZE.store(true, Relaxed);
    }
}

/// Allocates up to `n` pages, gives them to the host and keeps them in the
/// balloon (Linux `fill_balloon`); whether it got any.
fn fill_balloon(n: usize) -> bool {
    use crate::mm::gfp::{__GFP_NORETRY, __GFP_NOWARN, GFP_HIGHUSER};
    let alloc = crate::mm::buddy::page_alloc();
    // Allocated without the lock: the allocation may reclaim.
    let mut frames = [Pfn::new(0); PFNS_PER_CHAIN];
    let mut got = 0;
    while got < n {
        let Some(pfn) = alloc.alloc_pages(GFP_HIGHUSER | __GFP_NORETRY | __GFP_NOWARN, 0) else { break };
        frames[got] = pfn;
        got += 1;
    }
    let mut guard = BALLOON.lock();
    let Some(b) = guard.as_mut() else {
        free_frames(&frames[..got]);
        return false;
    };
    if got < n && !b.out_of_puff {
        b.out_of_puff = true;
        printk!("virtio_balloon: out of puff: {} of {} pages in the balloon, no more free memory", b.held() + got as u64, b.target);
    }
    if got == 0 {
        return false;
    }
    if !b.tell_host(false, &frames[..got]) {
        drop(guard);
        free_frames(&frames[..got]);
        pr_err!("virtio_balloon: the device refused an inflate");
        return false;
    }
    for &pfn in &frames[..got] {
        b.pages.push_back(&alloc.mem, pfn);
        alloc.adjust_managed_page_count(pfn, -1);
    }
    BALLOON_INFLATE.fetch_add(got as u64, Relaxed);
    got == n
}

/// Before the OOM killer chooses a victim (`VIRTIO_BALLOON_F_DEFLATE_ON_OOM`,
/// Linux's `virtio_balloon_oom_notify`): up to [`OOM_NR_PAGES`] pages come
/// out of the balloon, and `actual` says so; the pages freed. The host's
/// target stays, and the balloon grows back only when the host asks
/// again.
fn oom_deflate() -> u64 {
    let freed = leak_balloon(OOM_NR_PAGES);
    if freed > 0 {
        let mut guard = BALLOON.lock();
        if let Some(b) = guard.as_mut() {
            b.mmio.write(CONFIG_ACTUAL, b.held() as u32);
            // A size step in progress stops short of the target.
            b.out_of_puff = true;
        }
        RESIZE.store(false, Relaxed);
    }
    freed as u64
}

/// Takes up to `n` pages out of the balloon, tells the host, and frees
/// them (Linux `leak_balloon`); how many it freed.
fn leak_balloon(n: usize) -> usize {
    let alloc = crate::mm::buddy::page_alloc();
    let mut frames = [Pfn::new(0); PFNS_PER_CHAIN];
    let mut got = 0;
    {
        let mut guard = BALLOON.lock();
        let Some(b) = guard.as_mut() else { return 0 };
        while got < n {
            let Some(pfn) = b.pages.pop_front(&alloc.mem) else { break };
            frames[got] = pfn;
            got += 1;
        }
        // The host learns of it before the pages are used again, as the
        // spec asks when VIRTIO_BALLOON_F_MUST_TELL_HOST is offered; a
        // refusal changes nothing for the guest.
        if got > 0 && !b.tell_host(true, &frames[..got]) {
            pr_err!("virtio_balloon: the device refused a deflate");
        }
    }
    for &pfn in &frames[..got] {
        alloc.adjust_managed_page_count(pfn, 1);
    }
    free_frames(&frames[..got]);
    BALLOON_DEFLATE.fetch_add(got as u64, Relaxed);
    got
}

fn free_frames(frames: &[Pfn]) {
    let alloc = crate::mm::buddy::page_alloc();
    for &pfn in frames {
        if alloc.free_pages(pfn, 0).is_err() {
            pr_err!("virtio_balloon: freeing frame {:#x} failed", pfn.as_u64());
        }
    }
}

fn task_exit(_pid: u32, _status: i32) {}
