//! A virtio-balloon device (virtio 1.2, section 5.5) with free page
//! reporting (`VIRTIO_BALLOON_F_REPORTING`): the guest hands the device
//! ranges of its free memory, and the VMM gives the host pages behind them
//! back (`madvise(MADV_DONTNEED)` on the anonymous mapping of guest RAM),
//! so the VMM's resident set falls when the guest frees memory. A
//! discarded range reads as zeros when the guest touches it again, which
//! is what lets the guest treat reported memory as known-zero.
//!
//! The configuration space holds `num_pages`, the balloon's size the host
//! asks for (set through [`BalloonConfig::set_target`]: `vmm balloon` on a
//! control socket, or [`crate::Control::set_balloon`]), and `actual`, the
//! size the driver says it has reached (the driver writes it). A new
//! target bumps the configuration generation and raises the
//! configuration-change interrupt, as the spec has it.
//!
//! The device offers `VIRTIO_BALLOON_F_DEFLATE_ON_OOM`: the guest may
//! take pages back when it runs out of memory, naming them on the deflate
//! queue, whatever the target.
//!
//! Queues, in the order the spec numbers them when neither the statistics
//! nor the free-page-hint queue is offered (Linux's driver numbers the
//! queues it uses densely, as this device does):
//! - 0, `inflateq`: device-readable arrays of 32-bit page frame numbers
//!   the guest gives up; their host pages are discarded.
//! - 1, `deflateq`: page frames the guest takes back; nothing to do, a
//!   discarded page comes back zeroed on its first touch.
//! - 2, `reporting_vq`: each chain is up to [`REPORT_CAPACITY`]
//!   device-writable buffers, each a free range of the guest's (whole
//!   pages); the ranges are discarded and the chain returned with length
//!   0.
//!
//! Everything the guest posts is checked as every queue's chains are
//! ([`super::virtio_chain`]): a range outside guest RAM or not of whole
//! pages refuses the chain, which goes back unused, and nothing of it is
//! discarded.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use vmm_sys_util::eventfd::EventFd;

use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use super::virtio_chain::{read_segments, walk_chain, walk_writable_chain, ChainError, Segment};
use super::virtio_mmio::{Transport, VirtioDevice, VirtioMmio, VIRTIO_F_VERSION_1};

/// virtio device id of a memory balloon.
pub const VIRTIO_ID_BALLOON: u32 = 5;
/// The VMM's vendor id (as its other devices).
const VENDOR_ID: u32 = u32::from_le_bytes(*b"RVMM");
/// The device can take reports of free pages (feature bit 5).
pub const VIRTIO_BALLOON_F_REPORTING: u64 = 1 << 5;
/// The guest may deflate the balloon when it runs out of memory, without
/// waiting for a smaller target (feature bit 2).
pub const VIRTIO_BALLOON_F_DEFLATE_ON_OOM: u64 = 1 << 2;
/// Entries per queue.
const QUEUE_SIZE_MAX: u16 = 32;
/// Buffers in one report at most (Linux's `PAGE_REPORTING_CAPACITY` is
/// 32; the chains here are bounded by the queue size).
pub const REPORT_CAPACITY: usize = 16;
/// The balloon's page size (`VIRTIO_BALLOON_PFN_SHIFT`).
const PAGE: u64 = 4096;
/// Bytes one report may cover (16 blocks of 4 MiB, the largest buddy
/// block, with room).
const REPORT_MAX_BYTES: u64 = 1 << 30;
/// Bytes of page frame numbers in one inflate or deflate buffer at most
/// (Linux sends at most 256 at a time).
const PFN_ARRAY_MAX: u64 = 64 * 1024;

/// The configuration space: four 32-bit fields; `actual` is the second.
const CONFIG_LEN: usize = 16;
const ACTUAL_OFFSET: u64 = 4;

/// Queue indices.
pub const INFLATE_Q: usize = 0;
pub const DEFLATE_Q: usize = 1;
pub const REPORTING_Q: usize = 2;

/// The configuration space's fields the host and the driver set, shared
/// between the vCPU thread (which serves the driver's accesses) and the
/// host's control.
#[derive(Debug, Default)]
pub struct BalloonConfig {
    /// `num_pages`: the balloon's size the host asks for, in 4 KiB pages.
    num_pages: AtomicU32,
    /// `actual`: the size the driver has reached.
    actual: AtomicU32,
    /// Bumped by every new target.
    generation: AtomicU32,
    /// The device's interrupt, raised for a configuration change.
    irq: Option<EventFd>,
}

impl BalloonConfig {
    /// Asks the guest for a balloon of `pages` 4 KiB pages.
    pub fn set_target(&self, pages: u32) {
        self.num_pages.store(pages, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(irq) = &self.irq {
            let _ = irq.write(1);
        }
    }

    /// The size asked for, in pages.
    pub fn target(&self) -> u32 {
        self.num_pages.load(Ordering::SeqCst)
    }

    /// The size the driver says the balloon has, in pages.
    pub fn actual(&self) -> u32 {
        self.actual.load(Ordering::SeqCst)
    }
}

/// The balloon: what it did, for reports and tests.
#[derive(Debug, Default)]
pub struct Balloon {
    /// The configuration fields, shared with the host's control.
    pub config: Arc<BalloonConfig>,
    /// Reports served, and the pages they gave back.
    pub reports: u64,
    pub reported_pages: u64,
    /// Pages given up by inflating, taken back by deflating.
    pub inflated_pages: u64,
    pub deflated_pages: u64,
    /// `madvise` calls the host refused (the pages stay resident).
    pub discard_failures: u64,
    /// Guest RAM resident on the host: the most seen when a report
    /// arrived, and what was left after the last one.
    pub resident_before: u64,
    pub resident_after: u64,
}

/// The device: a balloon on the virtio-mmio transport.
pub type BalloonDevice = VirtioMmio<Balloon>;

impl BalloonDevice {
    /// A balloon device with interrupt `irq`, logging to `log`.
    pub fn new(irq: Option<EventFd>, log: Box<dyn Write + Send>) -> Self {
        let config = BalloonConfig { irq: irq.as_ref().and_then(|e| e.try_clone().ok()), ..Default::default() };
        Self::with_device(Balloon { config: Arc::new(config), ..Default::default() }, irq, log)
    }
}

/// Gives the host pages behind guest range `[addr, addr + len)` back: the
/// range must be whole pages inside one region of guest RAM.
fn discard(mem: &GuestMemoryMmap, addr: GuestAddress, len: u64) -> Result<bool, ChainError> {
    let outside = || ChainError::OutsideRam { index: 0, addr: addr.0, len: len.min(u64::from(u32::MAX)) as u32 };
    if !addr.0.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) {
        return Err(outside());
    }
    let slice = mem.get_slice(addr, len as usize).map_err(|_| outside())?;
    let host = slice.ptr_guard_mut().as_ptr();
    // SAFETY: `host` and `len` are a range of the VMM's own anonymous private mapping of guest RAM (vm-memory checked it lies inside one region); MADV_DONTNEED drops its pages, which read as zeros on the next touch by the guest or the VMM. No reference into the range is held across the call.
    let rc = unsafe { libc::madvise(host.cast(), len as usize, libc::MADV_DONTNEED) };
    if rc != 0 {
        // The guest takes a reported range to read as zeros: make it so,
        // though the host keeps the pages.
        let zeros = [0u8; PAGE as usize];
        for at in (0..len as usize).step_by(PAGE as usize) {
            if let Ok(page) = slice.subslice(at, PAGE as usize) {
                page.copy_from(&zeros);
            }
        }
    }
    Ok(rc == 0)
}

impl Balloon {
    /// A report: every buffer is checked before anything is discarded.
    fn report(&mut self, mem: &GuestMemoryMmap, segments: &[Segment]) -> Result<(), ChainError> {
        for (i, s) in segments.iter().enumerate() {
            let aligned = s.addr.0.is_multiple_of(PAGE) && u64::from(s.len).is_multiple_of(PAGE) && s.len > 0;
            if !aligned || mem.get_slice(s.addr, s.len as usize).is_err() {
                return Err(ChainError::OutsideRam { index: i as u16, addr: s.addr.0, len: s.len });
            }
        }
        self.resident_before = self.resident_before.max(crate::memory::resident_bytes(mem));
        for s in segments {
            if discard(mem, s.addr, u64::from(s.len))? {
                self.reported_pages += u64::from(s.len) / PAGE;
            } else {
                self.discard_failures += 1;
            }
        }
        self.reports += 1;
        self.resident_after = crate::memory::resident_bytes(mem);
        Ok(())
    }

    /// The page frames of an inflate or deflate buffer.
    fn pfns(mem: &GuestMemoryMmap, segments: &[Segment]) -> Result<Vec<u64>, ChainError> {
        let bytes = read_segments(mem, segments)?;
        Ok(bytes.chunks_exact(4).map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect())
    }

    /// Inflating: the frames the guest gave up are discarded; frames
    /// outside guest RAM are skipped (and the chain refused once done).
    fn inflate(&mut self, mem: &GuestMemoryMmap, pfns: &[u64]) -> Result<(), ChainError> {
        let mut bad = None;
        for &pfn in pfns {
            let addr = GuestAddress(pfn * PAGE);
            match discard(mem, addr, PAGE) {
                Ok(true) => self.inflated_pages += 1,
                Ok(false) => self.discard_failures += 1,
                Err(e) => bad = bad.or(Some(e)),
            }
        }
        bad.map_or(Ok(()), Err)
    }
}

impl VirtioDevice for Balloon {
    const NAME: &'static str = "balloon device";
    const DEVICE_ID: u32 = VIRTIO_ID_BALLOON;
    const VENDOR_ID: u32 = VENDOR_ID;
    const NUM_QUEUES: usize = 3;
    const QUEUE_SIZE_MAX: u16 = QUEUE_SIZE_MAX;

    fn features(&self) -> u64 {
        VIRTIO_F_VERSION_1 | VIRTIO_BALLOON_F_REPORTING | VIRTIO_BALLOON_F_DEFLATE_ON_OOM
    }

    /// `num_pages`, `actual`, then `free_page_hint_cmd_id` and
    /// `poison_val` (features not offered: zero).
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut space = [0u8; CONFIG_LEN];
        space[0..4].copy_from_slice(&self.config.target().to_le_bytes());
        space[4..8].copy_from_slice(&self.config.actual().to_le_bytes());
        data.fill(0);
        let from = (offset as usize).min(CONFIG_LEN);
        let n = data.len().min(CONFIG_LEN - from);
        data[..n].copy_from_slice(&space[from..from + n]);
    }

    /// Only `actual` is the driver's to write, as a whole 32-bit field.
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        if let (ACTUAL_OFFSET, Ok(bytes)) = (offset, <[u8; 4]>::try_from(data)) {
            self.config.actual.store(u32::from_le_bytes(bytes), Ordering::SeqCst);
        }
    }

    fn config_generation(&self) -> u32 {
        self.config.generation.load(Ordering::SeqCst)
    }

    fn queue_name(q: usize) -> &'static str {
        match q {
            INFLATE_Q => "inflate",
            DEFLATE_Q => "deflate",
            _ => "reporting",
        }
    }

    fn process(&mut self, q: usize, t: &mut Transport, mem: &GuestMemoryMmap) {
        if !t.live(q) {
            return;
        }
        let mut returned = false;
        for _ in 0..QUEUE_SIZE_MAX {
            let popped = if q == REPORTING_Q {
                if t.driver_features() & VIRTIO_BALLOON_F_REPORTING == 0 {
                    return;
                }
                t.pop(q, mem, |chain, table, size| {
                    let segments = walk_writable_chain(chain, table, size, REPORT_MAX_BYTES)?;
                    if segments.len() > REPORT_CAPACITY {
                        return Err(ChainError::TooLong);
                    }
                    Ok(segments)
                })
            } else {
                t.pop(q, mem, |chain, table, size| {
                    walk_chain(chain, table, size, false).and_then(|s| {
                        let len: u64 = s.iter().map(|s| u64::from(s.len)).sum();
                        if len > PFN_ARRAY_MAX {
                            return Err(ChainError::TooBig { len, max: PFN_ARRAY_MAX });
                        }
                        Ok(s)
                    })
                })
            };
            let Some((head, walked)) = popped else { break };
            let served = walked.and_then(|segments| match q {
                REPORTING_Q => self.report(mem, &segments),
                INFLATE_Q => Self::pfns(mem, &segments).and_then(|pfns| self.inflate(mem, &pfns)),
                _ => Self::pfns(mem, &segments).map(|pfns| self.deflated_pages += pfns.len() as u64),
            });
            if let Err(why) = served {
                t.reject(q, head, &why);
            }
            returned |= t.put_used(q, head, 0, mem);
        }
        if returned {
            t.notify_used(q, mem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio_chain::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
    use crate::devices::TestLog as Log;
    use shared::stats::regs;
    use virtio_queue::desc::split::Descriptor;
    use virtio_queue::desc::RawDescriptor;
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::Bytes;

    const RING: u64 = 0x1000;
    const RAM: usize = 64 * PAGE as usize;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM)]).unwrap()
    }

    /// A device with its three queues at RING upwards and the driver's
    /// `features` taken.
    fn device(mem: &GuestMemoryMmap, features: u64) -> (BalloonDevice, Vec<MockSplitQueue<'_, GuestMemoryMmap>>, Log) {
        let log = Log::default();
        let mut dev = BalloonDevice::new(None, Box::new(log.clone()));
        let mut w = |reg: u64, v: u32| dev.write(reg, &v.to_le_bytes(), mem);
        use regs::*;
        w(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        w(DRIVER_FEATURES_SEL, 0);
        w(DRIVER_FEATURES, features as u32);
        w(DRIVER_FEATURES_SEL, 1);
        w(DRIVER_FEATURES, (features >> 32) as u32);
        w(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        let mut queues = Vec::new();
        for q in 0..3u32 {
            let mock = MockSplitQueue::create(mem, GuestAddress(RING + u64::from(q) * 0x1000), 8);
            w(QUEUE_SEL, q);
            w(QUEUE_NUM, 8);
            for (low, addr) in [(QUEUE_DESC_LOW, mock.desc_table_addr()), (QUEUE_DRIVER_LOW, mock.avail_addr()), (QUEUE_DEVICE_LOW, mock.used_addr())] {
                w(low, addr.0 as u32);
                w(low + 4, (addr.0 >> 32) as u32);
            }
            w(QUEUE_READY, 1);
            queues.push(mock);
        }
        w(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
        (dev, queues, log)
    }

    /// Posts one chain of `(addr, len, device_writes)` buffers.
    fn post(q: &MockSplitQueue<'_, GuestMemoryMmap>, bufs: &[(u64, u32, bool)]) {
        let descs: Vec<RawDescriptor> = bufs
            .iter()
            .enumerate()
            .map(|(i, &(addr, len, writable))| {
                let mut flags = if writable { VRING_DESC_F_WRITE } else { 0 };
                if i + 1 < bufs.len() {
                    flags |= VRING_DESC_F_NEXT;
                }
                RawDescriptor::from(Descriptor::new(addr, len, flags, (i + 1) as u16))
            })
            .collect();
        q.add_desc_chains(&descs, 0).unwrap();
    }

    /// Chains the device has returned on `q`.
    fn used(q: &MockSplitQueue<'_, GuestMemoryMmap>) -> u16 {
        q.used().idx().load()
    }

    #[test]
    fn a_report_discards_its_ranges_and_they_read_as_zeros() {
        let mem = mem();
        let (mut dev, queues, _) = device(&mem, VIRTIO_F_VERSION_1 | VIRTIO_BALLOON_F_REPORTING);
        mem.write_slice(&[0x5a; 8 * PAGE as usize], GuestAddress(32 * PAGE)).unwrap();
        post(&queues[REPORTING_Q], &[(32 * PAGE, 4 * PAGE as u32, true), (40 * PAGE, PAGE as u32, true)]);
        dev.write(regs::QUEUE_NOTIFY, &(REPORTING_Q as u32).to_le_bytes(), &mem);
        assert_eq!(used(&queues[REPORTING_Q]), 1, "the report came back");
        let mut page = [1u8; PAGE as usize];
        mem.read_slice(&mut page, GuestAddress(33 * PAGE)).unwrap();
        assert!(page.iter().all(|&b| b == 0), "a reported page reads as zeros");
        mem.read_slice(&mut page, GuestAddress(36 * PAGE)).unwrap();
        assert!(page.iter().all(|&b| b == 0x5a), "a page outside the report keeps its bytes");
        assert_eq!((dev.device.reports, dev.device.reported_pages), (1, 5));
    }

    #[test]
    fn bad_reports_discard_nothing_and_come_back() {
        let mem = mem();
        let (mut dev, queues, log) = device(&mem, VIRTIO_F_VERSION_1 | VIRTIO_BALLOON_F_REPORTING);
        mem.write_slice(&[0x77; PAGE as usize], GuestAddress(20 * PAGE)).unwrap();
        // A good range with one outside RAM, one unaligned, one readable.
        for bad in [(RAM as u64, PAGE as u32, true), (21 * PAGE + 1, PAGE as u32, true), (22 * PAGE, 100, true), (23 * PAGE, PAGE as u32, false)] {
            post(&queues[REPORTING_Q], &[(20 * PAGE, PAGE as u32, true), bad]);
            dev.write(regs::QUEUE_NOTIFY, &(REPORTING_Q as u32).to_le_bytes(), &mem);
        }
        assert_eq!(used(&queues[REPORTING_Q]), 4, "every chain came back");
        let mut page = [0u8; PAGE as usize];
        mem.read_slice(&mut page, GuestAddress(20 * PAGE)).unwrap();
        assert!(page.iter().all(|&b| b == 0x77), "nothing of a refused report was discarded");
        assert_eq!(dev.device.reports, 0);
        assert!(dev.rejected() >= 4, "{}", dev.rejected());
        assert!(!log.lines().is_empty());
    }

    #[test]
    fn no_report_without_the_feature_and_inflate_discards_frames() {
        let mem = mem();
        let (mut dev, queues, _) = device(&mem, VIRTIO_F_VERSION_1);
        post(&queues[REPORTING_Q], &[(30 * PAGE, PAGE as u32, true)]);
        dev.write(regs::QUEUE_NOTIFY, &(REPORTING_Q as u32).to_le_bytes(), &mem);
        assert_eq!(used(&queues[REPORTING_Q]), 0, "a queue the driver did not negotiate is not served");
        // Inflate frames 10 and 11 (listed at 0x9000), one frame outside RAM.
        mem.write_slice(&[0x33; 2 * PAGE as usize], GuestAddress(10 * PAGE)).unwrap();
        let pfns: Vec<u8> = [10u32, 11, 1 << 20].iter().flat_map(|p| p.to_le_bytes()).collect();
        mem.write_slice(&pfns, GuestAddress(0x9000)).unwrap();
        post(&queues[INFLATE_Q], &[(0x9000, pfns.len() as u32, false)]);
        dev.write(regs::QUEUE_NOTIFY, &(INFLATE_Q as u32).to_le_bytes(), &mem);
        assert_eq!(used(&queues[INFLATE_Q]), 1);
        let mut page = [1u8; PAGE as usize];
        mem.read_slice(&mut page, GuestAddress(11 * PAGE)).unwrap();
        assert!(page.iter().all(|&b| b == 0));
        assert_eq!(dev.device.inflated_pages, 2);
    }

    #[test]
    fn the_host_sets_the_size_and_the_driver_says_how_far_it_got() {
        use crate::devices::virtio_mmio::{CONFIG_SPACE, INTERRUPT_CONFIG_CHANGE};
        let mem = mem();
        let (mut dev, _queues, _) = device(&mem, VIRTIO_F_VERSION_1);
        let read = |dev: &mut BalloonDevice, reg: u64| {
            let mut b = [0u8; 4];
            dev.read(reg, &mut b);
            u32::from_le_bytes(b)
        };
        assert_eq!(read(&mut dev, regs::INTERRUPT_STATUS) & INTERRUPT_CONFIG_CHANGE, 0, "no change yet");
        let generation = read(&mut dev, regs::CONFIG_GENERATION);
        dev.device.config.set_target(1234);
        assert_eq!(read(&mut dev, CONFIG_SPACE), 1234, "num_pages");
        assert_ne!(read(&mut dev, regs::CONFIG_GENERATION), generation, "a new generation");
        assert_ne!(read(&mut dev, regs::INTERRUPT_STATUS) & INTERRUPT_CONFIG_CHANGE, 0, "the change is signalled");
        dev.write(regs::INTERRUPT_ACK, &INTERRUPT_CONFIG_CHANGE.to_le_bytes(), &mem);
        assert_eq!(read(&mut dev, regs::INTERRUPT_STATUS) & INTERRUPT_CONFIG_CHANGE, 0, "until acknowledged");
        dev.write(CONFIG_SPACE + ACTUAL_OFFSET, &1000u32.to_le_bytes(), &mem);
        assert_eq!((dev.device.config.actual(), read(&mut dev, CONFIG_SPACE + ACTUAL_OFFSET)), (1000, 1000), "actual is the driver's");
        dev.write(CONFIG_SPACE, &5u32.to_le_bytes(), &mem);
        dev.write(CONFIG_SPACE + ACTUAL_OFFSET, &[1, 2], &mem);
        assert_eq!((dev.device.config.target(), dev.device.config.actual()), (1234, 1000), "num_pages is the host's; actual is written whole");
        let mut tail = [0xffu8; 8];
        dev.read(CONFIG_SPACE + 12, &mut tail);
        assert_eq!(tail, [0; 8], "poison_val, then nothing past the space");
    }
}
