//! The virtio-mmio transport (virtio 1.2, section 4.2: the version 2
//! register layout) under every virtio device of the VMM: device
//! identification, feature negotiation, the device status, queue setup and
//! notification, the interrupt status and its irqfd. A device supplies only
//! what is its own ([`VirtioDevice`]): its id, features, queues, the
//! configuration space, and what a notified queue does.
//!
//! Everything the driver writes is guest-controlled, so the transport
//! checks it: registers take aligned 4-byte accesses, queues must have a
//! power-of-two size within the maximum and aligned rings inside guest
//! RAM before they become ready, features beyond the device's refuse
//! `FEATURES_OK`, an available index that jumps stops the queue until
//! reset (`DEVICE_NEEDS_RESET`). Each kind of mistake is reported on the
//! VMM's stderr once and counted; the device never panics. Chains are
//! walked by [`super::virtio_chain`]; a bad one is returned used with
//! length 0 ([`Transport::reject`]).

use std::collections::HashSet;
use std::io::Write;

use shared::stats::regs;
use virtio_queue::{DescriptorChain, Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::EventFd;

use super::virtio_chain::{ChainError, VRING_AVAIL_F_NO_INTERRUPT};

/// `VIRTIO_F_VERSION_1`, which every device offers and every driver must
/// take (no legacy interface here).
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

/// `InterruptStatus` bit: a used buffer was returned.
pub const INTERRUPT_USED_BUFFER: u32 = 1;
/// Interrupt status bit: the device's configuration changed.
pub const INTERRUPT_CONFIG_CHANGE: u32 = 2;

/// Device status bit: the device hit an error it cannot recover from
/// without a reset (virtio 1.2, 2.1).
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 64;

/// Registers end here; the device configuration space follows.
pub const CONFIG_SPACE: u64 = 0x100;

/// What a device adds to the transport.
pub trait VirtioDevice {
    /// How the VMM's reports name it ("stats device").
    const NAME: &'static str;
    const DEVICE_ID: u32;
    const VENDOR_ID: u32;
    /// Its queues, and the largest size each may have (a power of two).
    const NUM_QUEUES: usize;
    const QUEUE_SIZE_MAX: u16;
    /// The features offered, [`VIRTIO_F_VERSION_1`] included.
    fn features(&self) -> u64;
    /// How reports name queue `q`.
    fn queue_name(q: usize) -> &'static str;
    /// The configuration space's bytes from `offset` (from its start);
    /// zeros past its end.
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let _ = offset;
        data.fill(0);
    }
    /// A driver write into the configuration space (`offset` from its
    /// start); read-only spaces ignore it.
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        let _ = (offset, data);
    }
    /// Bumped by the device whenever its configuration changes on the
    /// host's side: the driver sees it in `ConfigGeneration` and as the
    /// configuration-change bit of `InterruptStatus` until it acknowledges.
    fn config_generation(&self) -> u32 {
        0
    }
    /// Serves queue `q` (the driver notified it, became ready, or the VMM
    /// polls): takes what is available, returns it used.
    fn process(&mut self, q: usize, t: &mut Transport, mem: &GuestMemoryMmap);
    /// The driver reset the device.
    fn reset(&mut self) {}
}

/// The guest-physical addresses a driver wrote for one queue.
#[derive(Clone, Copy, Debug, Default)]
struct QueueAddrs {
    desc: u64,
    driver: u64,
    device: u64,
    /// `QueueNum` as written (0: not written, the maximum applies).
    num: u32,
}

/// The transport's state: registers, queues, the interrupt, the reports.
pub struct Transport {
    name: &'static str,
    queue_names: fn(usize) -> &'static str,
    queue_size_max: u16,
    queues: Vec<Queue>,
    addrs: Vec<QueueAddrs>,
    /// A queue the driver broke (its available index jumped): not used
    /// again until the device is reset.
    broken: Vec<bool>,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    status: u32,
    interrupt_status: u32,
    config_generation: u32,
    /// The device's configuration generation the driver last acknowledged.
    config_acked: u32,
    irq: Option<EventFd>,
    /// The VMM's stderr.
    log: Box<dyn Write + Send>,
    logged: HashSet<(Option<u16>, &'static str)>,
    rejected: u64,
    driver_errors: u64,
}

impl Transport {
    fn new<D: VirtioDevice>(irq: Option<EventFd>, log: Box<dyn Write + Send>) -> Self {
        let queue = || Queue::new(D::QUEUE_SIZE_MAX).expect("QUEUE_SIZE_MAX is a power of two no larger than 32768");
        Self {
            name: D::NAME,
            queue_names: D::queue_name,
            queue_size_max: D::QUEUE_SIZE_MAX,
            queues: (0..D::NUM_QUEUES).map(|_| queue()).collect(),
            addrs: vec![QueueAddrs::default(); D::NUM_QUEUES],
            broken: vec![false; D::NUM_QUEUES],
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            status: 0,
            interrupt_status: 0,
            config_generation: 0,
            config_acked: 0,
            irq,
            log,
            logged: HashSet::new(),
            rejected: 0,
            driver_errors: 0,
        }
    }

    /// The features the driver took.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// Whether queue `q` may be used now.
    pub fn live(&self, q: usize) -> bool {
        self.status & regs::STATUS_DRIVER_OK != 0 && self.queues.get(q).is_some_and(|queue| queue.ready()) && !self.broken[q]
    }

    /// The next chain the driver made available on queue `q`, walked by
    /// `walk` (which checks it): its head and the result. `None` when
    /// nothing is available, or the queue cannot be read (then it is
    /// marked broken).
    pub fn pop<T>(
        &mut self,
        q: usize,
        mem: &GuestMemoryMmap,
        walk: impl FnOnce(DescriptorChain<&GuestMemoryMmap>, GuestAddress, u16) -> Result<T, ChainError>,
    ) -> Option<(u16, Result<T, ChainError>)> {
        let queue = &mut self.queues[q];
        let table = GuestAddress(queue.desc_table());
        let size = queue.size();
        let next_avail = queue.next_avail();
        let avail = queue.avail_idx(mem, std::sync::atomic::Ordering::Acquire).map(|w| w.0).unwrap_or(0);
        let popped = queue.iter(mem).map(|mut iter| iter.next());
        let chain = match popped {
            Ok(chain) => chain,
            Err(e) => {
                self.broken[q] = true;
                self.status |= STATUS_DEVICE_NEEDS_RESET;
                self.driver_error(
                    Some(q as u16),
                    "avail-index",
                    format_args!(
                        "available ring unusable ({e}: index {avail}, device at {next_avail}, queue of {size}); the queue is stopped until the device is reset"
                    ),
                );
                return None;
            }
        }?;
        let head = chain.head_index();
        Some((head, walk(chain, table, size)))
    }

    /// Returns chain `head` on queue `q` with `len` bytes written.
    pub fn put_used(&mut self, q: usize, head: u16, len: u32, mem: &GuestMemoryMmap) -> bool {
        if head >= self.queues[q].size() {
            return false; // no such descriptor to return; already reported
        }
        match self.queues[q].add_used(mem, head, len) {
            Ok(()) => true,
            Err(e) => {
                self.driver_error(Some(q as u16), "used-ring", format_args!("cannot return chain {head} on the used ring: {e}"));
                false
            }
        }
    }

    /// Raises the used-buffer interrupt unless the driver asked not to.
    pub fn notify_used(&mut self, q: usize, mem: &GuestMemoryMmap) {
        // The available ring's flags (virtio-queue leaves this to us when
        // VIRTIO_F_EVENT_IDX is off).
        let flags: u16 = mem.read_obj(GuestAddress(self.queues[q].avail_ring())).unwrap_or(0);
        if flags & VRING_AVAIL_F_NO_INTERRUPT != 0 {
            return;
        }
        self.interrupt_status |= INTERRUPT_USED_BUFFER;
        if let Some(irq) = &self.irq {
            // A lost interrupt only delays a driver that waits for it; it
            // polls the used ring as well.
            let _ = irq.write(1);
        }
    }

    /// Counts a bad chain on queue `q` and reports its kind once.
    pub fn reject(&mut self, q: usize, head: u16, why: &ChainError) {
        self.rejected += 1;
        if self.logged.insert((Some(q as u16), why.kind())) {
            let line = format!(
                "vmm: {}: {} queue: bad descriptor chain (head {head}): {why}; returned unused (later chains refused for this reason are only counted)\n",
                self.name,
                (self.queue_names)(q)
            );
            let _ = self.log.write_all(line.as_bytes());
        }
    }

    /// Counts a driver mistake that is not about one chain and reports
    /// its kind once.
    pub fn driver_error(&mut self, q: Option<u16>, kind: &'static str, what: std::fmt::Arguments) {
        self.driver_errors += 1;
        if self.logged.insert((q, kind)) {
            let place = q.map(|q| format!("{} queue: ", (self.queue_names)(q as usize))).unwrap_or_default();
            let line = format!("vmm: {}: {place}{what} (reported once)\n", self.name);
            let _ = self.log.write_all(line.as_bytes());
        }
    }

    /// Writes a line of the device's own to the VMM's stderr (once per
    /// `kind`).
    pub fn report_once(&mut self, kind: &'static str, what: std::fmt::Arguments) {
        if self.logged.insert((None, kind)) {
            let line = format!("vmm: {}: {what}\n", self.name);
            let _ = self.log.write_all(line.as_bytes());
        }
    }

    /// Forgets which kinds were reported, so that they are reported again
    /// (tests that look at each report).
    #[cfg(test)]
    pub fn forget_reports(&mut self) {
        self.logged.clear();
    }

    fn selected(&self) -> Option<usize> {
        let q = self.queue_sel as usize;
        (q < self.queues.len()).then_some(q)
    }

    fn set_queue_field(&mut self, f: impl FnOnce(&mut QueueAddrs)) {
        let Some(q) = self.selected() else {
            let sel = self.queue_sel;
            self.driver_error(None, "queue-sel", format_args!("queue register written with QueueSel {sel}, which does not exist (ignored)"));
            return;
        };
        if self.queues[q].ready() {
            self.driver_error(Some(q as u16), "ready-change", format_args!("queue size or address written while the queue is ready (ignored)"));
            return;
        }
        f(&mut self.addrs[q]);
    }

    /// `QueueReady` written; true when queue `q` just became ready.
    fn set_queue_ready(&mut self, ready: bool, mem: &GuestMemoryMmap) -> Option<usize> {
        let Some(q) = self.selected() else {
            let sel = self.queue_sel;
            self.driver_error(None, "queue-sel", format_args!("QueueReady written with QueueSel {sel}, which does not exist (ignored)"));
            return None;
        };
        if !ready {
            self.queues[q].set_ready(false);
            return None;
        }
        if self.queues[q].ready() {
            return None;
        }
        let a = self.addrs[q];
        let max = self.queue_size_max;
        let queue = &mut self.queues[q];
        let num = if a.num == 0 { max as u32 } else { a.num };
        let why = if num > max as u32 || queue.try_set_size(num as u16).is_err() {
            Some(format!("QueueNum {num} is not a power of two from 1 to {max}"))
        } else if queue.try_set_desc_table_address(GuestAddress(a.desc)).is_err() {
            Some(format!("descriptor table at {:#x} is not 16-byte aligned", a.desc))
        } else if queue.try_set_avail_ring_address(GuestAddress(a.driver)).is_err() {
            Some(format!("available ring at {:#x} is not 2-byte aligned", a.driver))
        } else if queue.try_set_used_ring_address(GuestAddress(a.device)).is_err() {
            Some(format!("used ring at {:#x} is not 4-byte aligned", a.device))
        } else {
            queue.set_ready(true);
            if queue.is_valid(mem) {
                None
            } else {
                queue.set_ready(false);
                Some(format!(
                    "its rings (descriptors {:#x}, available {:#x}, used {:#x}, {num} entries) are not all inside guest RAM",
                    a.desc, a.driver, a.device
                ))
            }
        };
        if let Some(why) = why {
            self.driver_error(Some(q as u16), "bad-queue", format_args!("{why}; the queue stays not ready"));
            return None;
        }
        // A fresh start on this queue.
        self.queues[q].set_next_avail(0);
        self.queues[q].set_next_used(0);
        self.broken[q] = false;
        Some(q)
    }

    fn reset(&mut self) {
        for q in &mut self.queues {
            q.reset();
        }
        self.addrs.iter_mut().for_each(|a| *a = QueueAddrs::default());
        self.broken.iter_mut().for_each(|b| *b = false);
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.status = 0;
        self.interrupt_status = 0;
    }
}

/// A virtio device on the MMIO transport.
pub struct VirtioMmio<D: VirtioDevice> {
    pub transport: Transport,
    pub device: D,
}

impl<D: VirtioDevice> VirtioMmio<D> {
    /// `device` in its reset state; `irq` is signalled for used-buffer
    /// interrupts, `log` gets the one-line reports of guest mistakes.
    pub fn with_device(device: D, irq: Option<EventFd>, log: Box<dyn Write + Send>) -> Self {
        Self { transport: Transport::new::<D>(irq, log), device }
    }

    /// Bad chains returned so far.
    pub fn rejected(&self) -> u64 {
        self.transport.rejected
    }

    /// Other driver mistakes (register misuse, broken rings).
    pub fn driver_errors(&self) -> u64 {
        self.transport.driver_errors
    }

    /// The device status register.
    pub fn status(&self) -> u32 {
        self.transport.status
    }

    /// Serves every queue without a notification (at shutdown, so that
    /// nothing posted is lost, and when the driver becomes ready).
    pub fn poll(&mut self, mem: &GuestMemoryMmap) {
        for q in 0..D::NUM_QUEUES {
            self.device.process(q, &mut self.transport, mem);
        }
    }

    /// A guest read of `data.len()` bytes at `offset` in the register window.
    pub fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if offset >= CONFIG_SPACE {
            self.device.read_config(offset - CONFIG_SPACE, data);
            return;
        }
        if data.len() != 4 || !offset.is_multiple_of(4) {
            self.transport.driver_error(
                None,
                "access-size",
                format_args!("{}-byte read at register offset {offset:#x}; registers take aligned 4-byte accesses (read as 0)", data.len()),
            );
            return;
        }
        let t = &self.transport;
        let q = t.selected();
        let features = self.device.features();
        let value: u32 = match offset {
            regs::MAGIC_VALUE => regs::MAGIC,
            regs::VERSION => 2,
            regs::DEVICE_ID => D::DEVICE_ID,
            regs::VENDOR_ID => D::VENDOR_ID,
            regs::DEVICE_FEATURES => match t.device_features_sel {
                0 => features as u32,
                1 => (features >> 32) as u32,
                _ => 0,
            },
            regs::QUEUE_NUM_MAX => q.map_or(0, |_| t.queue_size_max as u32),
            regs::QUEUE_NUM => q.map_or(0, |q| t.queues[q].size() as u32),
            regs::QUEUE_READY => q.map_or(0, |q| t.queues[q].ready() as u32),
            regs::INTERRUPT_STATUS => {
                let changed = self.device.config_generation() != t.config_acked;
                t.interrupt_status | if changed { INTERRUPT_CONFIG_CHANGE } else { 0 }
            }
            regs::STATUS => t.status,
            regs::CONFIG_GENERATION => t.config_generation.wrapping_add(self.device.config_generation()),
            regs::QUEUE_DESC_LOW => q.map_or(0, |q| t.addrs[q].desc as u32),
            regs::QUEUE_DESC_HIGH => q.map_or(0, |q| (t.addrs[q].desc >> 32) as u32),
            regs::QUEUE_DRIVER_LOW => q.map_or(0, |q| t.addrs[q].driver as u32),
            regs::QUEUE_DRIVER_HIGH => q.map_or(0, |q| (t.addrs[q].driver >> 32) as u32),
            regs::QUEUE_DEVICE_LOW => q.map_or(0, |q| t.addrs[q].device as u32),
            regs::QUEUE_DEVICE_HIGH => q.map_or(0, |q| (t.addrs[q].device >> 32) as u32),
            _ => 0,
        };
        data.copy_from_slice(&value.to_le_bytes());
    }

    /// A guest write of `data` at `offset` in the register window.
    pub fn write(&mut self, offset: u64, data: &[u8], mem: &GuestMemoryMmap) {
        if offset >= CONFIG_SPACE {
            self.device.write_config(offset - CONFIG_SPACE, data);
            return;
        }
        let t = &mut self.transport;
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            t.driver_error(
                None,
                "access-size",
                format_args!("{}-byte write at register offset {offset:#x}; registers take aligned 4-byte accesses (ignored)", data.len()),
            );
            return;
        };
        if !offset.is_multiple_of(4) {
            t.driver_error(None, "access-size", format_args!("misaligned write at register offset {offset:#x} (ignored)"));
            return;
        }
        let value = u32::from_le_bytes(bytes);
        match offset {
            regs::DEVICE_FEATURES_SEL => t.device_features_sel = value,
            regs::DRIVER_FEATURES_SEL => t.driver_features_sel = value,
            regs::DRIVER_FEATURES => match t.driver_features_sel {
                0 => t.driver_features = (t.driver_features & !0xffff_ffff) | value as u64,
                1 => t.driver_features = (t.driver_features & 0xffff_ffff) | ((value as u64) << 32),
                _ => {}
            },
            regs::QUEUE_SEL => t.queue_sel = value,
            regs::QUEUE_NUM => t.set_queue_field(|a| a.num = value),
            regs::QUEUE_DESC_LOW => t.set_queue_field(|a| a.desc = (a.desc & !0xffff_ffff) | value as u64),
            regs::QUEUE_DESC_HIGH => t.set_queue_field(|a| a.desc = (a.desc & 0xffff_ffff) | ((value as u64) << 32)),
            regs::QUEUE_DRIVER_LOW => t.set_queue_field(|a| a.driver = (a.driver & !0xffff_ffff) | value as u64),
            regs::QUEUE_DRIVER_HIGH => t.set_queue_field(|a| a.driver = (a.driver & 0xffff_ffff) | ((value as u64) << 32)),
            regs::QUEUE_DEVICE_LOW => t.set_queue_field(|a| a.device = (a.device & !0xffff_ffff) | value as u64),
            regs::QUEUE_DEVICE_HIGH => t.set_queue_field(|a| a.device = (a.device & 0xffff_ffff) | ((value as u64) << 32)),
            regs::QUEUE_READY => {
                t.set_queue_ready(value == 1, mem);
            }
            regs::QUEUE_NOTIFY => match usize::try_from(value).ok().filter(|&q| q < D::NUM_QUEUES) {
                Some(q) => self.device.process(q, &mut self.transport, mem),
                None => t.driver_error(None, "notify", format_args!("QueueNotify for queue {value}, which does not exist")),
            },
            regs::INTERRUPT_ACK => {
                t.interrupt_status &= !value;
                if value & INTERRUPT_CONFIG_CHANGE != 0 {
                    t.config_acked = self.device.config_generation();
                }
            }
            regs::STATUS => self.set_status(value, mem),
            _ => t.driver_error(None, "read-only", format_args!("write of {value:#x} to read-only or unknown register {offset:#x} (ignored)")),
        }
    }

    fn set_status(&mut self, value: u32, mem: &GuestMemoryMmap) {
        if value == 0 {
            self.transport.reset();
            self.device.reset();
            // A driver starting over reads the configuration afresh.
            self.transport.config_acked = self.device.config_generation();
            return;
        }
        let offered = self.device.features();
        let t = &mut self.transport;
        let mut value = value;
        let features_ok = value & regs::STATUS_FEATURES_OK != 0 && t.status & regs::STATUS_FEATURES_OK == 0;
        if features_ok {
            let unknown = t.driver_features & !offered;
            if unknown != 0 || t.driver_features & VIRTIO_F_VERSION_1 == 0 {
                let f = t.driver_features;
                t.driver_error(
                    None,
                    "features",
                    format_args!("driver features {f:#x} are not within the device's {offered:#x} with VIRTIO_F_VERSION_1; FEATURES_OK refused"),
                );
                value &= !regs::STATUS_FEATURES_OK;
            }
        }
        let driver_ok = value & regs::STATUS_DRIVER_OK != 0 && t.status & regs::STATUS_DRIVER_OK == 0;
        t.status = value | (t.status & STATUS_DEVICE_NEEDS_RESET);
        if driver_ok {
            // Whatever was posted before DRIVER_OK is served now.
            self.poll(mem);
        }
    }
}
