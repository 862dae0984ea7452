//! A small virtio-mmio transport (version 2 register layout, virtio 1.2
//! §4.2.2) and split virtqueues (§2.7), polled: the driver notifies with a
//! write to QueueNotify and finds returned buffers by reading the used
//! ring; used-buffer interrupts are suppressed (`VIRTQ_AVAIL_F_NO_INTERRUPT`).
//!
//! The ring logic ([`Virtqueue`]) works on a region of memory given by
//! pointer, so the host tests drive it with a simulated device; the register
//! block ([`Mmio`]) is plain volatile accesses to an uncached mapping that
//! the caller provides (`mm::vmalloc::ioremap` in the kernel).
//!
//! Memory ordering: x86 is TSO and MMIO mappings are uncached, so the
//! orderings the spec asks for (descriptors and ring entry before
//! `avail.idx`; `avail.idx` before the notify; `used.idx` before the used
//! entry) need only the compiler not to reorder: volatile accesses plus
//! compiler fences.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{compiler_fence, Ordering};

use shared::stats::regs;

/// Descriptor flags.
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// `avail.flags`: the driver does not want used-buffer interrupts.
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Largest queue this driver sets up (entries; a power of two).
pub const MAX_QUEUE_SIZE: u16 = 16;

/// Where the three parts of a split virtqueue of `size` entries lie in
/// one region (offsets in bytes), with the spec's alignments: descriptor
/// table 16, available ring 2, used ring 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    pub size: u16,
    pub desc: usize,
    pub avail: usize,
    pub used: usize,
    /// Bytes of the whole region.
    pub total: usize,
}

impl RingLayout {
    pub const fn new(size: u16) -> Self {
        let n = size as usize;
        let desc = 0;
        // flags, idx, ring[n], used_event
        let avail = desc + 16 * n;
        let avail_end = avail + 4 + 2 * n + 2;
        // flags, idx, ring[n] of (id u32, len u32), avail_event
        let used = (avail_end + 3) & !3;
        let total = used + 4 + 8 * n + 2;
        Self { size, desc, avail, used, total }
    }
}

/// The queue size to use when the device offers at most `max`: the
/// largest power of two not above `max` or `want` (0: the queue is
/// unusable).
pub const fn choose_queue_size(max: u32, want: u16) -> u16 {
    let limit = if max < want as u32 { max } else { want as u32 };
    if limit == 0 {
        return 0;
    }
    1 << (31 - limit.leading_zeros())
}

/// One buffer of a chain: guest-physical address, length, and whether the
/// device writes it (else it reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buf {
    pub addr: u64,
    pub len: u32,
    pub device_writes: bool,
}

/// A buffer chain the device returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// The chain's head descriptor (what [`Virtqueue::add`] returned).
    pub head: u16,
    /// What the driver attached when it added the chain.
    pub token: u32,
    /// Bytes the device wrote into the chain's device-writable buffers.
    pub len: u32,
}

/// How many times a polled chain's return is looked for before the device
/// counts as hung.
pub const POLL_LIMIT: u32 = 1 << 20;

/// Why [`Virtqueue::submit_and_wait`] did not get its chain back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// No free descriptors for the chain.
    Full,
    /// The device returned a chain it did not own.
    Used(UsedError),
    /// The device did not return it within [`POLL_LIMIT`] looks.
    NoAnswer,
}

/// A zeroed lowmem page for a driver's ring or buffers: its address, and
/// the physical address the device sees.
#[cfg(target_os = "none")]
pub fn driver_page() -> Result<(*mut u8, u64), &'static str> {
    use crate::mm::buddy::{alloc_page, page_address, page_to_pfn};
    use crate::mm::gfp::{__GFP_ZERO, GFP_KERNEL};
    let page = alloc_page(GFP_KERNEL | __GFP_ZERO).ok_or("no memory for its rings")?;
    let va = page_address(page).ok_or("ring page not in lowmem")?;
    Ok((va.as_mut_ptr::<u8>(), page_to_pfn(page).phys().as_u64()))
}

/// Sets up queue `index` of `mmio` with at most `want` entries, on a page
/// of its own, and enables it.
#[cfg(target_os = "none")]
pub fn setup_queue(mmio: &Mmio, index: u16, want: u16) -> Result<Virtqueue, &'static str> {
    let max = mmio.queue_max(index).map_err(|_| "a queue is missing or already live")?;
    let size = choose_queue_size(max, want);
    if size == 0 {
        return Err("a queue has no entries");
    }
    let (ring, phys) = driver_page()?;
    // SAFETY: a fresh zeroed page (4 KiB covers a ring of MAX_QUEUE_SIZE entries), page aligned, owned by this queue from now on.
    let queue = unsafe { Virtqueue::new(ring, phys, size) };
    mmio.enable_queue(index, &queue);
    Ok(queue)
}

/// Why a used-ring entry was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsedError {
    /// The id is out of range or names no chain the device owns.
    BadId(u32),
}

/// The driver's side of one split virtqueue.
pub struct Virtqueue {
    base: *mut u8,
    phys: u64,
    layout: RingLayout,
    /// Head of the free-descriptor list (linked through `next`).
    free_head: u16,
    num_free: u16,
    /// The driver's copy of `avail.idx` (next slot to fill).
    avail_idx: u16,
    /// The next used-ring entry to read.
    last_used: u16,
    /// Per chain head: whether the device owns it, and its token.
    in_flight: [bool; MAX_QUEUE_SIZE as usize],
    token: [u32; MAX_QUEUE_SIZE as usize],
    /// Length of each in-flight chain (descriptors to free).
    chain_len: [u16; MAX_QUEUE_SIZE as usize],
}

// SAFETY: the ring memory is owned by this queue (and the device); the raw pointer is only dereferenced through `&mut self` or `&self` methods.
unsafe impl Send for Virtqueue {}

impl Virtqueue {
    /// A queue of `size` entries (a power of two, at most
    /// [`MAX_QUEUE_SIZE`]) over `layout.total` bytes at `base`, which the
    /// device sees at guest-physical `phys`.
    ///
    /// # Safety
    /// `base` must point to at least `RingLayout::new(size).total` zeroed
    /// bytes, aligned to 16, owned by this queue (and the device once the
    /// queue is enabled) for as long as it lives.
    pub unsafe fn new(base: *mut u8, phys: u64, size: u16) -> Self {
        assert!(size.is_power_of_two() && size <= MAX_QUEUE_SIZE, "virtqueue size {size}");
        let mut q = Self {
            base,
            phys,
            layout: RingLayout::new(size),
            free_head: 0,
            num_free: size,
            avail_idx: 0,
            last_used: 0,
            in_flight: [false; MAX_QUEUE_SIZE as usize],
            token: [0; MAX_QUEUE_SIZE as usize],
            chain_len: [0; MAX_QUEUE_SIZE as usize],
        };
        for i in 0..size {
            q.write_desc(i, 0, 0, 0, if i + 1 < size { i + 1 } else { 0 });
        }
        q.write_u16(q.layout.avail, VIRTQ_AVAIL_F_NO_INTERRUPT);
        q
    }

    pub fn size(&self) -> u16 {
        self.layout.size
    }

    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Guest-physical addresses of the descriptor table, the available
    /// ring and the used ring (QueueDesc, QueueDriver, QueueDevice).
    pub fn addresses(&self) -> (u64, u64, u64) {
        (self.phys + self.layout.desc as u64, self.phys + self.layout.avail as u64, self.phys + self.layout.used as u64)
    }

    fn ptr(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.layout.total);
        self.base.wrapping_add(off)
    }

    fn write_u16(&mut self, off: usize, v: u16) {
        // SAFETY: `off` is inside the ring region (callers compute it from the layout), 2-aligned; the region is ours (see `new`).
        unsafe { write_volatile(self.ptr(off).cast::<u16>(), v) }
    }

    fn read_u16(&self, off: usize) -> u16 {
        // SAFETY: as for `write_u16`; the device may write this field, so the read is volatile.
        unsafe { read_volatile(self.ptr(off).cast::<u16>()) }
    }

    fn read_u32(&self, off: usize) -> u32 {
        // SAFETY: as for `read_u16`, 4-aligned.
        unsafe { read_volatile(self.ptr(off).cast::<u32>()) }
    }

    fn write_desc(&mut self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let off = self.layout.desc + 16 * i as usize;
        // SAFETY: descriptor `i < size` lies in the table, 16-aligned.
        unsafe {
            write_volatile(self.ptr(off).cast::<u64>(), addr);
            write_volatile(self.ptr(off + 8).cast::<u32>(), len);
            write_volatile(self.ptr(off + 12).cast::<u16>(), flags);
            write_volatile(self.ptr(off + 14).cast::<u16>(), next);
        }
    }

    fn desc_next(&self, i: u16) -> u16 {
        self.read_u16(self.layout.desc + 16 * i as usize + 14)
    }

    /// Makes a chain of `bufs` available to the device (not yet notified).
    /// Returns the head descriptor, or `None` when `bufs` is empty or the
    /// queue has too few free descriptors.
    pub fn add(&mut self, bufs: &[Buf], token: u32) -> Option<u16> {
        let n = bufs.len();
        if n == 0 || n > self.num_free as usize {
            return None;
        }
        let head = self.free_head;
        let mut i = head;
        for (k, b) in bufs.iter().enumerate() {
            let next = self.desc_next(i);
            let last = k + 1 == n;
            let flags = if b.device_writes { VIRTQ_DESC_F_WRITE } else { 0 } | if last { 0 } else { VIRTQ_DESC_F_NEXT };
            // The free list links through `next`: keep it for the chain,
            // cut it at the end.
            self.write_desc(i, b.addr, b.len, flags, if last { 0 } else { next });
            if last {
                self.free_head = next;
            }
            i = next;
        }
        self.num_free -= n as u16;
        self.in_flight[head as usize] = true;
        self.token[head as usize] = token;
        self.chain_len[head as usize] = n as u16;
        let slot = self.layout.avail + 4 + 2 * (self.avail_idx % self.layout.size) as usize;
        self.write_u16(slot, head);
        // The entry (and the descriptors) before the index (§2.7.13).
        compiler_fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.write_u16(self.layout.avail + 2, self.avail_idx);
        compiler_fence(Ordering::SeqCst);
        Some(head)
    }

    /// A planted bad chain for tests of the device's checks: two
    /// descriptors for `buf` whose `next` fields point at each other. The
    /// device must refuse it and return it used; [`pop_used`](Self::pop_used)
    /// then frees both descriptors as for any chain.
    pub fn add_looping_chain(&mut self, buf: Buf, token: u32) -> Option<u16> {
        let head = self.add(&[buf, buf], token)?;
        let second = self.desc_next(head);
        let off = self.layout.desc + 16 * second as usize;
        self.write_u16(off + 12, VIRTQ_DESC_F_NEXT | if buf.device_writes { VIRTQ_DESC_F_WRITE } else { 0 });
        self.write_u16(off + 14, head);
        Some(head)
    }

    /// Whether the device has returned chains the driver has not read.
    /// Hands `bufs` to the device as one chain, notifies queue `index` of
    /// `mmio`, and polls until the device returns it (one request at a
    /// time, as the polled drivers here make them).
    pub fn submit_and_wait(&mut self, mmio: &Mmio, index: u16, bufs: &[Buf]) -> Result<Used, SubmitError> {
        self.add(bufs, 0).ok_or(SubmitError::Full)?;
        mmio.notify(index);
        for _ in 0..POLL_LIMIT {
            if let Some(used) = self.pop_used() {
                return used.map_err(SubmitError::Used);
            }
            core::hint::spin_loop();
        }
        Err(SubmitError::NoAnswer)
    }

    pub fn has_used(&self) -> bool {
        self.read_u16(self.layout.used + 2) != self.last_used
    }

    /// Chains the device returned and the driver has not read yet (at
    /// most the queue size: a device that claims more is wrong).
    pub fn pending_used(&self) -> u16 {
        self.read_u16(self.layout.used + 2).wrapping_sub(self.last_used)
    }

    /// Takes the next returned chain, freeing its descriptors. `Err` for
    /// an entry that names no chain the device owns (the entry is
    /// skipped).
    pub fn pop_used(&mut self) -> Option<Result<Used, UsedError>> {
        if !self.has_used() {
            return None;
        }
        // The index before the entry it publishes.
        compiler_fence(Ordering::SeqCst);
        let slot = self.layout.used + 4 + 8 * (self.last_used % self.layout.size) as usize;
        let id = self.read_u32(slot);
        let len = self.read_u32(slot + 4);
        self.last_used = self.last_used.wrapping_add(1);
        if id >= self.layout.size as u32 || !self.in_flight[id as usize] {
            return Some(Err(UsedError::BadId(id)));
        }
        let head = id as u16;
        self.in_flight[head as usize] = false;
        // Give the chain back to the free list, in order, relinked.
        let n = self.chain_len[head as usize];
        let mut tail = head;
        for _ in 1..n {
            tail = self.desc_next(tail);
        }
        let off = self.layout.desc + 16 * tail as usize + 14;
        self.write_u16(off, self.free_head);
        self.free_head = head;
        self.num_free += n;
        Some(Ok(Used { head, token: self.token[head as usize], len }))
    }

    /// The used ring's `idx` field (for a cheap check elsewhere: it differs
    /// from [`last_used`](Self::last_used) when chains came back).
    pub fn used_idx_ptr(&self) -> *const u16 {
        self.ptr(self.layout.used + 2).cast::<u16>()
    }

    /// The used index the driver has read up to.
    pub fn last_used(&self) -> u16 {
        self.last_used
    }

    /// Whether the chain with head `head` is still the device's.
    pub fn is_in_flight(&self, head: u16) -> bool {
        self.in_flight.get(head as usize).copied().unwrap_or(false)
    }
}

/// The register block of a virtio-mmio device, mapped uncached.
pub struct Mmio {
    base: *mut u8,
}

// SAFETY: the mapping is device memory owned by the one driver holding this.
unsafe impl Send for Mmio {}

/// Why a device was not set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    BadMagic(u32),
    Version(u32),
    /// A different device (or none: id 0 is a placeholder).
    DeviceId(u32),
    VendorId(u32),
    /// The device does not offer VIRTIO_F_VERSION_1.
    NoVersion1,
    /// FEATURES_OK did not stick.
    FeaturesRejected,
    /// The queue is missing (QueueNumMax 0) or already live.
    Queue(u16),
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "bad magic {m:#x}"),
            Self::Version(v) => write!(f, "virtio-mmio version {v}, need 2"),
            Self::DeviceId(d) => write!(f, "device id {d:#x}"),
            Self::VendorId(v) => write!(f, "vendor id {v:#x}"),
            Self::NoVersion1 => write!(f, "VIRTIO_F_VERSION_1 not offered"),
            Self::FeaturesRejected => write!(f, "FEATURES_OK not accepted"),
            Self::Queue(q) => write!(f, "queue {q} not available"),
        }
    }
}

impl Mmio {
    /// # Safety
    /// `base` must be an uncached mapping of a virtio-mmio register block
    /// (0x100 bytes at least) that lives as long as this value.
    pub unsafe fn new(base: *mut u8) -> Self {
        Self { base }
    }

    pub fn read(&self, reg: u64) -> u32 {
        // SAFETY: `reg` is a register offset inside the block (see `new`); a device register read is a volatile 32-bit access.
        unsafe { read_volatile(self.base.wrapping_add(reg as usize).cast::<u32>()) }
    }

    pub fn write(&self, reg: u64, value: u32) {
        // SAFETY: as for `read`.
        unsafe { write_volatile(self.base.wrapping_add(reg as usize).cast::<u32>(), value) }
    }

    /// Checks the identity registers, resets the device and negotiates
    /// features (VERSION_1 only), up to FEATURES_OK (§3.1.1 steps 1-6).
    pub fn probe(&self, device_id: u32, vendor_id: u32) -> Result<(), ProbeError> {
        self.probe_with_features(device_id, vendor_id, 0).map(|_| ())
    }

    /// [`probe`](Self::probe), taking also those of the device-specific
    /// feature bits 0..32 in `wanted` that the device offers; returns them.
    pub fn probe_with_features(&self, device_id: u32, vendor_id: u32, wanted: u32) -> Result<u32, ProbeError> {
        let magic = self.read(regs::MAGIC_VALUE);
        if magic != regs::MAGIC {
            return Err(ProbeError::BadMagic(magic));
        }
        let version = self.read(regs::VERSION);
        if version != 2 {
            return Err(ProbeError::Version(version));
        }
        let id = self.read(regs::DEVICE_ID);
        if id != device_id {
            return Err(ProbeError::DeviceId(id));
        }
        let vendor = self.read(regs::VENDOR_ID);
        if vendor != vendor_id {
            return Err(ProbeError::VendorId(vendor));
        }
        self.write(regs::STATUS, 0);
        // Reset completes when the status reads 0 again (bounded).
        for _ in 0..1000 {
            if self.read(regs::STATUS) == 0 {
                break;
            }
        }
        self.write(regs::STATUS, regs::STATUS_ACKNOWLEDGE);
        self.write(regs::STATUS, regs::STATUS_ACKNOWLEDGE | regs::STATUS_DRIVER);
        self.write(regs::DEVICE_FEATURES_SEL, 1);
        let high = self.read(regs::DEVICE_FEATURES);
        if high & regs::FEATURE_VERSION_1_WORD1 == 0 {
            self.fail();
            return Err(ProbeError::NoVersion1);
        }
        self.write(regs::DEVICE_FEATURES_SEL, 0);
        let taken = self.read(regs::DEVICE_FEATURES) & wanted;
        self.write(regs::DRIVER_FEATURES_SEL, 0);
        self.write(regs::DRIVER_FEATURES, taken);
        self.write(regs::DRIVER_FEATURES_SEL, 1);
        self.write(regs::DRIVER_FEATURES, regs::FEATURE_VERSION_1_WORD1);
        let s = regs::STATUS_ACKNOWLEDGE | regs::STATUS_DRIVER | regs::STATUS_FEATURES_OK;
        self.write(regs::STATUS, s);
        if self.read(regs::STATUS) & regs::STATUS_FEATURES_OK == 0 {
            self.fail();
            return Err(ProbeError::FeaturesRejected);
        }
        Ok(taken)
    }

    /// The largest size the device offers for queue `index` (0: none), or
    /// `Err` when the queue is already live.
    pub fn queue_max(&self, index: u16) -> Result<u32, ProbeError> {
        self.write(regs::QUEUE_SEL, index as u32);
        if self.read(regs::QUEUE_READY) != 0 {
            return Err(ProbeError::Queue(index));
        }
        Ok(self.read(regs::QUEUE_NUM_MAX))
    }

    /// Tells the device where queue `index` lives and enables it.
    pub fn enable_queue(&self, index: u16, q: &Virtqueue) {
        let (desc, driver, device) = q.addresses();
        self.write(regs::QUEUE_SEL, index as u32);
        self.write(regs::QUEUE_NUM, q.size() as u32);
        self.write(regs::QUEUE_DESC_LOW, desc as u32);
        self.write(regs::QUEUE_DESC_HIGH, (desc >> 32) as u32);
        self.write(regs::QUEUE_DRIVER_LOW, driver as u32);
        self.write(regs::QUEUE_DRIVER_HIGH, (driver >> 32) as u32);
        self.write(regs::QUEUE_DEVICE_LOW, device as u32);
        self.write(regs::QUEUE_DEVICE_HIGH, (device >> 32) as u32);
        compiler_fence(Ordering::SeqCst);
        self.write(regs::QUEUE_READY, 1);
    }

    /// DRIVER_OK: the device is live.
    pub fn driver_ok(&self) {
        let s = regs::STATUS_ACKNOWLEDGE | regs::STATUS_DRIVER | regs::STATUS_FEATURES_OK | regs::STATUS_DRIVER_OK;
        self.write(regs::STATUS, s);
    }

    /// Gives up on the device (FAILED).
    pub fn fail(&self) {
        let s = self.read(regs::STATUS);
        self.write(regs::STATUS, s | regs::STATUS_FAILED);
    }

    /// Tells the device that queue `index` has new available buffers.
    pub fn notify(&self, index: u16) {
        // Everything the device will read is written before the doorbell.
        compiler_fence(Ordering::SeqCst);
        self.write(regs::QUEUE_NOTIFY, index as u32);
        compiler_fence(Ordering::SeqCst);
    }

    /// Reads and acknowledges the interrupt status.
    pub fn ack_interrupt(&self) -> u32 {
        let s = self.read(regs::INTERRUPT_STATUS);
        if s != 0 {
            self.write(regs::INTERRUPT_ACK, s);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4 KiB of zeroed, 16-aligned ring memory.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    fn page() -> Box<Page> {
        Box::new(Page([0; 4096]))
    }

    /// Chains the fake device took: (head, [(addr, len, device writes)]).
    type Chains = Vec<(u16, Vec<(u64, u32, bool)>)>;

    /// The device's side, reading and writing the same memory by offset.
    struct FakeDevice<'a> {
        mem: *mut u8,
        layout: RingLayout,
        last_avail: u16,
        used_idx: u16,
        _p: core::marker::PhantomData<&'a mut Page>,
    }

    impl FakeDevice<'_> {
        fn rd16(&self, off: usize) -> u16 {
            // SAFETY: test memory, in bounds.
            unsafe { read_volatile(self.mem.add(off).cast::<u16>()) }
        }
        fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
            let off = self.layout.desc + 16 * i as usize;
            // SAFETY: test memory, in bounds.
            unsafe {
                (
                    read_volatile(self.mem.add(off).cast::<u64>()),
                    read_volatile(self.mem.add(off + 8).cast::<u32>()),
                    read_volatile(self.mem.add(off + 12).cast::<u16>()),
                    read_volatile(self.mem.add(off + 14).cast::<u16>()),
                )
            }
        }
        /// Takes every available chain: (head, its buffers).
        fn take_avail(&mut self) -> Chains {
            let mut out = Vec::new();
            let idx = self.rd16(self.layout.avail + 2);
            while self.last_avail != idx {
                let head = self.rd16(self.layout.avail + 4 + 2 * (self.last_avail % self.layout.size) as usize);
                self.last_avail = self.last_avail.wrapping_add(1);
                let mut bufs = Vec::new();
                let mut i = head;
                loop {
                    let (addr, len, flags, next) = self.desc(i);
                    bufs.push((addr, len, flags & VIRTQ_DESC_F_WRITE != 0));
                    assert!(bufs.len() <= self.layout.size as usize, "descriptor loop");
                    if flags & VIRTQ_DESC_F_NEXT == 0 {
                        break;
                    }
                    i = next;
                }
                out.push((head, bufs));
            }
            out
        }
        fn put_used(&mut self, id: u32, len: u32) {
            let off = self.layout.used + 4 + 8 * (self.used_idx % self.layout.size) as usize;
            // SAFETY: test memory, in bounds.
            unsafe {
                write_volatile(self.mem.add(off).cast::<u32>(), id);
                write_volatile(self.mem.add(off + 4).cast::<u32>(), len);
                self.used_idx = self.used_idx.wrapping_add(1);
                write_volatile(self.mem.add(self.layout.used + 2).cast::<u16>(), self.used_idx);
            }
        }
    }

    fn setup(p: &mut Page, size: u16) -> (Virtqueue, FakeDevice<'_>) {
        let mem = p.0.as_mut_ptr();
        // SAFETY: a zeroed, aligned page that outlives both.
        let q = unsafe { Virtqueue::new(mem, 0x10_0000, size) };
        let dev = FakeDevice { mem, layout: RingLayout::new(size), last_avail: 0, used_idx: 0, _p: core::marker::PhantomData };
        (q, dev)
    }

    #[test]
    fn layout_follows_the_spec() {
        let l = RingLayout::new(16);
        assert_eq!((l.desc, l.avail, l.used), (0, 256, 296));
        assert_eq!(l.total, 296 + 4 + 128 + 2);
        let l = RingLayout::new(1);
        assert_eq!((l.avail, l.used % 4, l.total), (16, 0, 24 + 4 + 8 + 2));
        assert!(RingLayout::new(MAX_QUEUE_SIZE).total <= 4096);
        assert_eq!(choose_queue_size(64, 16), 16);
        assert_eq!(choose_queue_size(12, 16), 8);
        assert_eq!(choose_queue_size(1, 16), 1);
        assert_eq!(choose_queue_size(0, 16), 0);
        assert_eq!(choose_queue_size(u32::MAX, 8), 8);
    }

    #[test]
    fn chains_go_out_and_come_back_through_wrapping_indices() {
        let mut p = page();
        let (mut q, mut dev) = setup(&mut p, 4);
        let (d, a, u) = q.addresses();
        assert_eq!((d, a, u), (0x10_0000, 0x10_0000 + 64, 0x10_0000 + RingLayout::new(4).used as u64));
        assert_eq!(dev.rd16(dev.layout.avail), VIRTQ_AVAIL_F_NO_INTERRUPT);
        // 70k round trips of one and two-buffer chains: both 16-bit
        // indices wrap, descriptors are reused, nothing leaks.
        for round in 0..70_000u32 {
            let two = round % 3 == 0;
            let bufs = [Buf { addr: 0x1000 * round as u64, len: round, device_writes: false }, Buf { addr: 0x42, len: 7, device_writes: true }];
            let n = if two { 2 } else { 1 };
            q.add(&bufs[..n], round).expect("room");
            assert_eq!(q.num_free(), 4 - n as u16);
            assert!(!q.has_used());
            let got = dev.take_avail();
            assert_eq!(got.len(), 1);
            let (head, chain) = &got[0];
            assert_eq!(chain.len(), n);
            assert_eq!(chain[0], (0x1000 * round as u64, round, false));
            if two {
                assert_eq!(chain[1], (0x42, 7, true));
            }
            assert!(q.is_in_flight(*head));
            dev.put_used(*head as u32, 5);
            assert_eq!(q.pending_used(), 1);
            assert_eq!(q.pop_used(), Some(Ok(Used { head: *head, token: round, len: 5 })));
            assert_eq!(q.pop_used(), None);
            assert_eq!(q.num_free(), 4);
        }
    }

    #[test]
    fn a_full_queue_refuses_and_out_of_order_returns_work() {
        let mut p = page();
        let (mut q, mut dev) = setup(&mut p, 4);
        let b = |t: u32| [Buf { addr: t as u64, len: 1, device_writes: true }];
        for t in 0..4 {
            assert!(q.add(&b(t), t).is_some());
        }
        assert_eq!(q.add(&b(9), 9), None);
        assert_eq!(q.add(&[], 9), None);
        let chains = dev.take_avail();
        assert_eq!(chains.len(), 4);
        // Return them backwards; tokens come back with them.
        for (head, chain) in chains.iter().rev() {
            dev.put_used(*head as u32, chain[0].0 as u32 * 10);
        }
        let mut tokens = Vec::new();
        while let Some(u) = q.pop_used() {
            let u = u.unwrap();
            assert_eq!(u.len, u.token * 10);
            tokens.push(u.token);
        }
        assert_eq!(tokens, [3, 2, 1, 0]);
        assert_eq!(q.num_free(), 4);
        // A three-buffer chain fits again, a five-buffer one never does.
        let three = [b(1)[0], b(2)[0], b(3)[0]];
        assert!(q.add(&three, 7).is_some());
        assert_eq!(q.add(&[b(1)[0]; 5], 8), None);
    }

    #[test]
    fn a_planted_looping_chain_loops_and_comes_back_whole() {
        let mut p = page();
        let (mut q, dev) = setup(&mut p, 4);
        let buf = Buf { addr: 0x5000, len: 8, device_writes: false };
        let head = q.add_looping_chain(buf, 5).unwrap();
        let (_, _, f1, n1) = dev.desc(head);
        let (_, _, f2, n2) = dev.desc(n1);
        assert_eq!((f1 & VIRTQ_DESC_F_NEXT, f2 & VIRTQ_DESC_F_NEXT, n2), (VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_NEXT, head));
        assert_eq!(q.num_free(), 2);
        let mut dev = dev;
        dev.put_used(head as u32, 0);
        assert_eq!(q.pop_used(), Some(Ok(Used { head, token: 5, len: 0 })));
        assert_eq!(q.num_free(), 4);
        // All four descriptors are usable again.
        let bufs = [buf; 4];
        assert!(q.add(&bufs, 6).is_some());
    }

    #[test]
    fn bogus_used_entries_are_rejected_not_trusted() {
        let mut p = page();
        let (mut q, mut dev) = setup(&mut p, 2);
        let head = q.add(&[Buf { addr: 1, len: 1, device_writes: false }], 1).unwrap();
        dev.take_avail();
        dev.put_used(7, 0); // out of range
        dev.put_used(head as u32 ^ 1, 0); // not in flight
        assert_eq!(q.pop_used(), Some(Err(UsedError::BadId(7))));
        assert_eq!(q.pop_used(), Some(Err(UsedError::BadId(head as u32 ^ 1))));
        dev.put_used(head as u32, 0);
        dev.put_used(head as u32, 0); // returned twice
        assert_eq!(q.pop_used(), Some(Ok(Used { head, token: 1, len: 0 })));
        assert_eq!(q.pop_used(), Some(Err(UsedError::BadId(head as u32))));
        assert_eq!(q.pop_used(), None);
        assert_eq!(q.num_free(), 2);
    }
}
