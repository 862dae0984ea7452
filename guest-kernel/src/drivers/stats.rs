//! The stats channel's driver: the guest side of the virtio-mmio device
//! described by `BootInfo::stats_mmio_base` (wire format and registers in
//! `shared::stats`).
//!
//! - Queue 0 (`stats`, guest -> host): every message is one buffer holding
//!   one `shared::stats::encode` message (snapshots are written by
//!   `stats_wire`, byte for byte the same, without building an owned
//!   `Snapshot`), sent synchronously from where it lies (kmalloc memory is
//!   physically contiguous), without a copy: the VMM
//!   serves the notify during the MMIO exit, so the buffer normally comes
//!   back before the write completes; the wait is bounded and failures are
//!   counted.
//! - Queue 1 (`control`, host -> guest): page-sized device-writable
//!   buffers stay posted; the host returns one with a command in it, the
//!   guest answers on queue 0 (`Payload::Reply`) and posts it again.
//!
//! Work happens only at safe points, never in an interrupt handler: the
//! timer tick ([`tick`]) just raises a flag when a periodic snapshot is due
//! or the control queue has something; the task loop (before returning to
//! user mode after an interrupt) and the idle loop call [`poll`] /
//! [`run_pending`]. Process exits ([`note_exit`]) are reported the same way.
//! The final snapshot is sent from the boot context right before power-off
//! ([`power_off`]).
//!
//! Processes started by the host (`Op::Run`) have parent pid 0: the kernel
//! reaps them itself and answers `Exited`.
//!
//! Cost, where ring 0 is emulated (~1 µs per instruction): a periodic or
//! process-exit snapshot carries the records only (~12k instructions,
//! ~10 ms); a requested or final one also carries the /proc texts and
//! each process's `status` and `maps` (~250k instructions, ~200 ms, most
//! of it formatting slabinfo). `stats_full=1` makes every snapshot full;
//! `stats_debug=1` prints what each one cost.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use shared::boot::BootInfo;
use shared::stats::{self as wire, Command, CommandResult, Op, Payload, Reason, Reply, CONTROL_QUEUE, STATS_QUEUE};

use super::stats_channel::{setup, Channel, CONTROL_BUF_LEN};
use super::stats_collect::{encode_snapshot, Detail};
use super::stats_host_procs as host_procs;
use super::stats_text::{interval_ticks, parse_interval_ms, DEFAULT_INTERVAL_MS};
use super::virtio_mmio::Buf;
use crate::arch::cpu::rdtsc;
use crate::cmdline::Cmdline;
use crate::mm::addr::{PhysAddr, PAGE_OFFSET, PAGE_SIZE};
use crate::sync::SpinLock;

/// How long a sent message may stay with the device.
const SEND_TIMEOUT_NS: u64 = 200_000_000;
/// Exits remembered between two safe points (more are counted, and
/// their ProcessExit snapshots skipped).
const EXIT_LOG: usize = 64;
/// Linux errno for a command refused because the guest is going down.
const ESHUTDOWN: i32 = 108;

static CHANNEL: SpinLock<Option<Channel>> = SpinLock::new(None);

struct State {
    exits: [u32; EXIT_LOG],
    nr_exits: usize,
}

static STATE: SpinLock<State> = SpinLock::new(State { exits: [0; EXIT_LOG], nr_exits: 0 });

/// A device was found and set up, and has not failed since.
static PRESENT: AtomicBool = AtomicBool::new(false);
/// Work is due at the next safe point.
static PENDING: AtomicBool = AtomicBool::new(false);
/// A safe point is running (no recursion).
static BUSY: AtomicBool = AtomicBool::new(false);
/// TSC value at which the next periodic snapshot is due (`u64::MAX`: off).
static NEXT_TSC: AtomicU64 = AtomicU64::new(u64::MAX);
/// `stats_interval` in TSC cycles (0: off).
static INTERVAL_TSC: AtomicU64 = AtomicU64::new(0);
/// The control queue's used index (kernel address), and the index the
/// driver has read up to: the tick compares them.
static CONTROL_USED_IDX: AtomicU64 = AtomicU64::new(0);
static CONTROL_SEEN: AtomicU64 = AtomicU64::new(0);
/// The host asked for a shutdown.
static SHUTDOWN: AtomicBool = AtomicBool::new(false);
/// `stats_debug=1`: a console line per snapshot with its cost.
static DEBUG: AtomicBool = AtomicBool::new(false);

/// Message counter (the header's `seq`).
static SEQ: AtomicU64 = AtomicU64::new(0);
/// Counters, reported at power-off and in every snapshot's vmstat.
static SENT: AtomicU64 = AtomicU64::new(0);
static SENT_BYTES: AtomicU64 = AtomicU64::new(0);
static SEND_FAILURES: AtomicU64 = AtomicU64::new(0);
static BAD_USED: AtomicU64 = AtomicU64::new(0);
static BAD_COMMANDS: AtomicU64 = AtomicU64::new(0);
static EXITS_DROPPED: AtomicU64 = AtomicU64::new(0);
static SNAPSHOTS: AtomicU64 = AtomicU64::new(0);
/// Total time spent building, encoding and sending snapshots.
static SNAPSHOT_NS: AtomicU64 = AtomicU64::new(0);

/// Finds and sets up the device (before init runs, so that its memory is
/// part of the leak check's baseline). Without one (`stats_mmio_base` 0,
/// or a device that does not answer as expected) the kernel runs on
/// without statistics.
pub fn init(info: &BootInfo, cmdline: &Cmdline) {
    crate::proc::notify::register_observer(crate::proc::notify::Observer { tick, poll, pending, run_pending, task_exit: note_exit });
    let base = info.stats_mmio_base;
    if base == 0 {
        printk!("stats: no stats device");
        return;
    }
    let interval_ms = match cmdline.get("stats_interval") {
        None => DEFAULT_INTERVAL_MS,
        Some(v) => parse_interval_ms(v).unwrap_or_else(|| {
            printk!("stats: bad stats_interval={v:?}, using {DEFAULT_INTERVAL_MS} ms");
            DEFAULT_INTERVAL_MS
        }),
    };
    DEBUG.store(cmdline.get("stats_debug") == Some("1"), Relaxed);
    ALWAYS_FULL.store(cmdline.get("stats_full") == Some("1"), Relaxed);
    let channel = match setup(base) {
        Ok(ch) => ch,
        Err(e) => {
            printk!("stats: device at {base:#x} not used: {e}");
            return;
        }
    };
    let (nstats, ncontrol) = (channel.stats.size(), channel.control.size());
    CONTROL_USED_IDX.store(channel.control.used_idx_ptr() as u64, Relaxed);
    *CHANNEL.lock() = Some(channel);
    PRESENT.store(true, Relaxed);
    // The timer ticks at HZ; the interval is measured on the TSC.
    let (tsc_khz, _) = crate::time::calibrate();
    if interval_ticks(interval_ms, crate::proc::HZ).is_some() {
        let cycles = interval_ms.saturating_mul(tsc_khz).max(1);
        INTERVAL_TSC.store(cycles, Relaxed);
        NEXT_TSC.store(rdtsc().saturating_add(cycles), Relaxed);
    }
    if cmdline.get("test") == Some("virtio-bad-desc") {
        plant_bad_chains();
    }
    let every = if interval_ms == 0 { String::from("no periodic snapshots") } else { alloc::format!("a snapshot every {interval_ms} ms") };
    printk!("stats: virtio-mmio device at {base:#x} irq {} (polled), queues {nstats}+{ncontrol}, {every}", info.stats_irq);
}

/// `test=virtio-bad-desc`: posts chains the device must refuse (a buffer
/// outside guest RAM, a chain that loops, a chain longer than
/// `MESSAGE_MAX`) and takes them back; the channel must keep working (the
/// final snapshot follows at power-off).
fn plant_bad_chains() {
    const OUTSIDE_RAM: u64 = 0x7fff_0000_0000;
    // Device-readable buffers in guest RAM that the device may read
    // harmlessly: the kernel image.
    let image = crate::mm::addr::__pa_symbol(plant_bad_chains as *const u8).as_u64() & !(PAGE_SIZE - 1);
    let half = (wire::MESSAGE_MAX / 2 + PAGE_SIZE as usize) as u32;
    printk!("test: posting bad descriptor chains on the stats queue, planted by test=virtio-bad-desc");
    let mut guard = CHANNEL.lock();
    let Some(ch) = guard.as_mut() else { return };
    let out = Buf { addr: OUTSIDE_RAM, len: 64, device_writes: false };
    let looped = Buf { addr: image, len: 64, device_writes: false };
    let big = Buf { addr: image, len: half, device_writes: false };
    let posted = [ch.stats.add(&[out], 0), ch.stats.add_looping_chain(looped, 0), ch.stats.add(&[big, big], 0)];
    ch.mmio.notify(STATS_QUEUE);
    let mut returned = 0;
    for _ in 0..1000 {
        while let Some(used) = ch.stats.pop_used() {
            match used {
                Ok(u) if u.len == 0 => returned += 1,
                _ => {
                    BAD_USED.fetch_add(1, Relaxed);
                }
            }
        }
        if returned == posted.len() {
            break;
        }
        core::hint::spin_loop();
    }
    let nposted = posted.iter().flatten().count();
    printk!("test: virtio-bad-desc: {nposted} bad chains posted, {returned} returned unused");
}

/// From the timer interrupt: flags work for the next safe point. Cheap: a
/// few loads and `rdtsc`.
#[inline]
pub fn tick() {
    if host_procs::reap_deferred() {
        PENDING.store(true, Relaxed);
    }
    if !PRESENT.load(Relaxed) {
        return;
    }
    let used = CONTROL_USED_IDX.load(Relaxed);
    // SAFETY: the control queue's used index, in its ring page (lowmem, never freed); the device writes it, hence volatile.
    let control = used != 0 && unsafe { core::ptr::read_volatile(used as *const u16) } as u64 != CONTROL_SEEN.load(Relaxed);
    if control || rdtsc() >= NEXT_TSC.load(Relaxed) {
        PENDING.store(true, Relaxed);
    }
}

/// Whether a safe point has work to do.
#[inline]
pub fn pending() -> bool {
    PENDING.load(Relaxed)
}

/// A safe point: does the pending work, if any.
#[inline]
pub fn poll() {
    if pending() {
        run_pending();
    }
}

/// A process is exiting (its memory already released): report it at the
/// next safe point.
pub fn note_exit(pid: u32, status: i32) {
    if !PRESENT.load(Relaxed) {
        if host_procs::any() {
            // Still reap the host's processes.
            PENDING.store(true, Relaxed);
        }
        return;
    }
    host_procs::note_exit(pid, status);
    let mut st = STATE.lock();
    if st.nr_exits < EXIT_LOG {
        let n = st.nr_exits;
        st.exits[n] = pid;
        st.nr_exits += 1;
    } else {
        EXITS_DROPPED.fetch_add(1, Relaxed);
    }
    drop(st);
    PENDING.store(true, Relaxed);
}

/// The work of a safe point: reap the host's exited processes, report
/// exits, serve commands, send the periodic snapshot when due.
pub fn run_pending() {
    PENDING.store(false, Relaxed);
    if BUSY.swap(true, Relaxed) {
        return;
    }
    if host_procs::any() {
        host_procs::reap();
    }
    if !PRESENT.load(Relaxed) {
        BUSY.store(false, Relaxed);
        return;
    }
    report_exits();
    poll_control(false);
    if rdtsc() >= NEXT_TSC.load(Relaxed) {
        // A periodic snapshot allocates tens of KiB, from the reserves if
        // need be (a recording should show memory pressure too); only
        // when they are nearly gone does it wait for the next interval
        // (counted as skipped).
        if crate::mm::buddy::page_alloc().nr_free_pages_all() < SNAPSHOT_MIN_FREE_PAGES {
            SNAPSHOTS_SKIPPED.fetch_add(1, Relaxed);
        } else {
            send_snapshot(Reason::Interval);
        }
        // From the end of this one: snapshots never take all the CPU.
        let interval = INTERVAL_TSC.load(Relaxed);
        NEXT_TSC.store(if interval == 0 { u64::MAX } else { rdtsc().saturating_add(interval) }, Relaxed);
    }
    BUSY.store(false, Relaxed);
}

/// Right before power-off, from the boot context (init has exited, or
/// there was none): answers what the host still asked, reports the last
/// exits, sends the final snapshot. Returns the exit code to power off
/// with (0 after a host `Shutdown`).
pub fn power_off(code: u32) -> u32 {
    let code = if SHUTDOWN.load(Relaxed) { 0 } else { code };
    if !PRESENT.load(Relaxed) {
        if SEND_FAILURES.load(Relaxed) > 0 {
            printk!("stats: no final snapshot: the device failed");
        }
        return code;
    }
    BUSY.store(true, Relaxed);
    poll_control(true);
    report_exits();
    // Processes the host started that died with init (or were never
    // reaped): their status, or SIGKILL.
    for s in host_procs::take_all() {
        reply(s.id, CommandResult::Exited { pid: s.pid, status: s.status.unwrap_or(crate::proc::SIGKILL) });
    }
    send_snapshot(Reason::Final);
    let snapshots = SNAPSHOTS.load(Relaxed);
    let avg_us = SNAPSHOT_NS.load(Relaxed) / snapshots.max(1) / 1000;
    let failed = SEND_FAILURES.load(Relaxed) + BAD_USED.load(Relaxed) + BAD_COMMANDS.load(Relaxed) + EXITS_DROPPED.load(Relaxed);
    // Quiet when all went well: tests read the console up to "reboot:".
    if failed != 0 || DEBUG.load(Relaxed) {
        printk!(
            "stats: {} messages ({} bytes) sent, {} failed; {snapshots} snapshots, {avg_us} us each on average",
            SENT.load(Relaxed),
            SENT_BYTES.load(Relaxed),
            SEND_FAILURES.load(Relaxed)
        );
    }
    code
}

// --- Exits and shutdown, told to the host. ---

/// Kills init (and with it everything else) for a host `Shutdown`; the
/// boot context then powers off (see [`power_off`]).
fn request_shutdown() {
    SHUTDOWN.store(true, Relaxed);
    printk!("stats: shutdown requested by the host");
    if let Some(init) = crate::proc::sched::task(1) {
        if init.state != crate::proc::sched::TaskState::Zombie {
            init.pending_kill = Some(crate::proc::SIGKILL);
            crate::proc::sched::wake(1);
        }
    }
}

/// ProcessExit snapshots for the exits noted since the last safe point,
/// each followed by the `Exited` reply when the host started it.
fn report_exits() {
    let (pids, n) = {
        let mut st = STATE.lock();
        let n = core::mem::take(&mut st.nr_exits);
        (st.exits, n)
    };
    for &pid in &pids[..n] {
        send_snapshot(Reason::ProcessExit { pid });
        reply_exited(Some(pid));
    }
    // Host processes whose exit did not fit the log.
    reply_exited(None);
}

/// `Exited` for the host's processes that exited (`pid`: only that one).
fn reply_exited(pid: Option<u32>) {
    while let Some(s) = host_procs::take_exited(pid) {
        reply(s.id, CommandResult::Exited { pid: s.pid, status: s.status.unwrap_or(0) });
    }
}

// --- The control queue. ---

/// Serves every command the host has returned on the control queue,
/// posting each buffer again. `final_pass`: the guest is powering off, a
/// `Run` is refused.
fn poll_control(final_pass: bool) {
    loop {
        let cmd = {
            let mut guard = CHANNEL.lock();
            let Some(ch) = guard.as_mut() else { return };
            let Some(used) = ch.control.pop_used() else {
                CONTROL_SEEN.store(ch.control.last_used() as u64, Relaxed);
                return;
            };
            let Ok(used) = used else {
                BAD_USED.fetch_add(1, Relaxed);
                continue;
            };
            let Some(&pa) = ch.control_bufs.get(used.token as usize) else {
                BAD_USED.fetch_add(1, Relaxed);
                continue;
            };
            let len = (used.len as usize).min(CONTROL_BUF_LEN);
            let cmd = if len == 0 {
                // The host found the chain bad and returned it unused.
                None
            } else {
                // SAFETY: the buffer is a lowmem page of ours that the device returned (it no longer writes it); `len` is bounded by its size.
                let bytes = unsafe { core::slice::from_raw_parts(crate::mm::addr::__va(PhysAddr::new(pa)).as_ptr::<u8>(), len) };
                wire::decode_command(bytes).ok()
            };
            if len != 0 && cmd.is_none() {
                BAD_COMMANDS.fetch_add(1, Relaxed);
                printk!("stats: a control message of {len} bytes does not decode; ignored");
            }
            ch.control.add(&[Buf { addr: pa, len: CONTROL_BUF_LEN as u32, device_writes: true }], used.token);
            ch.mmio.notify(CONTROL_QUEUE);
            cmd
        };
        if let Some(cmd) = cmd {
            serve(cmd, final_pass);
        }
    }
}

fn serve(cmd: Command, final_pass: bool) {
    let id = cmd.id;
    match cmd.op {
        Op::Snapshot => {
            send_snapshot(Reason::Request);
            reply(id, CommandResult::Done);
        }
        Op::Run { argv } if final_pass => {
            let _ = argv;
            reply(id, CommandResult::Failed { errno: ESHUTDOWN });
        }
        Op::Run { argv } => match host_procs::spawn(&argv, id) {
            Ok(pid) => {
                printk!("stats: started {} as pid {pid} for the host", argv[0]);
                reply(id, CommandResult::Started { pid });
            }
            Err(errno) => {
                printk!("stats: cannot start {} for the host: {}", argv.first().map_or("(no argv)", String::as_str), crate::fs::errno::name(errno));
                reply(id, CommandResult::Failed { errno });
            }
        },
        // Nothing is droppable yet: the page cache is the in-memory fs.
        Op::DropCaches => reply(id, CommandResult::Done),
        Op::Shutdown => {
            reply(id, CommandResult::Done);
            if !final_pass && !SHUTDOWN.load(Relaxed) {
                request_shutdown();
            }
        }
    }
}

// --- The stats queue. ---

fn reply(id: u64, result: CommandResult) {
    send(&Payload::Reply(Reply { id, result }));
}

fn send(payload: &Payload) -> bool {
    let seq = SEQ.fetch_add(1, Relaxed);
    match wire::encode(seq, crate::time::uptime_ns(), payload) {
        Ok(bytes) => send_message(bytes),
        Err(e) => {
            printk!("stats: message {seq} does not encode: {e}");
            SEND_FAILURES.fetch_add(1, Relaxed);
            false
        }
    }
}

/// Puts one message on the stats queue and waits (bounded) until the
/// device returns it. kmalloc memory is physically contiguous in the
/// direct map, so the message goes out from where it is, without a copy.
fn send_message(bytes: Vec<u8>) -> bool {
    let len = bytes.len();
    let va = bytes.as_ptr() as u64;
    let lowmem_end = PAGE_OFFSET + (crate::mm::memmap::lowmem_end_pfn() << 12);
    if len > wire::MESSAGE_MAX || va < PAGE_OFFSET || va + len as u64 > lowmem_end {
        SEND_FAILURES.fetch_add(1, Relaxed);
        printk!("stats: message of {len} bytes not sent (larger than {} or not in the direct map)", wire::MESSAGE_MAX);
        return false;
    }
    if !PRESENT.load(Relaxed) {
        SEND_FAILURES.fetch_add(1, Relaxed);
        return false;
    }
    let mut guard = CHANNEL.lock();
    let Some(ch) = guard.as_mut() else { return false };
    BAD_USED.fetch_add(ch.reclaim(), Relaxed);
    let buf = Buf { addr: va - PAGE_OFFSET, len: len as u32, device_writes: false };
    let Some(head) = ch.stats.add(&[buf], 0) else {
        SEND_FAILURES.fetch_add(1, Relaxed);
        return false;
    };
    ch.out[head as usize] = Some(bytes);
    ch.mmio.notify(STATS_QUEUE);
    let mut deadline = None;
    let mut spins = 0u32;
    loop {
        BAD_USED.fetch_add(ch.reclaim(), Relaxed);
        if ch.out[head as usize].is_none() {
            SENT.fetch_add(1, Relaxed);
            SENT_BYTES.fetch_add(len as u64, Relaxed);
            return true;
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) {
            let now = crate::time::uptime_ns();
            if now >= *deadline.get_or_insert(now + SEND_TIMEOUT_NS) {
                // The device is broken: reset it, which ends its use of the
                // rings (virtio 1.2 §2.4), take every buffer back, and stop
                // using it, rather than stall every send.
                SEND_FAILURES.fetch_add(1, Relaxed);
                ch.mmio.write(wire::regs::STATUS, 0);
                ch.out.iter_mut().for_each(|b| drop(b.take()));
                PRESENT.store(false, Relaxed);
                NEXT_TSC.store(u64::MAX, Relaxed);
                CONTROL_USED_IDX.store(0, Relaxed);
                printk!("stats: the device did not return a {len}-byte message within {} ms: device reset, statistics off", SEND_TIMEOUT_NS / 1_000_000);
                return false;
            }
        }
        core::hint::spin_loop();
    }
}

// --- Snapshots. ---

/// `stats_full=1`: every snapshot is full (for a host that wants the
/// texts every time, at their cost).
static ALWAYS_FULL: AtomicBool = AtomicBool::new(false);

fn detail_for(reason: Reason) -> Detail {
    if ALWAYS_FULL.load(Relaxed) {
        return Detail::Full;
    }
    match reason {
        // Per exit, the texts would cost ~30 ms per live process here.
        Reason::Interval | Reason::ProcessExit { .. } => Detail::Records,
        Reason::Request | Reason::Final => Detail::Full,
    }
}

/// Free pages a periodic snapshot leaves alone: below this it is skipped
/// (256 KiB, several times what one takes).
const SNAPSHOT_MIN_FREE_PAGES: u64 = 64;

/// Periodic snapshots skipped because memory was short.
pub static SNAPSHOTS_SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Builds, encodes and sends one snapshot, timing it. It may take the
/// reserves below the min watermark: it is small next to what reclaim
/// frees, and gives everything back once sent.
fn send_snapshot(reason: Reason) {
    let _memalloc = crate::mm::buddy::MemallocScope::enter();
    let t0 = crate::time::uptime_ns();
    let mut detail = detail_for(reason);
    let seq = SEQ.fetch_add(1, Relaxed);
    let driver = driver_counters();
    let mut bytes = encode_snapshot(seq, t0, reason, detail, &driver);
    while bytes.len() > wire::MESSAGE_MAX && detail != Detail::Records {
        // Too many processes for their texts: fewer texts.
        detail = if detail == Detail::Full { Detail::Processes } else { Detail::Records };
        bytes = encode_snapshot(seq, t0, reason, detail, &driver);
    }
    let t1 = crate::time::uptime_ns();
    let len = bytes.len();
    send_message(bytes);
    let t2 = crate::time::uptime_ns();
    SNAPSHOTS.fetch_add(1, Relaxed);
    SNAPSHOT_NS.fetch_add(t2 - t0, Relaxed);
    if DEBUG.load(Relaxed) {
        printk!("stats: snapshot {seq} {reason:?} {detail:?}: {len} bytes, built in {} us, sent in {} us", (t1 - t0) / 1000, (t2 - t1) / 1000);
    }
}

/// The driver's own counters, for the snapshot's vmstat records.
fn driver_counters() -> [(&'static str, u64); 6] {
    [
        ("stats_messages", SENT.load(Relaxed)),
        ("stats_send_failures", SEND_FAILURES.load(Relaxed)),
        ("stats_bad_used", BAD_USED.load(Relaxed)),
        ("stats_bad_commands", BAD_COMMANDS.load(Relaxed)),
        ("stats_exits_dropped", EXITS_DROPPED.load(Relaxed)),
        ("stats_snapshots_skipped", SNAPSHOTS_SKIPPED.load(Relaxed)),
    ]
}
