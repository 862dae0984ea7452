//! gdb `monitor` commands that read the guest's statistics channel, and
//! the small text helpers of the others (`phys`, `translate`, which need
//! the vCPU and live in [`super::server`]).

use std::fmt::Write as _;

use shared::stats::Snapshot;

use crate::stats::{Hub, StatsMessage};

/// `monitor help`.
pub const HELP: &str = "\
monitor commands (the /proc views are from the latest stats snapshot the guest sent):
  meminfo              /proc/meminfo
  buddyinfo            /proc/buddyinfo
  slabinfo             /proc/slabinfo
  ps                   the processes
  maps PID             /proc/PID/maps
  phys ADDR [LEN]      hex dump of guest physical memory (LEN <= 4096, default 64)
  translate VADDR      walk the page tables of the current CR3 for VADDR
  help                 this list";

/// Runs a statistics command; unknown commands get the help.
pub(crate) fn stats_command(command: &str, args: &[&str], hub: &Hub) -> String {
    let snapshots: Vec<std::sync::Arc<StatsMessage>> = {
        let st = hub.lock();
        // Newest first: the recent messages, then the last snapshot (kept
        // even when it has left the recent ones).
        st.recent.iter().rev().cloned().chain(st.last_snapshot.clone()).filter(|m| m.snapshot().is_some()).collect()
    };
    let needs_snapshot = matches!(command, "meminfo" | "buddyinfo" | "slabinfo" | "ps" | "maps");
    if !needs_snapshot {
        return if command == "help" { HELP.into() } else { format!("unknown monitor command {command:?}\n{HELP}") };
    }
    let Some(latest) = snapshots.first() else {
        return "no statistics snapshot has arrived from the guest yet (the kernel sends one every stats_interval once its stats driver is up)".into();
    };
    let snap = |m: &StatsMessage| m.snapshot().cloned();
    let Some(newest) = snap(latest) else { return String::new() };
    let (text, from) = match command {
        "meminfo" => (meminfo(&newest), latest),
        "buddyinfo" => (buddyinfo(&newest), latest),
        "ps" => (ps(&newest), latest),
        // /proc/slabinfo needs the cache layouts, which only the text has.
        "slabinfo" => match snapshots.iter().find(|m| m.snapshot().is_some_and(|s| !s.files.slabinfo.is_empty())) {
            Some(m) => (m.snapshot().map(|s| s.files.slabinfo.clone()).unwrap_or_default(), m),
            None => (slab_records(&newest), latest),
        },
        _ => {
            let Some(pid) = args.first().and_then(|a| a.parse::<u32>().ok()) else {
                return "usage: monitor maps PID".into();
            };
            let carrying = snapshots.iter().find_map(|m| {
                let p = m.snapshot()?.processes.iter().find(|p| p.pid == pid && !p.maps.is_empty())?;
                Some((p.maps.clone(), m))
            });
            match carrying {
                Some(found) => found,
                None if newest.processes.iter().any(|p| p.pid == pid) => {
                    return format!(
                        "no snapshot has carried the maps of pid {pid} yet: periodic snapshots carry the records only; a requested or final one carries the texts, and stats_full=1 on the kernel command line makes every one carry them"
                    )
                }
                None => return format!("no process {pid} in the latest snapshot (monitor ps lists them)"),
            }
        }
    };
    format!("{text}{}", age_note(from))
}

/// `/proc/meminfo` from the snapshot's records, as the kernel prints it
/// (Linux `show_val_kb`: the name and colon padded to 16 columns, the
/// value right-aligned in 8, ` kB`).
pub fn meminfo(snap: &Snapshot) -> String {
    snap.meminfo.iter().map(|(name, kb)| format!("{:<16}{kb:>8} kB\n", format!("{name}:"))).collect()
}

/// `/proc/buddyinfo` from the zone records (populated zones; every count
/// followed by a space, as in Linux).
pub fn buddyinfo(snap: &Snapshot) -> String {
    let mut out = String::new();
    for z in snap.zones.iter().filter(|z| z.managed > 0) {
        let _ = write!(out, "Node 0, zone {:>8} ", z.name);
        for n in &z.free_per_order {
            let _ = write!(out, "{n:>6} ");
        }
        out.push('\n');
    }
    out
}

/// The slab records when no snapshot carried /proc/slabinfo yet.
fn slab_records(snap: &Snapshot) -> String {
    let mut out = String::from("# name            <active_objs> <num_objs> <objsize> <num_slabs>   (records of a periodic snapshot; the full /proc/slabinfo comes with a requested or final one)\n");
    for s in &snap.slabs {
        let _ = writeln!(out, "{:<17} {:>6} {:>6} {:>6} {:>6}", s.name, s.active_objs, s.num_objs, s.object_size, s.slabs);
    }
    out
}

/// A `ps`-like table of the snapshot's processes.
pub fn ps(snap: &Snapshot) -> String {
    let mut out = String::from("  PID  PPID S    VSZ    RSS   ANON   FILE  SHMEM  VMAS  FAULTS COMMAND\n");
    for p in &snap.processes {
        let _ = writeln!(
            out,
            "{:>5} {:>5} {} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>7} {}",
            p.pid, p.ppid, p.state, p.vm_size_kb, p.vm_rss_kb, p.rss_anon_kb, p.rss_file_kb, p.rss_shmem_kb, p.vma_count, p.page_faults, p.comm
        );
    }
    out
}

/// Which snapshot a view comes from, as a trailing line.
fn age_note(message: &StatsMessage) -> String {
    format!("(snapshot {} at guest time {:.3} s)\n", message.header.seq, message.header.guest_ns as f64 / 1e9)
}

/// A number as gdb users type them: `0x` hex or decimal.
pub fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// `xxd`-style lines: address, 16 bytes in hex, then as ASCII.
pub fn hexdump(addr: u64, bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:016x}:", addr + 16 * i as u64);
        for b in chunk {
            let _ = write!(out, " {b:02x}");
        }
        out.push_str(&"   ".repeat(16 - chunk.len()));
        out.push_str("  ");
        out.extend(chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x1000"), Some(0x1000));
        assert_eq!(parse_number("4096"), Some(4096));
        assert_eq!(parse_number("0xzz"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn hexdump_lines() {
        let text = hexdump(0x1000, b"Hello, gdb!\0\x01\x02\x03\x04\x05\x06");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "0000000000001000: 48 65 6c 6c 6f 2c 20 67 64 62 21 00 01 02 03 04  Hello, gdb!.....");
        assert_eq!(lines[1], "0000000000001010: 05 06                                            ..");
    }

    #[test]
    fn without_a_snapshot_the_commands_say_so() {
        let hub = Hub::default();
        assert!(stats_command("meminfo", &[], &hub).contains("no statistics snapshot"));
        assert_eq!(stats_command("help", &[], &hub), HELP);
        assert!(stats_command("frobnicate", &[], &hub).starts_with("unknown monitor command \"frobnicate\""));
    }
}
