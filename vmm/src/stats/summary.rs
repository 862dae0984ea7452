//! `vmm stats FILE.jsonl [--plot OUT.svg]`: a recorded run (`--stats-out`)
//! summarised, and drawn with plotters (SVG backend; plotters' built-in
//! text layout, so no system fonts are read: the viewer renders the text).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use shared::stats::{Reason, Snapshot};

use super::{HostSample, SnapshotExt, StatsMessage};

/// A recorded run read back.
#[derive(Debug, Default)]
pub struct Recording {
    pub messages: Vec<StatsMessage>,
    /// Lines that did not parse: (line number, why). A run killed while
    /// writing leaves a torn last line; the rest is still good.
    pub bad_lines: Vec<(usize, String)>,
}

impl Recording {
    pub fn parse(text: &str) -> Self {
        let mut rec = Recording::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match StatsMessage::from_json_line(line) {
                Ok(m) => rec.messages.push(m),
                Err(why) => rec.bad_lines.push((i + 1, why)),
            }
        }
        rec
    }

    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    /// (guest seconds, snapshot), in order.
    pub fn snapshots(&self) -> impl Iterator<Item = (f64, &Snapshot)> {
        self.messages.iter().filter_map(|m| m.snapshot().map(|s| (m.header.guest_ns as f64 / 1e9, s)))
    }

    /// (guest seconds, the host when a snapshot arrived), in order.
    pub fn host_samples(&self) -> impl Iterator<Item = (f64, HostSample)> + '_ {
        self.messages.iter().filter_map(|m| m.host.map(|h| (m.header.guest_ns as f64 / 1e9, h)))
    }
}

/// Free memory in kB: `MemFree`, or the zones' free pages.
fn free_kb(s: &Snapshot) -> u64 {
    s.meminfo_kb("MemFree").unwrap_or_else(|| s.free_pages() * 4)
}

/// The text `vmm stats FILE` prints.
pub fn summarize(rec: &Recording) -> String {
    let mut out = String::new();
    let snaps: Vec<(f64, &Snapshot)> = rec.snapshots().collect();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, s) in &snaps {
        let r = match s.reason {
            Reason::Interval => "interval",
            Reason::ProcessExit { .. } => "process exit",
            Reason::Request => "request",
            Reason::Final => "final",
        };
        *by_reason.entry(r).or_default() += 1;
    }
    let reasons: Vec<String> = by_reason.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let _ = writeln!(
        out,
        "messages: {} ({} snapshots{}{}, {} replies)",
        rec.messages.len(),
        snaps.len(),
        if reasons.is_empty() { "" } else { ": " },
        reasons.join(", "),
        rec.messages.len() - snaps.len()
    );
    if !rec.bad_lines.is_empty() {
        let _ = writeln!(out, "unreadable lines: {} (first: line {}: {})", rec.bad_lines.len(), rec.bad_lines[0].0, rec.bad_lines[0].1);
    }
    if let (Some(first), Some(last)) = (rec.messages.first(), rec.messages.last()) {
        let seqs = last.header.seq.saturating_sub(first.header.seq) + 1;
        let missing = seqs.saturating_sub(rec.messages.len() as u64);
        let (t0, t1) = (first.header.guest_ns as f64 / 1e9, last.header.guest_ns as f64 / 1e9);
        let _ = writeln!(
            out,
            "time span: {t0:.3} s to {t1:.3} s guest time ({:.3} s); seq {} to {}, {missing} missing",
            t1 - t0,
            first.header.seq,
            last.header.seq
        );
    }
    if snaps.is_empty() {
        return out;
    }
    let min = snaps.iter().min_by_key(|(_, s)| free_kb(s)).expect("not empty");
    let max = snaps.iter().max_by_key(|(_, s)| free_kb(s)).expect("not empty");
    let _ = writeln!(out, "free memory: min {} kB (at {:.3} s), max {} kB (at {:.3} s)", free_kb(min.1), min.0, free_kb(max.1), max.0);

    // Peak RSS per process (pid, with the last command name seen).
    let mut peaks: BTreeMap<u32, (String, u64, f64)> = BTreeMap::new();
    for (t, s) in &snaps {
        for p in &s.processes {
            let e = peaks.entry(p.pid).or_insert_with(|| (p.comm.clone(), 0, *t));
            e.0.clone_from(&p.comm);
            if p.vm_rss_kb > e.1 || e.1 == 0 {
                (e.1, e.2) = (p.vm_rss_kb, *t);
            }
        }
    }
    let _ = writeln!(out, "peak RSS per process:");
    if peaks.is_empty() {
        let _ = writeln!(out, "  (no processes)");
    }
    for (pid, (comm, kb, t)) in &peaks {
        let _ = writeln!(out, "  {pid:>5} {comm:<16} {kb:>8} kB (at {t:.3} s)");
    }

    let (first, last) = (snaps[0].1, snaps[snaps.len() - 1].1);
    let mut faults = Vec::new();
    for name in ["pgfault", "pgmajfault", "cow_fault"] {
        if let Some(end) = last.vmstat(name) {
            let start = first.vmstat(name).unwrap_or(0);
            faults.push(format!("{name} {end} (+{} over the recording)", end.saturating_sub(start)));
        }
    }
    let _ = writeln!(out, "faults: {}", if faults.is_empty() { "(no counters)".into() } else { faults.join(", ") });
    if let Some(total) = last.meminfo_kb("SwapTotal").filter(|&t| t > 0) {
        let most = snaps.iter().map(|(_, s)| swap_used_kb(s)).max().unwrap_or(0);
        let moved = |name: &str| last.vmstat(name).unwrap_or(0).saturating_sub(first.vmstat(name).unwrap_or(0));
        let _ = writeln!(out, "swap: {total} kB, most in use {most} kB; pswpout +{}, pswpin +{} over the recording", moved("pswpout"), moved("pswpin"));
    }
    out
}

/// Swap in use in kB (`SwapTotal - SwapFree`; 0 without swap).
fn swap_used_kb(s: &Snapshot) -> u64 {
    s.meminfo_kb("SwapTotal").unwrap_or(0).saturating_sub(s.meminfo_kb("SwapFree").unwrap_or(0))
}

/// Draws free pages per order (summed over zones: blocks of order `o`
/// times `2^o`), RSS per process, and swap (pages in use, pages moved out
/// and in, major faults, since the first snapshot) over guest time into an
/// SVG file.
pub fn plot(rec: &Recording, out: &Path) -> Result<(), String> {
    use plotters::prelude::*;

    let snaps: Vec<(f64, &Snapshot)> = rec.snapshots().collect();
    if snaps.is_empty() {
        return Err("the recording has no snapshots to plot".into());
    }
    let t0 = snaps[0].0;
    let mut t1 = snaps[snaps.len() - 1].0;
    if t1 <= t0 {
        t1 = t0 + 1.0;
    }
    let orders = snaps.iter().flat_map(|(_, s)| s.zones.iter().map(|z| z.free_per_order.len())).max().unwrap_or(0);
    let free: Vec<Vec<(f64, f64)>> = (0..orders)
        .map(|o| snaps.iter().map(|(t, s)| (*t, s.zones.iter().map(|z| z.free_per_order.get(o).copied().unwrap_or(0) << o).sum::<u64>() as f64)).collect())
        .collect();
    let mut rss: BTreeMap<u32, (String, Vec<(f64, f64)>)> = BTreeMap::new();
    for (t, s) in &snaps {
        for p in &s.processes {
            let e = rss.entry(p.pid).or_insert_with(|| (p.comm.clone(), Vec::new()));
            e.1.push((*t, p.vm_rss_kb as f64));
        }
    }
    // The host's side: the VMM's own resident set (key 0, no pid uses it).
    let host: Vec<(f64, f64)> = rec.host_samples().map(|(t, h)| (t, h.vmm_rss_kb as f64)).collect();
    if !host.is_empty() {
        rss.insert(0, ("the VMM on the host".into(), host));
    }
    let since = |name: &str| -> Vec<(f64, f64)> {
        let start = snaps[0].1.vmstat(name).unwrap_or(0);
        snaps.iter().map(|(t, s)| (*t, s.vmstat(name).unwrap_or(0).saturating_sub(start) as f64)).collect()
    };
    let swap: Vec<(&str, Vec<(f64, f64)>)> = vec![
        ("swap in use", snaps.iter().map(|(t, s)| (*t, (swap_used_kb(s) / 4) as f64)).collect()),
        ("pswpout", since("pswpout")),
        ("pswpin", since("pswpin")),
        ("pgmajfault", since("pgmajfault")),
    ];
    let top = |series: &mut dyn Iterator<Item = f64>| series.fold(0.0f64, f64::max).max(1.0) * 1.05;
    let free_max = top(&mut free.iter().flatten().map(|p| p.1));
    let rss_max = top(&mut rss.values().flat_map(|(_, v)| v.iter().map(|p| p.1)));
    let swap_max = top(&mut swap.iter().flat_map(|(_, v)| v.iter().map(|p| p.1)));

    let e = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", out.display());
    let root = SVGBackend::new(out, (1100, 1350)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (upper, rest) = root.split_vertically(450);
    let (lower, bottom) = rest.split_vertically(450);

    let mut chart = ChartBuilder::on(&upper)
        .caption("free pages per order (all zones)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..t1, 0.0..free_max)
        .map_err(|x| e(&x))?;
    chart.configure_mesh().x_desc("guest time (s)").y_desc("pages").draw().map_err(|x| e(&x))?;
    for (o, points) in free.into_iter().enumerate() {
        let color = Palette99::pick(o).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(format!("order {o}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|x| e(&x))?;

    let mut chart = ChartBuilder::on(&lower)
        .caption("RSS per process", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..t1, 0.0..rss_max)
        .map_err(|x| e(&x))?;
    chart.configure_mesh().x_desc("guest time (s)").y_desc("VmRSS (kB)").draw().map_err(|x| e(&x))?;
    let any = !rss.is_empty();
    for (i, (pid, (comm, points))) in rss.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(if pid == 0 { comm.clone() } else { format!("{pid} {comm}") })
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if any {
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|x| e(&x))?;
    }

    let mut chart = ChartBuilder::on(&bottom)
        .caption("swap: pages in use, and pages moved and major faults since the start", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..t1, 0.0..swap_max)
        .map_err(|x| e(&x))?;
    chart.configure_mesh().x_desc("guest time (s)").y_desc("pages").draw().map_err(|x| e(&x))?;
    for (i, (name, points)) in swap.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::stats::{CommandResult, Header, Payload, ProcFiles, ProcessStats, Reply, ZoneStats, KIND_REPLY, KIND_SNAPSHOT, STATS_MAGIC, STATS_VERSION};

    fn snap(t: u64, seq: u64, free: u64, rss: u64, faults: u64, reason: Reason) -> StatsMessage {
        let proc_ = |pid: u32, rss: u64| ProcessStats {
            pid,
            ppid: 0,
            comm: format!("prog{pid}"),
            state: 'R',
            vm_size_kb: 1000,
            vm_rss_kb: rss,
            rss_anon_kb: rss,
            rss_file_kb: 0,
            rss_shmem_kb: 0,
            vma_count: 3,
            page_faults: 1,
            status: String::new(),
            maps: String::new(),
        };
        StatsMessage {
            header: Header { magic: STATS_MAGIC, version: STATS_VERSION, kind: KIND_SNAPSHOT, seq, guest_ns: t * 100_000_000 },
            payload: Payload::Snapshot(Snapshot {
                reason,
                meminfo: vec![("MemFree".into(), free), ("SwapTotal".into(), 8192), ("SwapFree".into(), 8192 - 4 * faults)],
                zones: vec![ZoneStats {
                    name: "DMA32".into(),
                    managed: 1000,
                    free: free / 4,
                    free_per_order: vec![free / 8, free / 32],
                    min: 0,
                    low: 0,
                    high: 0,
                }],
                vmstat: vec![("pgfault".into(), faults), ("pgmajfault".into(), 0), ("pswpout".into(), faults), ("pswpin".into(), faults / 2)],
                slabs: vec![],
                vmalloc: vec![],
                processes: vec![proc_(1, 100), proc_(2, rss)],
                files: ProcFiles::default(),
            }),
            host: Some(HostSample { vmm_rss_kb: 20_000 + rss, guest_resident_kb: 10_000 + rss }),
        }
    }

    fn recording() -> String {
        let reply = StatsMessage {
            header: Header { magic: STATS_MAGIC, version: STATS_VERSION, kind: KIND_REPLY, seq: 3, guest_ns: 250_000_000 },
            payload: Payload::Reply(Reply { id: 1, result: CommandResult::Done }),
            host: None,
        };
        let lines = [
            snap(1, 1, 5000, 200, 10, Reason::Interval).to_json_line(),
            snap(2, 2, 4000, 900, 40, Reason::Interval).to_json_line(),
            reply.to_json_line(),
            snap(5, 5, 4800, 300, 90, Reason::Final).to_json_line(),
            "{\"seq\":6,\"guest_".to_string(),
        ];
        lines.join("\n") + "\n"
    }

    #[test]
    fn the_summary_has_counts_span_memory_peaks_and_faults() {
        let rec = Recording::parse(&recording());
        assert_eq!(rec.messages.len(), 4);
        assert_eq!(rec.bad_lines.len(), 1);
        let s = summarize(&rec);
        assert!(s.contains("messages: 4 (3 snapshots: 1 final, 2 interval, 1 replies)"), "{s}");
        assert!(s.contains("unreadable lines: 1 (first: line 5"), "{s}");
        assert!(s.contains("time span: 0.100 s to 0.500 s guest time (0.400 s); seq 1 to 5, 1 missing"), "{s}");
        assert!(s.contains("free memory: min 4000 kB (at 0.200 s), max 5000 kB (at 0.100 s)"), "{s}");
        assert!(s.contains("    2 prog2                 900 kB (at 0.200 s)"), "{s}");
        assert!(s.contains("faults: pgfault 90 (+80 over the recording), pgmajfault 0 (+0 over the recording)"), "{s}");
        assert!(s.contains("swap: 8192 kB, most in use 360 kB; pswpout +80, pswpin +40 over the recording"), "{s}");
        assert_eq!(summarize(&Recording::default()), "messages: 0 (0 snapshots, 0 replies)\n");
    }

    #[test]
    fn the_plot_is_an_svg_with_both_charts() {
        let rec = Recording::parse(&recording());
        let path = std::env::temp_dir().join(format!("vmm-plot-unit-{}.svg", std::process::id()));
        plot(&rec, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        for text in [
            "free pages per order",
            "RSS per process",
            "order 1",
            "2 prog2",
            "guest time (s)",
            "swap: pages in use",
            "pswpout",
            "pgmajfault",
            "the VMM on the host",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        assert!(svg.matches("<polyline").count() >= 9, "two orders, two processes, the VMM and four swap series");
        assert!(plot(&Recording::default(), &path).unwrap_err().contains("no snapshots"));
    }
}
