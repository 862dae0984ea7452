//! Host views of snapshots: Linux-format `/proc` files in a directory
//! (`--proc-out`) and a compact summary table (`--stats table`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use shared::stats::{Reason, Snapshot};

use super::{SnapshotExt, StatsReport};

/// The `/proc` files of a snapshot, written into a directory: `meminfo`,
/// `buddyinfo`, `zoneinfo`, `vmstat`, `slabinfo`, `vmallocinfo`, and
/// `PID/status`, `PID/maps` for each process in the snapshot. Each file is
/// replaced whole (written aside, then renamed), and the `PID` directories
/// of processes gone since the last write are removed.
pub struct ProcOut {
    dir: PathBuf,
    pids: BTreeSet<u32>,
}

impl ProcOut {
    /// Creates `dir` (and its parents) if needed.
    pub fn new(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self { dir: dir.to_owned(), pids: BTreeSet::new() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write(&mut self, snap: &Snapshot) -> io::Result<()> {
        let f = &snap.files;
        for (name, text) in [
            ("meminfo", &f.meminfo),
            ("buddyinfo", &f.buddyinfo),
            ("zoneinfo", &f.zoneinfo),
            ("vmstat", &f.vmstat),
            ("slabinfo", &f.slabinfo),
            ("vmallocinfo", &f.vmallocinfo),
        ] {
            replace(&self.dir.join(name), text)?;
        }
        let mut now = BTreeSet::new();
        for p in &snap.processes {
            let dir = self.dir.join(p.pid.to_string());
            std::fs::create_dir_all(&dir)?;
            replace(&dir.join("status"), &p.status)?;
            replace(&dir.join("maps"), &p.maps)?;
            now.insert(p.pid);
        }
        for gone in self.pids.difference(&now) {
            let _ = std::fs::remove_dir_all(self.dir.join(gone.to_string()));
        }
        self.pids = now;
        Ok(())
    }
}

fn replace(path: &Path, text: &str) -> io::Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    std::fs::write(&aside, text)?;
    std::fs::rename(&aside, path)
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::Interval => "interval".into(),
        Reason::ProcessExit { pid } => format!("exit of pid {pid}"),
        Reason::Request => "request".into(),
        Reason::Final => "final".into(),
    }
}

/// How many slab caches the table lists.
const TOP_SLABS: usize = 10;

/// The `--stats table` summary of a run: counts, then from the last
/// snapshot free memory per zone and order, the top slab caches by active
/// objects, each process's memory and the fault counters.
pub fn table(report: &StatsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vmm: stats: {} messages ({} snapshots, {} replies), {} lost, {} bad chains refused",
        report.received, report.snapshots, report.replies, report.lost, report.rejected
    );
    let Some((header, snap)) = &report.last_snapshot else {
        out.push_str("vmm: stats: no snapshot arrived from the guest\n");
        return out;
    };
    let _ = writeln!(out, "last snapshot: #{} ({}) at {:.3} s guest time", header.seq, reason(&snap.reason), header.guest_ns as f64 / 1e9);
    if let (Some(total), Some(free)) = (snap.meminfo_kb("MemTotal"), snap.meminfo_kb("MemFree")) {
        let _ = writeln!(out, "memory: {free} kB free of {total} kB");
    }
    if let Some(h) = report.last_host {
        let _ = writeln!(out, "host: VMM RSS {} kB, guest RAM resident {} kB", h.vmm_rss_kb, h.guest_resident_kb);
    }

    let orders = snap.zones.iter().map(|z| z.free_per_order.len()).max().unwrap_or(0);
    let _ = write!(out, "{:<8} {:>10} {:>10}", "zone", "free kB", "managed kB");
    for o in 0..orders {
        let _ = write!(out, " {:>6}", format!("o{o}"));
    }
    out.push('\n');
    for z in &snap.zones {
        let _ = write!(out, "{:<8} {:>10} {:>10}", z.name, z.free * 4, z.managed * 4);
        for o in 0..orders {
            let _ = write!(out, " {:>6}", z.free_per_order.get(o).copied().unwrap_or(0));
        }
        out.push('\n');
    }

    let mut slabs: Vec<_> = snap.slabs.iter().collect();
    slabs.sort_by(|a, b| b.active_objs.cmp(&a.active_objs).then(a.name.cmp(&b.name)));
    let _ = writeln!(out, "{:<24} {:>8} {:>10} {:>10} {:>7}", "slab cache", "objsize", "active", "total", "slabs");
    for s in slabs.iter().take(TOP_SLABS) {
        let _ = writeln!(out, "{:<24} {:>8} {:>10} {:>10} {:>7}", s.name, s.object_size, s.active_objs, s.num_objs, s.slabs);
    }

    let _ = writeln!(
        out,
        "{:>5} {:>5} {:<16} {:>2} {:>10} {:>10} {:>9} {:>9} {:>5} {:>8}",
        "pid", "ppid", "comm", "st", "VmSize kB", "VmRSS kB", "anon kB", "file kB", "vmas", "faults"
    );
    for p in &snap.processes {
        let _ = writeln!(
            out,
            "{:>5} {:>5} {:<16} {:>2} {:>10} {:>10} {:>9} {:>9} {:>5} {:>8}",
            p.pid, p.ppid, p.comm, p.state, p.vm_size_kb, p.vm_rss_kb, p.rss_anon_kb, p.rss_file_kb, p.vma_count, p.page_faults
        );
    }
    if snap.processes.is_empty() {
        out.push_str("  (no processes)\n");
    }

    let faults: Vec<String> = ["pgfault", "pgmajfault", "cow_fault"].iter().filter_map(|name| snap.vmstat(name).map(|v| format!("{name} {v}"))).collect();
    let _ = writeln!(out, "faults: {}", if faults.is_empty() { "(no counters)".into() } else { faults.join(", ") });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::stats::{Header, ProcFiles, ProcessStats, SlabStats, ZoneStats, KIND_SNAPSHOT, STATS_MAGIC, STATS_VERSION};

    pub fn sample(pids: &[u32]) -> Snapshot {
        Snapshot {
            reason: Reason::Final,
            meminfo: vec![("MemTotal".into(), 131_072), ("MemFree".into(), 100_000)],
            zones: vec![ZoneStats { name: "DMA32".into(), managed: 30000, free: 25000, free_per_order: vec![1, 2, 3], min: 1, low: 2, high: 3 }],
            vmstat: vec![("pgfault".into(), 1234), ("cow_fault".into(), 5)],
            slabs: (0..12).map(|i| SlabStats { name: format!("cache-{i}"), object_size: 64, active_objs: i * 10, num_objs: 200, slabs: 3 }).collect(),
            vmalloc: vec![],
            processes: pids
                .iter()
                .map(|&pid| ProcessStats {
                    pid,
                    ppid: 1,
                    comm: format!("p{pid}"),
                    state: 'S',
                    vm_size_kb: 100,
                    vm_rss_kb: 40,
                    rss_anon_kb: 30,
                    rss_file_kb: 10,
                    rss_shmem_kb: 0,
                    vma_count: 4,
                    page_faults: 12,
                    status: format!("Name:\tp{pid}\nPid:\t{pid}\n"),
                    maps: "00400000-00401000 r-xp 00000000 00:00 0 /bin/x\n".into(),
                })
                .collect(),
            files: ProcFiles { meminfo: "MemTotal:  131072 kB\n".into(), buddyinfo: "Node 0, zone DMA32 1 2 3\n".into(), ..ProcFiles::default() },
        }
    }

    #[test]
    fn proc_out_writes_files_and_removes_gone_processes() {
        let dir = std::env::temp_dir().join(format!("vmm-procout-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut out = ProcOut::new(&dir).unwrap();
        out.write(&sample(&[1, 7])).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("meminfo")).unwrap(), "MemTotal:  131072 kB\n");
        assert_eq!(std::fs::read_to_string(dir.join("zoneinfo")).unwrap(), "");
        assert_eq!(std::fs::read_to_string(dir.join("7/status")).unwrap(), "Name:\tp7\nPid:\t7\n");
        assert!(dir.join("1/maps").is_file());
        out.write(&sample(&[1])).unwrap();
        assert!(!dir.join("7").exists());
        assert!(dir.join("1/status").is_file());
        assert!(!dir.join("meminfo.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_table_names_zones_slabs_processes_and_faults() {
        let header = Header { magic: STATS_MAGIC, version: STATS_VERSION, kind: KIND_SNAPSHOT, seq: 9, guest_ns: 1_500_000_000 };
        let host = Some(crate::stats::HostSample { vmm_rss_kb: 40_000, guest_resident_kb: 25_000 });
        let report =
            StatsReport { received: 3, snapshots: 2, replies: 1, last_snapshot: Some((header, sample(&[1]))), last_host: host, ..StatsReport::default() };
        let t = table(&report);
        assert!(t.contains("host: VMM RSS 40000 kB, guest RAM resident 25000 kB"), "{t}");
        assert!(t.contains("last snapshot: #9 (final) at 1.500 s guest time"), "{t}");
        assert!(t.contains("DMA32        100000     120000      1      2      3"), "{t}");
        assert!(t.contains("cache-11"), "{t}");
        assert!(!t.contains("cache-1 "), "only the top 10: {t}");
        assert!(t.contains("    1     1 p1                S        100         40"), "{t}");
        assert!(t.contains("faults: pgfault 1234, cow_fault 5"), "{t}");
        assert!(table(&StatsReport::default()).contains("no snapshot arrived"));
    }
}
