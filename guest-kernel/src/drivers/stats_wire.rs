//! A direct encoder for snapshot messages: the same bytes as
//! `shared::stats::encode(seq, ns, &Payload::Snapshot(..))` (header, then
//! postcard), written from borrowed data.
//!
//! Why: where ring 0 is emulated (~1 µs per instruction), building a
//! `Snapshot` of owned `String`s and `Vec`s and running it through serde
//! costs tens of milliseconds (an allocation and a free per name, a
//! library call per varint); names here are `&'static str` already.
//! The field order follows `shared::stats` exactly; the host tests compare
//! the output with `shared::stats::encode`, so a change to the wire types
//! that is not mirrored here fails them.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

use shared::stats::{Header, Reason, HEADER_LEN, KIND_SNAPSHOT, STATS_MAGIC, STATS_VERSION};

/// `shared::stats::ZoneStats`, borrowed.
pub struct ZoneView<'a> {
    pub name: &'a str,
    pub managed: u64,
    pub free: u64,
    pub free_per_order: &'a [u64],
    pub min: u64,
    pub low: u64,
    pub high: u64,
}

/// `shared::stats::SlabStats`, borrowed.
pub struct SlabView<'a> {
    pub name: &'a str,
    pub object_size: u64,
    pub active_objs: u64,
    pub num_objs: u64,
    pub slabs: u64,
}

/// `shared::stats::VmallocArea`, borrowed.
pub struct VmallocView<'a> {
    pub start: u64,
    pub end: u64,
    pub pages: u64,
    pub caller: &'a str,
}

/// `shared::stats::ProcessStats`, borrowed.
pub struct ProcessView<'a> {
    pub pid: u32,
    pub ppid: u32,
    pub comm: &'a str,
    pub state: char,
    pub vm_size_kb: u64,
    pub vm_rss_kb: u64,
    pub rss_anon_kb: u64,
    pub rss_file_kb: u64,
    pub rss_shmem_kb: u64,
    pub vma_count: u64,
    pub page_faults: u64,
    pub status: &'a str,
    pub maps: &'a str,
}

/// `shared::stats::ProcFiles`, borrowed (same field order).
#[derive(Default)]
pub struct FilesView<'a> {
    pub meminfo: &'a str,
    pub buddyinfo: &'a str,
    pub zoneinfo: &'a str,
    pub vmstat: &'a str,
    pub slabinfo: &'a str,
    pub vmallocinfo: &'a str,
}

/// `shared::stats::Snapshot`, borrowed.
pub struct SnapshotView<'a> {
    pub reason: Reason,
    pub meminfo: &'a [(&'a str, u64)],
    pub zones: &'a [ZoneView<'a>],
    pub vmstat: &'a [(&'a str, u64)],
    pub slabs: &'a [SlabView<'a>],
    pub vmalloc: &'a [VmallocView<'a>],
    pub processes: &'a [ProcessView<'a>],
    pub files: FilesView<'a>,
}

/// Most bytes a varint takes.
const VARINT_MAX: usize = 10;

/// Writes postcard's primitives into room reserved for the whole message
/// (see [`bound`]): no capacity check per byte, the position in a
/// register. Writing past the room panics (bounds check), never corrupts.
struct Cursor<'a> {
    out: &'a mut [MaybeUninit<u8>],
    n: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.out[self.n].write(b);
        self.n += 1;
    }

    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        let dst = &mut self.out[self.n..self.n + b.len()];
        // SAFETY: `dst` is `b.len()` bytes of our buffer (bounds checked above), `b` is another allocation; u8 and MaybeUninit<u8> have the same
        // layout.
        unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), dst.as_mut_ptr().cast::<u8>(), b.len()) };
        self.n += b.len();
    }

    #[inline]
    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.bytes(s.as_bytes());
    }

    fn char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.str(c.encode_utf8(&mut b));
    }

    fn pairs(&mut self, pairs: &[(&str, u64)]) {
        self.varint(pairs.len() as u64);
        for &(name, v) in pairs {
            self.str(name);
            self.varint(v);
        }
    }
}

/// The most bytes the message can take: every number at its longest,
/// strings exactly.
fn bound(s: &SnapshotView) -> usize {
    const V: usize = VARINT_MAX;
    let f = &s.files;
    let texts = [f.meminfo, f.buddyinfo, f.zoneinfo, f.vmstat, f.slabinfo, f.vmallocinfo].iter().map(|t| V + t.len()).sum::<usize>();
    let pairs = |p: &[(&str, u64)]| V + p.iter().map(|(n, _)| 2 * V + n.len()).sum::<usize>();
    let zones = V + s.zones.iter().map(|z| z.name.len() + V * (7 + z.free_per_order.len())).sum::<usize>();
    let slabs = V + s.slabs.iter().map(|c| c.name.len() + 5 * V).sum::<usize>();
    let vmalloc = V + s.vmalloc.iter().map(|a| a.caller.len() + 4 * V).sum::<usize>();
    let procs = V + s.processes.iter().map(|p| p.comm.len() + p.status.len() + p.maps.len() + 12 * V + 5).sum::<usize>();
    HEADER_LEN + 3 * V + pairs(s.meminfo) + zones + pairs(s.vmstat) + slabs + vmalloc + procs + texts
}

/// A snapshot message: header (`kind` snapshot) and `Payload::Snapshot`.
pub fn encode_snapshot(seq: u64, guest_ns: u64, s: &SnapshotView) -> Vec<u8> {
    let header = Header { magic: STATS_MAGIC, version: STATS_VERSION, kind: KIND_SNAPSHOT, seq, guest_ns };
    let room = bound(s);
    let mut buf: Vec<u8> = Vec::with_capacity(room);
    let mut c = Cursor { out: &mut buf.spare_capacity_mut()[..room], n: 0 };
    c.bytes(&header.to_bytes());
    c.varint(0); // Payload::Snapshot
    match s.reason {
        Reason::Interval => c.varint(0),
        Reason::ProcessExit { pid } => {
            c.varint(1);
            c.varint(pid as u64);
        }
        Reason::Request => c.varint(2),
        Reason::Final => c.varint(3),
    }
    c.pairs(s.meminfo);
    c.varint(s.zones.len() as u64);
    for z in s.zones {
        c.str(z.name);
        c.varint(z.managed);
        c.varint(z.free);
        c.varint(z.free_per_order.len() as u64);
        for &n in z.free_per_order {
            c.varint(n);
        }
        c.varint(z.min);
        c.varint(z.low);
        c.varint(z.high);
    }
    c.pairs(s.vmstat);
    c.varint(s.slabs.len() as u64);
    for sc in s.slabs {
        c.str(sc.name);
        c.varint(sc.object_size);
        c.varint(sc.active_objs);
        c.varint(sc.num_objs);
        c.varint(sc.slabs);
    }
    c.varint(s.vmalloc.len() as u64);
    for a in s.vmalloc {
        c.varint(a.start);
        c.varint(a.end);
        c.varint(a.pages);
        c.str(a.caller);
    }
    c.varint(s.processes.len() as u64);
    for p in s.processes {
        c.varint(p.pid as u64);
        c.varint(p.ppid as u64);
        c.str(p.comm);
        c.char(p.state);
        for v in [p.vm_size_kb, p.vm_rss_kb, p.rss_anon_kb, p.rss_file_kb, p.rss_shmem_kb, p.vma_count, p.page_faults] {
            c.varint(v);
        }
        c.str(p.status);
        c.str(p.maps);
    }
    let f = &s.files;
    for text in [f.meminfo, f.buddyinfo, f.zoneinfo, f.vmstat, f.slabinfo, f.vmallocinfo] {
        c.str(text);
    }
    let n = c.n;
    // SAFETY: the cursor initialised exactly the first `n` bytes of the
    // spare capacity, in order (`byte` and `bytes` are its only writers).
    unsafe { buf.set_len(n) };
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec;
    use shared::stats::{decode, encode, Payload, ProcFiles, ProcessStats, SlabStats, Snapshot, VmallocArea, ZoneStats};

    /// A view of an owned snapshot, field by field.
    fn check(seq: u64, ns: u64, s: &Snapshot) {
        let meminfo: Vec<(&str, u64)> = s.meminfo.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let vmstat: Vec<(&str, u64)> = s.vmstat.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let zones: Vec<ZoneView> = s
            .zones
            .iter()
            .map(|z| ZoneView { name: &z.name, managed: z.managed, free: z.free, free_per_order: &z.free_per_order, min: z.min, low: z.low, high: z.high })
            .collect();
        let slabs: Vec<SlabView> = s
            .slabs
            .iter()
            .map(|c| SlabView { name: &c.name, object_size: c.object_size, active_objs: c.active_objs, num_objs: c.num_objs, slabs: c.slabs })
            .collect();
        let vmalloc: Vec<VmallocView> = s.vmalloc.iter().map(|a| VmallocView { start: a.start, end: a.end, pages: a.pages, caller: &a.caller }).collect();
        let processes: Vec<ProcessView> = s
            .processes
            .iter()
            .map(|p| ProcessView {
                pid: p.pid,
                ppid: p.ppid,
                comm: &p.comm,
                state: p.state,
                vm_size_kb: p.vm_size_kb,
                vm_rss_kb: p.vm_rss_kb,
                rss_anon_kb: p.rss_anon_kb,
                rss_file_kb: p.rss_file_kb,
                rss_shmem_kb: p.rss_shmem_kb,
                vma_count: p.vma_count,
                page_faults: p.page_faults,
                status: &p.status,
                maps: &p.maps,
            })
            .collect();
        let f = &s.files;
        let view = SnapshotView {
            reason: s.reason,
            meminfo: &meminfo,
            zones: &zones,
            vmstat: &vmstat,
            slabs: &slabs,
            vmalloc: &vmalloc,
            processes: &processes,
            files: FilesView {
                meminfo: &f.meminfo,
                buddyinfo: &f.buddyinfo,
                zoneinfo: &f.zoneinfo,
                vmstat: &f.vmstat,
                slabinfo: &f.slabinfo,
                vmallocinfo: &f.vmallocinfo,
            },
        };
        let ours = encode_snapshot(seq, ns, &view);
        let payload = Payload::Snapshot(s.clone());
        assert_eq!(ours, encode(seq, ns, &payload).unwrap(), "differs from shared::stats::encode for {:?}", s.reason);
        assert_eq!(decode(&ours).unwrap().1, payload);
    }

    fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(n, x)| (n.to_string(), *x)).collect()
    }

    fn big() -> Snapshot {
        Snapshot {
            reason: Reason::ProcessExit { pid: 300 },
            meminfo: pairs(&[("MemTotal", 131_072), ("MemFree", 0), ("LowFree", u64::MAX)]),
            zones: vec![
                ZoneStats {
                    name: "DMA".into(),
                    managed: 3977,
                    free: 3900,
                    free_per_order: vec![0, 1, 127, 128, 16383, 16384, 1 << 40, 0, 0, 1, 3],
                    min: 7,
                    low: 8,
                    high: 10,
                },
                ZoneStats { name: "DMA32".into(), managed: 1 << 20, free: 0, free_per_order: vec![], min: 0, low: 0, high: 0 },
            ],
            vmstat: pairs(&[("nr_free_pages", 27_880), ("pgfault", 1 << 33), ("cow_fault", 0)]),
            slabs: vec![SlabStats { name: "kmalloc-8".into(), object_size: 8, active_objs: 300, num_objs: 512, slabs: 1 }],
            vmalloc: vec![VmallocArea { start: 0xffff_c900_0000_0000, end: 0xffff_c900_0000_5000, pages: 4, caller: "kernel_stack".into() }],
            processes: vec![
                ProcessStats {
                    pid: 1,
                    ppid: 0,
                    comm: "init".into(),
                    state: 'S',
                    vm_size_kb: 1024,
                    vm_rss_kb: 200,
                    rss_anon_kb: 100,
                    rss_file_kb: 100,
                    rss_shmem_kb: 0,
                    vma_count: 6,
                    page_faults: 70,
                    status: "Name:\tinit\n".repeat(20),
                    maps: "00200000-00201000 r--p 00000000 00:01 3 /bin/init\n".into(),
                },
                ProcessStats {
                    pid: u32::MAX,
                    ppid: 1,
                    comm: "z\u{e9}".into(),
                    state: 'Z',
                    vm_size_kb: 0,
                    vm_rss_kb: 0,
                    rss_anon_kb: 0,
                    rss_file_kb: 0,
                    rss_shmem_kb: 0,
                    vma_count: 0,
                    page_faults: 0,
                    status: String::new(),
                    maps: String::new(),
                },
            ],
            files: ProcFiles {
                meminfo: "MemTotal: 1 kB\n".into(),
                buddyinfo: "x".repeat(300),
                zoneinfo: String::new(),
                vmstat: "pgfault 1\n".into(),
                slabinfo: "slabinfo - version: 2.1\n".into(),
                vmallocinfo: "y".repeat(20_000),
            },
        }
    }

    #[test]
    fn same_bytes_as_shared_encode() {
        let mut s = big();
        check(7, 123_456_789, &s);
        for reason in [Reason::Interval, Reason::Request, Reason::Final, Reason::ProcessExit { pid: 0 }] {
            s.reason = reason;
            check(u64::MAX, 0, &s);
        }
        // Every number at its longest: the room reserved still suffices.
        let mut max = big();
        max.reason = Reason::ProcessExit { pid: u32::MAX };
        max.meminfo.iter_mut().chain(max.vmstat.iter_mut()).for_each(|p| p.1 = u64::MAX);
        for z in &mut max.zones {
            (z.managed, z.free, z.min, z.low, z.high) = (u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX);
            z.free_per_order = vec![u64::MAX; 11];
        }
        for c in &mut max.slabs {
            (c.object_size, c.active_objs, c.num_objs, c.slabs) = (u64::MAX, u64::MAX, u64::MAX, u64::MAX);
        }
        for a in &mut max.vmalloc {
            (a.start, a.end, a.pages) = (u64::MAX, u64::MAX, u64::MAX);
        }
        for p in &mut max.processes {
            (p.pid, p.ppid, p.state) = (u32::MAX, u32::MAX, '\u{10ffff}');
            p.vm_size_kb = u64::MAX;
            p.vm_rss_kb = u64::MAX;
            p.rss_anon_kb = u64::MAX;
            p.rss_file_kb = u64::MAX;
            p.rss_shmem_kb = u64::MAX;
            p.vma_count = u64::MAX;
            p.page_faults = u64::MAX;
        }
        check(u64::MAX, u64::MAX, &max);
        let empty = Snapshot {
            reason: Reason::Interval,
            meminfo: vec![],
            zones: vec![],
            vmstat: vec![],
            slabs: vec![],
            vmalloc: vec![],
            processes: vec![],
            files: ProcFiles::default(),
        };
        check(0, 0, &empty);
    }

    #[test]
    fn the_bound_covers_the_message() {
        let s = big();
        let meminfo: Vec<(&str, u64)> = s.meminfo.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let view = SnapshotView {
            reason: s.reason,
            meminfo: &meminfo,
            zones: &[],
            vmstat: &meminfo,
            slabs: &[],
            vmalloc: &[],
            processes: &[],
            files: FilesView { vmallocinfo: &s.files.vmallocinfo, ..FilesView::default() },
        };
        assert!(encode_snapshot(1, 1, &view).len() <= bound(&view));
    }
}
