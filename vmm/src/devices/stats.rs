//! The stats channel's device: virtio-mmio (version 2 registers) at
//! [`shared::stats::STATS_MMIO_BASE`] with two split virtqueues, `stats` (queue 0: the
//! guest's messages, device-readable buffers) and `control` (queue 1: the
//! host's commands, device-writable buffers). See `shared::stats` for the
//! registers and the wire format.
//!
//! The registers, queue setup and interrupt are the shared virtio-mmio
//! transport's ([`super::virtio_mmio`]); this module is what the stats
//! channel adds. The rings are walked with the rust-vmm `virtio-queue`
//! crate over guest memory. Everything in them is guest-controlled, so every chain is
//! checked before a byte of it is used ([`walk_chain`] in
//! [`super::virtio_chain`]): the head and every
//! `next` index inside the queue, no descriptor visited twice (a loop), no
//! indirect descriptors (not negotiated), at most [`QUEUE_SIZE_MAX`]
//! descriptors and [`MESSAGE_MAX`] bytes, every buffer inside guest RAM and
//! in the queue's direction; a stats message must then decode. A bad chain
//! is returned used with length 0, counted, and reported on the VMM's
//! stderr the first time each reason shows up on each queue; the device
//! never panics and the other queue keeps working. Mistakes that are not
//! about one chain (a misaligned ring, a bad register access, an available
//! index that jumps) are reported the same way and counted apart.
//!
//! The used-buffer interrupt is an irqfd on [`shared::stats::STATS_IRQ`],
//! signalled when buffers are returned on a queue whose driver did not set
//! `VRING_AVAIL_F_NO_INTERRUPT`; a driver may as well poll the used rings.

use std::collections::VecDeque;
use std::io::Write;

use shared::stats::{CONTROL_QUEUE, QUEUE_SIZE_MAX, STATS_DEVICE_ID, STATS_QUEUE, STATS_VENDOR_ID};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

use super::virtio_chain::write_segments;
pub use super::virtio_chain::{
    read_segments, walk_chain, ChainError, Segment, VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};
use super::virtio_mmio::{Transport, VirtioDevice, VirtioMmio, VIRTIO_F_VERSION_1};
pub use super::virtio_mmio::{INTERRUPT_USED_BUFFER, STATUS_DEVICE_NEEDS_RESET};

/// The features the device offers: `VIRTIO_F_VERSION_1` only.
pub const DEVICE_FEATURES: u64 = VIRTIO_F_VERSION_1;

/// One message from the guest's stats queue, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsMessage {
    pub header: shared::stats::Header,
    pub payload: shared::stats::Payload,
    /// What the host looked like when the VMM received it (snapshots, at
    /// most one every half second).
    pub host: Option<HostSample>,
}

/// The host's side of a snapshot, taken by the VMM as the snapshot
/// arrives: what the guest costs the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostSample {
    /// The VMM's resident set (`VmRSS` of `/proc/self/status`), in kB.
    pub vmm_rss_kb: u64,
    /// Guest RAM resident on the host (`mincore`), in kB.
    pub guest_resident_kb: u64,
}

impl HostSample {
    /// The host now, for a guest with memory `mem`.
    pub fn now(mem: &GuestMemoryMmap) -> Self {
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())))
            .unwrap_or(0);
        Self { vmm_rss_kb: rss, guest_resident_kb: crate::memory::resident_bytes(mem) / 1024 }
    }
}

/// What happened to a host command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandEvent {
    /// Written into a control buffer and returned to the guest.
    Delivered(u64),
    /// Dropped: no guest buffer can ever take it.
    Undeliverable(u64, String),
}

/// The stats channel's own part of the device: what came in, what waits
/// to go out.
#[derive(Default)]
pub struct Stats {
    /// Host commands not yet in a guest buffer: (id, encoded command).
    pending: VecDeque<(u64, Vec<u8>)>,
    messages: Vec<StatsMessage>,
    events: Vec<CommandEvent>,
    /// When the host was last sampled for a snapshot ([`HostSample`]).
    last_host_sample: Option<std::time::Instant>,
}

/// The host is sampled for at most one snapshot in this long: counting
/// resident guest RAM walks the host's page tables over all of it, and
/// snapshots may come every few milliseconds.
const HOST_SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The device: the stats channel on the virtio-mmio transport.
pub type StatsDevice = VirtioMmio<Stats>;

impl VirtioDevice for Stats {
    const NAME: &'static str = "stats device";
    const DEVICE_ID: u32 = STATS_DEVICE_ID;
    const VENDOR_ID: u32 = STATS_VENDOR_ID;
    const NUM_QUEUES: usize = 2;
    const QUEUE_SIZE_MAX: u16 = QUEUE_SIZE_MAX;

    fn features(&self) -> u64 {
        DEVICE_FEATURES
    }

    fn queue_name(q: usize) -> &'static str {
        if q == STATS_QUEUE as usize {
            "stats"
        } else {
            "control"
        }
    }

    fn process(&mut self, q: usize, t: &mut Transport, mem: &GuestMemoryMmap) {
        if q == STATS_QUEUE as usize {
            self.process_stats(t, mem);
        }
        self.deliver(t, mem);
    }
}

impl StatsDevice {
    /// A device in its reset state; `irq` is signalled for used-buffer
    /// interrupts, `log` gets the one-line reports of guest mistakes.
    pub fn new(irq: Option<EventFd>, log: Box<dyn Write + Send>) -> Self {
        Self::with_device(Stats::default(), irq, log)
    }

    /// Messages received since the last call, in order.
    pub fn take_messages(&mut self) -> Vec<StatsMessage> {
        std::mem::take(&mut self.device.messages)
    }

    /// What happened to commands since the last call.
    pub fn take_events(&mut self) -> Vec<CommandEvent> {
        std::mem::take(&mut self.device.events)
    }

    /// Commands waiting for a control buffer.
    pub fn pending_commands(&self) -> usize {
        self.device.pending.len()
    }

    /// Queues a host command (postcard-encoded `shared::stats::Command`
    /// with this `id`) and puts it in a control buffer if the guest has one
    /// posted; otherwise it waits for one.
    pub fn push_command(&mut self, id: u64, bytes: Vec<u8>, mem: &GuestMemoryMmap) {
        self.device.pending.push_back((id, bytes));
        self.device.deliver(&mut self.transport, mem);
    }
}

impl Stats {
    fn process_stats(&mut self, t: &mut Transport, mem: &GuestMemoryMmap) {
        let q = STATS_QUEUE as usize;
        if !t.live(q) {
            return;
        }
        let mut returned = false;
        // Each pop consumes one available entry, and there are at most
        // `size` of them (the iterator refuses more).
        for _ in 0..QUEUE_SIZE_MAX {
            let Some((head, walked)) = t.pop(q, mem, |chain, table, size| walk_chain(chain, table, size, false)) else { break };
            let message = walked.and_then(|segments| {
                let bytes = read_segments(mem, &segments)?;
                shared::stats::decode(&bytes)
                    .map(|(header, payload)| {
                        let due = self.last_host_sample.is_none_or(|at| at.elapsed() >= HOST_SAMPLE_EVERY);
                        let host = (due && matches!(payload, shared::stats::Payload::Snapshot(_))).then(|| {
                            self.last_host_sample = Some(std::time::Instant::now());
                            HostSample::now(mem)
                        });
                        StatsMessage { header, payload, host }
                    })
                    .map_err(|e| ChainError::Decode(e.to_string()))
            });
            match message {
                Ok(m) => self.messages.push(m),
                Err(why) => t.reject(q, head, &why),
            }
            returned |= t.put_used(q, head, 0, mem);
        }
        if returned {
            t.notify_used(q, mem);
        }
    }

    fn deliver(&mut self, t: &mut Transport, mem: &GuestMemoryMmap) {
        let q = CONTROL_QUEUE as usize;
        if !t.live(q) {
            return;
        }
        let mut returned = false;
        while !self.pending.is_empty() {
            let Some((head, walked)) = t.pop(q, mem, |chain, table, size| walk_chain(chain, table, size, true)) else { break };
            let mut used = 0;
            match walked {
                Ok(segments) => {
                    let (id, bytes) = self.pending.pop_front().expect("checked non-empty");
                    let room: u64 = segments.iter().map(|s| s.len as u64).sum();
                    let result = if room < bytes.len() as u64 {
                        Err(ChainError::TooSmall { len: room, need: bytes.len(), id })
                    } else {
                        write_segments(mem, &segments, &bytes)
                    };
                    match result {
                        Ok(()) => {
                            used = bytes.len() as u32;
                            self.events.push(CommandEvent::Delivered(id));
                        }
                        Err(why) => {
                            t.reject(q, head, &why);
                            self.events.push(CommandEvent::Undeliverable(id, why.to_string()));
                        }
                    }
                }
                Err(why) => t.reject(q, head, &why),
            }
            returned |= t.put_used(q, head, used, mem);
        }
        if returned {
            t.notify_used(q, mem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::stats::regs;
    use shared::stats::MESSAGE_MAX;
    use shared::stats::{encode, CommandResult, Payload, ProcFiles, Reason, Reply, Snapshot};
    use virtio_queue::desc::split::Descriptor;
    use virtio_queue::desc::RawDescriptor;
    use virtio_queue::mock::MockSplitQueue;
    use virtio_queue::{Queue, QueueOwnedT};
    use vm_memory::{Bytes, GuestAddress};

    const RAM: u64 = 0x10_0000;
    const HIGH: u64 = 0x20_0000;
    const STATS_RING: u64 = 0x1000;
    const CONTROL_RING: u64 = 0x3000;
    const BUF: u64 = 0x8000;

    /// Two 1 MiB RAM ranges with a 1 MiB gap between them.
    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM as usize), (GuestAddress(HIGH), RAM as usize)]).unwrap()
    }

    use crate::devices::TestLog as Log;

    fn reg(dev: &mut StatsDevice, offset: u64) -> u32 {
        let mut b = [0u8; 4];
        dev.read(offset, &mut b);
        u32::from_le_bytes(b)
    }

    fn set(dev: &mut StatsDevice, mem: &GuestMemoryMmap, offset: u64, value: u32) {
        dev.write(offset, &value.to_le_bytes(), mem);
    }

    /// What a driver does: reset, ACK, DRIVER, features, FEATURES_OK, both
    /// queues at `mocks`' addresses, DRIVER_OK.
    fn init(dev: &mut StatsDevice, mem: &GuestMemoryMmap, stats: &MockSplitQueue<GuestMemoryMmap>, control: &MockSplitQueue<GuestMemoryMmap>, size: u16) {
        use regs::*;
        set(dev, mem, STATUS, 0);
        set(dev, mem, STATUS, STATUS_ACKNOWLEDGE);
        set(dev, mem, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        set(dev, mem, DEVICE_FEATURES_SEL, 1);
        assert_eq!(reg(dev, DEVICE_FEATURES), FEATURE_VERSION_1_WORD1);
        set(dev, mem, DRIVER_FEATURES_SEL, 1);
        set(dev, mem, DRIVER_FEATURES, FEATURE_VERSION_1_WORD1);
        set(dev, mem, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        assert_ne!(reg(dev, STATUS) & STATUS_FEATURES_OK, 0);
        for (q, mock) in [(0, stats), (1, control)] {
            set(dev, mem, QUEUE_SEL, q);
            assert_eq!(reg(dev, QUEUE_NUM_MAX), QUEUE_SIZE_MAX as u32);
            set(dev, mem, QUEUE_NUM, size as u32);
            let split = |a: GuestAddress| (a.0 as u32, (a.0 >> 32) as u32);
            for (low, addr) in [(QUEUE_DESC_LOW, mock.desc_table_addr()), (QUEUE_DRIVER_LOW, mock.avail_addr()), (QUEUE_DEVICE_LOW, mock.used_addr())] {
                let (l, h) = split(addr);
                set(dev, mem, low, l);
                set(dev, mem, low + 4, h);
            }
            set(dev, mem, QUEUE_READY, 1);
            assert_eq!(reg(dev, QUEUE_READY), 1, "queue {q} not ready");
        }
        set(dev, mem, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    }

    struct Rig {
        mem: GuestMemoryMmap,
        log: Log,
        dev: StatsDevice,
    }

    fn rig() -> Rig {
        let log = Log::default();
        Rig { mem: mem(), dev: StatsDevice::new(None, Box::new(log.clone())), log }
    }

    fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
        RawDescriptor::from(Descriptor::new(addr, len, flags, next))
    }

    fn snapshot(reason: Reason) -> Payload {
        Payload::Snapshot(Snapshot {
            reason,
            meminfo: vec![("MemTotal".into(), 131_072), ("MemFree".into(), 100_000)],
            zones: vec![],
            vmstat: vec![("pgfault".into(), 5)],
            slabs: vec![],
            vmalloc: vec![],
            processes: vec![],
            files: ProcFiles { meminfo: "MemTotal: 131072 kB\n".into(), ..ProcFiles::default() },
        })
    }

    fn used(mock: &MockSplitQueue<GuestMemoryMmap>) -> Vec<(u32, u32)> {
        let n = mock.used().idx().load();
        (0..n as usize)
            .map(|i| {
                let e = mock.used().ring().ref_at(i).unwrap().load();
                (e.id(), e.len())
            })
            .collect()
    }

    #[test]
    fn registers_identify_the_device() {
        let mut r = rig();
        assert_eq!(reg(&mut r.dev, regs::MAGIC_VALUE), regs::MAGIC);
        assert_eq!(reg(&mut r.dev, regs::VERSION), 2);
        assert_eq!(reg(&mut r.dev, regs::DEVICE_ID), STATS_DEVICE_ID);
        assert_eq!(reg(&mut r.dev, regs::VENDOR_ID), STATS_VENDOR_ID);
        assert_eq!(reg(&mut r.dev, regs::DEVICE_FEATURES), 0);
        set(&mut r.dev, &r.mem, regs::QUEUE_SEL, 2);
        assert_eq!(reg(&mut r.dev, regs::QUEUE_NUM_MAX), 0, "queue 2 does not exist");
        assert_eq!(reg(&mut r.dev, regs::CONFIG_GENERATION), 0);
        assert_eq!(reg(&mut r.dev, 0x100), 0);
        // A 1-byte read is refused (reads 0) and reported once.
        let mut b = [0xffu8; 1];
        r.dev.read(regs::MAGIC_VALUE, &mut b);
        r.dev.read(regs::MAGIC_VALUE, &mut b);
        assert_eq!(b, [0]);
        assert_eq!(r.log.lines().len(), 1, "{:?}", r.log.lines());
        // Features other than VERSION_1 make FEATURES_OK fail.
        set(&mut r.dev, &r.mem, regs::DRIVER_FEATURES_SEL, 0);
        set(&mut r.dev, &r.mem, regs::DRIVER_FEATURES, 1 << 28);
        set(&mut r.dev, &r.mem, regs::STATUS, regs::STATUS_ACKNOWLEDGE | regs::STATUS_DRIVER | regs::STATUS_FEATURES_OK);
        assert_eq!(reg(&mut r.dev, regs::STATUS) & regs::STATUS_FEATURES_OK, 0);
        assert!(r.log.lines()[1].contains("FEATURES_OK refused"), "{:?}", r.log.lines());
        // Reset clears the status.
        set(&mut r.dev, &r.mem, regs::STATUS, 0);
        assert_eq!(reg(&mut r.dev, regs::STATUS), 0);
    }

    #[test]
    fn messages_arrive_and_buffers_come_back() {
        let mut r = rig();
        let stats = MockSplitQueue::create(&r.mem, GuestAddress(STATS_RING), 16);
        let control = MockSplitQueue::create(&r.mem, GuestAddress(CONTROL_RING), 16);
        init(&mut r.dev, &r.mem, &stats, &control, 16);
        let one = encode(1, 10, &snapshot(Reason::Interval)).unwrap();
        let two = encode(2, 20, &Payload::Reply(Reply { id: 9, result: CommandResult::Done })).unwrap();
        r.mem.write_slice(&one, GuestAddress(BUF)).unwrap();
        // The second message split over two descriptors, one in high RAM.
        r.mem.write_slice(&two[..10], GuestAddress(BUF + 0x1000)).unwrap();
        r.mem.write_slice(&two[10..], GuestAddress(HIGH + 0x100)).unwrap();
        stats
            .add_desc_chains(
                &[desc(BUF, one.len() as u32, 0, 0), desc(BUF + 0x1000, 10, VRING_DESC_F_NEXT, 2), desc(HIGH + 0x100, (two.len() - 10) as u32, 0, 0)],
                0,
            )
            .unwrap();
        set(&mut r.dev, &r.mem, regs::QUEUE_NOTIFY, 0);
        let got = r.dev.take_messages();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].header.seq, got[0].header.guest_ns), (1, 10));
        assert_eq!(got[0].payload, snapshot(Reason::Interval));
        assert_eq!(got[1].payload, Payload::Reply(Reply { id: 9, result: CommandResult::Done }));
        assert_eq!(used(&stats), [(0, 0), (1, 0)]);
        assert_eq!(r.dev.rejected(), 0);
        assert!(r.log.lines().is_empty(), "{:?}", r.log.lines());
    }

    #[test]
    fn commands_wait_for_a_buffer_and_raise_the_interrupt() {
        let log = Log::default();
        let irq = EventFd::new(vmm_sys_util::eventfd::EFD_NONBLOCK).unwrap();
        let mut dev = StatsDevice::new(Some(irq.try_clone().unwrap()), Box::new(log.clone()));
        let mem = mem();
        let stats = MockSplitQueue::create(&mem, GuestAddress(STATS_RING), 16);
        let control = MockSplitQueue::create(&mem, GuestAddress(CONTROL_RING), 16);
        init(&mut dev, &mem, &stats, &control, 16);
        // No buffer posted yet: the command waits.
        dev.push_command(1, vec![1, 2, 3], &mem);
        assert_eq!(dev.pending_commands(), 1);
        assert!(dev.take_events().is_empty());
        assert!(irq.read().is_err(), "no interrupt yet");
        control.add_desc_chains(&[desc(BUF, 64, VRING_DESC_F_WRITE, 0), desc(BUF + 64, 64, VRING_DESC_F_WRITE, 0)], 0).unwrap();
        set(&mut dev, &mem, regs::QUEUE_NOTIFY, 1);
        assert_eq!(dev.take_events(), [CommandEvent::Delivered(1)]);
        assert_eq!(used(&control), [(0, 3)]);
        let mut b = [0u8; 3];
        mem.read_slice(&mut b, GuestAddress(BUF)).unwrap();
        assert_eq!(b, [1, 2, 3]);
        assert_eq!(irq.read().unwrap(), 1);
        assert_eq!(reg(&mut dev, regs::INTERRUPT_STATUS), INTERRUPT_USED_BUFFER);
        set(&mut dev, &mem, regs::INTERRUPT_ACK, INTERRUPT_USED_BUFFER);
        assert_eq!(reg(&mut dev, regs::INTERRUPT_STATUS), 0);
        // A buffer is already posted: the next command goes at once; one
        // too large for any buffer is dropped with a reason.
        dev.push_command(2, vec![7; 64], &mem);
        assert_eq!(dev.take_events(), [CommandEvent::Delivered(2)]);
        control.add_desc_chains(&[desc(BUF + 0x100, 16, VRING_DESC_F_WRITE, 0)], 2).unwrap();
        dev.push_command(3, vec![7; 65], &mem);
        let events = dev.take_events();
        assert!(matches!(&events[..], [CommandEvent::Undeliverable(3, why)] if why.contains("too few for command #3")), "{events:?}");
        assert_eq!(used(&control), [(0, 3), (1, 64), (2, 0)]);
        assert_eq!(dev.rejected(), 1);
    }

    /// Each bad chain is refused with its reason, logged once per reason,
    /// returned with length 0, and the good chains around it still count.
    #[test]
    fn bad_chains_are_refused_and_the_queues_go_on() {
        let mut r = rig();
        let stats = MockSplitQueue::create(&r.mem, GuestAddress(STATS_RING), 64);
        let control = MockSplitQueue::create(&r.mem, GuestAddress(CONTROL_RING), 64);
        init(&mut r.dev, &r.mem, &stats, &control, 64);
        let good = encode(1, 1, &snapshot(Reason::Request)).unwrap();
        r.mem.write_slice(&good, GuestAddress(BUF)).unwrap();
        r.mem.write_slice(b"garbage garbage garbage garbage", GuestAddress(BUF + 0x4000)).unwrap();
        let g = good.len() as u32;
        let f = VRING_DESC_F_NEXT;
        let cases: Vec<(Vec<RawDescriptor>, &str)> = vec![
            (vec![desc(BUF, g, 0, 0)], ""),
            // Out of RAM, straddling the end of a range, in the gap, wrapping.
            (vec![desc(RAM * 8, 16, 0, 0)], "is not inside guest RAM"),
            (vec![desc(RAM - 8, 16, 0, 0)], "is not inside guest RAM"),
            (vec![desc(RAM + 0x100, 16, 0, 0)], "is not inside guest RAM"),
            (vec![desc(u64::MAX - 4, 16, 0, 0)], "is not inside guest RAM"),
            // A loop of two, and one descriptor pointing at itself.
            (vec![desc(BUF, 8, f, 1), desc(BUF, 8, f, 0)], "the chain loops"),
            (vec![desc(BUF, 8, f, 0)], "the chain loops"),
            // Next outside the queue.
            (vec![desc(BUF, 8, f, 200)], "next index 200 is outside the queue of 64"),
            // Longer than MESSAGE_MAX.
            (vec![desc(BUF, MESSAGE_MAX as u32 + 1, 0, 0)], "above the 262144-byte limit"),
            (vec![desc(BUF, MESSAGE_MAX as u32, f, 1), desc(BUF, 1, 0, 0)], "above the 262144-byte limit"),
            // Wrong direction.
            (vec![desc(BUF, g, VRING_DESC_F_WRITE, 0)], "is device-writable, but this queue takes only device-readable"),
            // Indirect.
            (vec![desc(BUF, 32, VRING_DESC_F_INDIRECT, 0)], "is indirect"),
            // Does not decode.
            // (Decode failures are one reason: only the first is logged.)
            (vec![desc(BUF + 0x4000, 30, 0, 0)], "does not decode: bad magic"),
            (vec![desc(BUF, 10, 0, 0)], "~message of 10 bytes is shorter"),
            (vec![desc(BUF, g - 1, 0, 0)], "~payload does not decode"),
            (vec![desc(BUF, g, 0, 0)], ""),
        ];
        // Chains go at increasing table offsets, each one's `next`s
        // relative to its start.
        let mut at = 0u16;
        for (descs, _) in &cases {
            let moved: Vec<RawDescriptor> = descs
                .iter()
                .map(|d| {
                    let d = Descriptor::from(*d);
                    let next = if d.next() < 64 && d.flags() & VRING_DESC_F_NEXT != 0 { d.next() + at } else { d.next() };
                    desc(d.addr().0, d.len(), d.flags(), next)
                })
                .collect();
            stats.add_desc_chains(&moved, at).unwrap();
            at += descs.len() as u16;
        }
        set(&mut r.dev, &r.mem, regs::QUEUE_NOTIFY, 0);
        assert_eq!(r.dev.take_messages().len(), 2, "the two good chains");
        let bad = cases.iter().filter(|(_, why)| !why.is_empty()).count() as u64;
        assert_eq!(r.dev.rejected(), bad);
        assert_eq!(used(&stats).len(), cases.len(), "every chain comes back");
        assert!(used(&stats).iter().all(|&(_, len)| len == 0));
        let log = r.log.lines();
        for (_, why) in cases.iter().filter(|(_, why)| !why.is_empty() && !why.starts_with('~')) {
            assert!(log.iter().any(|l| l.contains(why) && l.starts_with("vmm: stats device: stats queue: bad descriptor chain")), "no {why:?} in {log:#?}");
        }
        // Once per reason: four out-of-RAM chains, one line; three that
        // do not decode, one line.
        assert_eq!(log.iter().filter(|l| l.contains("not inside guest RAM")).count(), 1, "{log:#?}");
        assert_eq!(log.iter().filter(|l| l.contains("does not decode")).count(), 1, "{log:#?}");
        assert!(!log.iter().any(|l| l.contains("panicked")));

        // The control queue still works, and checks its own direction.
        control.add_desc_chains(&[desc(BUF, 16, 0, 0), desc(BUF, 16, VRING_DESC_F_WRITE, 0)], 0).unwrap();
        r.dev.push_command(5, vec![9; 4], &r.mem);
        assert_eq!(r.dev.take_events(), [CommandEvent::Delivered(5)]);
        assert_eq!(used(&control), [(0, 0), (1, 4)]);
        assert!(r
            .log
            .lines()
            .iter()
            .any(|l| l.starts_with("vmm: stats device: control queue: bad descriptor chain (head 0): descriptor 0 is device-readable")));
    }

    #[test]
    fn a_head_outside_the_queue_is_refused_and_skipped() {
        let mut r = rig();
        let stats = MockSplitQueue::create(&r.mem, GuestAddress(STATS_RING), 16);
        let control = MockSplitQueue::create(&r.mem, GuestAddress(CONTROL_RING), 16);
        init(&mut r.dev, &r.mem, &stats, &control, 16);
        let good = encode(1, 1, &snapshot(Reason::Interval)).unwrap();
        r.mem.write_slice(&good, GuestAddress(BUF)).unwrap();
        stats.add_desc_chains(&[desc(BUF, good.len() as u32, 0, 0)], 0).unwrap();
        // Available entries: 0 (good), 200 (no such descriptor), 0 again.
        stats.avail().ring().ref_at(1).unwrap().store(200);
        stats.avail().ring().ref_at(2).unwrap().store(0);
        stats.avail().idx().store(3);
        set(&mut r.dev, &r.mem, regs::QUEUE_NOTIFY, 0);
        assert_eq!(r.dev.take_messages().len(), 2);
        assert_eq!(r.dev.rejected(), 1);
        // Descriptor 200 cannot be returned; the others are.
        assert_eq!(used(&stats), [(0, 0), (0, 0)]);
        assert!(r.log.lines()[0].contains("(head 200): head index 200 is outside the queue of 16 descriptors"), "{:?}", r.log.lines());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn arb_desc() -> impl Strategy<Value = RawDescriptor> {
            let addr = prop_oneof![Just(BUF), Just(0u64), Just(u64::MAX - 8), Just(0x10_0000_0000u64), any::<u64>()];
            let len = prop_oneof![Just(0u32), Just(1u32), Just(4096u32), Just(u32::MAX), any::<u32>()];
            let flags = prop_oneof![Just(0u16), Just(VRING_DESC_F_NEXT), Just(VRING_DESC_F_WRITE), Just(VRING_DESC_F_INDIRECT), any::<u16>()];
            (addr, len, flags, 0u16..24).prop_map(|(a, l, f, n)| desc(a, l, f, n))
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

            /// Whatever the guest puts in a descriptor table, the walk
            /// answers without a panic, and what it accepts is a chain of
            /// distinct descriptors inside RAM, in the queue's direction,
            /// within the message limit.
            #[test]
            fn any_descriptor_table_is_walked_safely(descs in proptest::collection::vec(arb_desc(), 1..16), writable in any::<bool>()) {
                let mem = mem();
                let mock = MockSplitQueue::create(&mem, GuestAddress(STATS_RING), 16);
                if mock.add_desc_chains(&descs, 0).is_err() {
                    return Ok(());
                }
                let Ok(mut q) = mock.create_queue::<Queue>() else { return Ok(()) };
                let Some(chain) = q.iter(&mem).ok().and_then(|mut i| i.next()) else { return Ok(()) };
                if let Ok(segments) = walk_chain(chain, mock.desc_table_addr(), 16, writable) {
                    prop_assert!(!segments.is_empty() && segments.len() <= 16);
                    let total: u64 = segments.iter().map(|s| s.len as u64).sum();
                    prop_assert!(total <= MESSAGE_MAX as u64);
                    for s in &segments {
                        prop_assert!(vm_memory::GuestMemoryBackend::check_range(&mem, s.addr, s.len as usize));
                    }
                    prop_assert!(read_segments(&mem, &segments).is_ok());
                }
            }
        }
    }

    #[test]
    fn a_chain_longer_than_the_limit_or_a_full_loop_is_refused() {
        let mem = mem();
        let mock = MockSplitQueue::create(&mem, GuestAddress(STATS_RING), 64);
        // 64 descriptors, each pointing to the next, the last back to 0:
        // the crate's walk stops after the queue size; this is a loop.
        let descs: Vec<RawDescriptor> = (0..64).map(|i| desc(BUF, 1, VRING_DESC_F_NEXT, (i + 1) % 64)).collect();
        mock.add_desc_chains(&descs, 0).unwrap();
        let mut q: Queue = mock.create_queue().unwrap();
        let chain = q.iter(&mem).unwrap().next().unwrap();
        assert_eq!(walk_chain(chain, mock.desc_table_addr(), 64, false), Err(ChainError::Loop { index: 0 }));
        // A proper chain of 64 short buffers is fine.
        let mock = MockSplitQueue::create(&mem, GuestAddress(STATS_RING), 64);
        let mut descs: Vec<RawDescriptor> = (0..63).map(|i| desc(BUF, 1, VRING_DESC_F_NEXT, i + 1)).collect();
        descs.push(desc(BUF, 1, 0, 0));
        mock.add_desc_chains(&descs, 0).unwrap();
        let mut q: Queue = mock.create_queue().unwrap();
        let chain = q.iter(&mem).unwrap().next().unwrap();
        assert_eq!(walk_chain(chain, mock.desc_table_addr(), 64, false).map(|s| s.len()), Ok(64));
    }

    #[test]
    fn broken_rings_are_reported_and_the_other_queue_keeps_working() {
        let mut r = rig();
        let stats = MockSplitQueue::create(&r.mem, GuestAddress(STATS_RING), 16);
        let control = MockSplitQueue::create(&r.mem, GuestAddress(CONTROL_RING), 16);
        init(&mut r.dev, &r.mem, &stats, &control, 16);
        // The driver claims 100 new entries on a queue of 16.
        stats.avail().idx().store(100);
        set(&mut r.dev, &r.mem, regs::QUEUE_NOTIFY, 0);
        set(&mut r.dev, &r.mem, regs::QUEUE_NOTIFY, 0);
        let log = r.log.lines();
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].contains("stats queue: available ring unusable"), "{log:?}");
        assert_ne!(reg(&mut r.dev, regs::STATUS) & STATUS_DEVICE_NEEDS_RESET, 0);
        control.add_desc_chains(&[desc(BUF, 16, VRING_DESC_F_WRITE, 0)], 0).unwrap();
        r.dev.push_command(1, vec![1], &r.mem);
        assert_eq!(r.dev.take_events(), [CommandEvent::Delivered(1)]);

        // Rings outside RAM, misaligned, or a size that is not a power of two.
        let mut r = rig();
        for (num, desc_addr, why) in [
            (16, RAM * 4, "not all inside guest RAM"),
            (16, 0x1008, "not 16-byte aligned"),
            (12, 0x1000, "not a power of two"),
            (128, 0x1000, "not a power of two"),
        ] {
            set(&mut r.dev, &r.mem, regs::QUEUE_SEL, 0);
            set(&mut r.dev, &r.mem, regs::QUEUE_NUM, num);
            set(&mut r.dev, &r.mem, regs::QUEUE_DESC_LOW, desc_addr as u32);
            set(&mut r.dev, &r.mem, regs::QUEUE_DESC_HIGH, (desc_addr >> 32) as u32);
            set(&mut r.dev, &r.mem, regs::QUEUE_DRIVER_LOW, 0x2000);
            set(&mut r.dev, &r.mem, regs::QUEUE_DEVICE_LOW, 0x2400);
            set(&mut r.dev, &r.mem, regs::QUEUE_READY, 1);
            assert_eq!(reg(&mut r.dev, regs::QUEUE_READY), 0, "{why}");
            assert!(r.log.lines().iter().any(|l| l.contains(why)), "{why}: {:?}", r.log.lines());
            r.log.0.lock().unwrap().clear();
            r.dev.transport.forget_reports();
        }
    }

    #[test]
    fn random_rings_never_panic() {
        // A cheap fuzz: random bytes for the descriptor table and rings,
        // random register writes; the device must only refuse.
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let mut r = rig();
            let stats = MockSplitQueue::create(&r.mem, GuestAddress(STATS_RING), 8);
            let control = MockSplitQueue::create(&r.mem, GuestAddress(CONTROL_RING), 8);
            init(&mut r.dev, &r.mem, &stats, &control, 8);
            let junk: Vec<u8> = (0..0x4000).map(|_| next() as u8).collect();
            r.mem.write_slice(&junk, GuestAddress(STATS_RING)).unwrap();
            // Keep some addresses plausible.
            for i in 0..16u64 {
                let addr = if next() % 2 == 0 { BUF + (next() % 0x1000) } else { next() };
                r.mem.write_obj(addr, GuestAddress(STATS_RING + i * 16)).unwrap();
                r.mem.write_obj((next() % 64) as u32, GuestAddress(STATS_RING + i * 16 + 8)).unwrap();
            }
            for _ in 0..4 {
                set(&mut r.dev, &r.mem, regs::QUEUE_NOTIFY, (next() % 3) as u32);
                r.dev.push_command(next(), vec![0; (next() % 300) as usize], &r.mem);
                let offset = (next() % 0x110) & !3;
                if offset != regs::STATUS {
                    set(&mut r.dev, &r.mem, offset, next() as u32);
                }
            }
        }
    }
}
