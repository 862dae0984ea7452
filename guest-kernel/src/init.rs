//! `start_kernel`: the boot sequence, from the entry stub to power-off.

use core::ptr::addr_of_mut;

use shared::boot::BootInfo;
use shared::layout::{CMDLINE_MAX, START_KERNEL_MAP};

use crate::arch;
use crate::cmdline::Cmdline;
use crate::time::TscSource;

/// The kernel's own copy of the boot info: the VMM's copy sits in low
/// memory that is only reachable through the boot page tables.
static mut BOOT_INFO: BootInfo = BootInfo::empty();
static mut CMDLINE: [u8; CMDLINE_MAX] = [0; CMDLINE_MAX];

/// `fail_page_alloc=`, `failslab=` and `fail_seed=` (see
/// `mm::fault_inject`): parsed at boot, armed while init runs.
fn setup_fault_injection(cmdline: &Cmdline) {
    let seed = cmdline.get("fail_seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let attrs = [("fail_page_alloc", &crate::mm::buddy::page_alloc().fail), ("failslab", &crate::mm::kmem::SLAB.fail)];
    for (key, attr) in attrs {
        if let Some(v) = cmdline.get(key) {
            match attr.setup(v, seed) {
                Ok(()) => printk!("fault injection: {key}={v} (seed {seed}), armed while init runs"),
                Err(why) => pr_err!("fault injection: {key}={v}: {why}; off"),
            }
        }
    }
}

/// Arms (`on`) or disarms the configured fault injection; when it goes
/// off, says how many allocations it failed.
fn fault_injection(on: bool) {
    let attrs = [("fail_page_alloc", &crate::mm::buddy::page_alloc().fail), ("failslab", &crate::mm::kmem::SLAB.fail)];
    for (key, attr) in attrs.iter().filter(|(_, a)| a.is_configured()) {
        if on {
            attr.arm();
        } else {
            attr.disarm();
            printk!("fault injection: {key} failed {} allocations", attr.injected());
        }
    }
}

/// Called by the entry stub with the physical address of the boot info.
pub extern "C" fn start_kernel(boot_info_phys: u64) -> ! {
    crate::time::mark_boot();
    arch::cpu_init();
    crate::printk::console_init();
    let (tsc_khz, source) = crate::time::calibrate();

    let (info, cmdline) = copy_boot_info(boot_info_phys);
    crate::printk::set_console_loglevel(&cmdline);
    printk!("Linux version 6.1.0-rvmm ({} {}) #1 SMP", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
    printk!("Command line: {}", cmdline.as_str());
    let how = match source {
        TscSource::Hypervisor => "from the hypervisor timing leaf",
        TscSource::Cpuid15 => "from CPUID 0x15",
        TscSource::Cpuid16 => "from CPUID 0x16",
        TscSource::Guess => "UNCALIBRATED, timestamps are approximate",
    };
    printk!("tsc: Detected {}.{:03} MHz processor ({how})", tsc_khz / 1000, tsc_khz % 1000);
    match crate::time::read_rtc() {
        Some(unix) => {
            let t = shared::rtc::DateTime::from_unix(unix);
            printk!("rtc_cmos: setting system clock to {:04}-{:02}-{:02}T{:02}:{:02}:{:02} UTC ({unix})", t.year, t.month, t.day, t.hour, t.minute, t.second);
        }
        None => printk!("rtc_cmos: no valid CMOS clock; the time of day starts at the epoch"),
    }

    let test = cmdline.get("test");
    if test == Some("triple-fault") {
        printk!("test: triple fault planted by test=triple-fault");
        arch::cpu::triple_fault();
    }

    let mm = crate::mm::init::setup_memory(info, &cmdline);
    let layout = crate::mm::buddy::MemoryLayout { max_pfn: mm.max_pfn, lowmem_end_pfn: mm.lowmem_end_pfn, memmap_bytes: mm.memmap_bytes };
    crate::mm::buddy::mem_init(&mut crate::mm::init::MEMBLOCK.lock(), &layout, &cmdline);
    crate::mm::kmem::kmem_cache_init(&cmdline);
    crate::proc::proc_caches_init();
    crate::mm::vmalloc::vmalloc_init(mm.pgd);
    arch::boot_timer_mm_ready();
    printk!("mm: ready: max_pfn {:#x}, page tables at {:#x}", mm.max_pfn, mm.pgd.as_u64());
    crate::drivers::pageop::init(&cmdline);
    setup_fault_injection(&cmdline);
    // Transparent huge pages for anonymous memory (Linux's
    // `setup_transparent_hugepage`).
    if let Some(v) = cmdline.get("transparent_hugepage") {
        match crate::mm::huge_memory::ThpMode::parse(v) {
            Some(mode) => crate::mm::huge_memory::set_mode(mode),
            None => printk!("transparent_hugepage: unknown mode {v:?}, keeping {}", crate::mm::huge_memory::mode().name()),
        }
    }
    if let Some(v) = cmdline.get("fault_around_bytes") {
        match v.parse() {
            Ok(bytes) => crate::mm::memory::set_fault_around_bytes(bytes),
            Err(_) => printk!("mm: fault_around_bytes={v}: not a number, keeping {}", crate::mm::memory::fault_around_bytes()),
        }
    }

    for test in cmdline.get("selftest").into_iter().flat_map(|list| list.split(',')) {
        match test {
            "buddy" => crate::mm::buddy_selftest::run(),
            "kmap" => crate::mm::kmap_selftest::run(),
            "slab" => crate::mm::slab_selftest::run(),
            "vmalloc" => crate::mm::vmalloc_selftest::run(),
            // Runs at every process exit; summarised when init exits.
            "rmapcheck" => crate::proc::rmapcheck::ENABLED.store(true, core::sync::atomic::Ordering::Relaxed),
            other => printk!("selftest {other}: unknown, skipped"),
        }
    }

    if let Some(name) = test {
        crate::selftest::run(name);
    }

    for what in cmdline.get("count").into_iter().flat_map(|list| list.split(',')) {
        count_region(what);
    }

    // Stats channel: set up after the self-tests (their vmalloc addresses
    // stay as they were) and before init (its memory is in the leak
    // check's baseline).
    crate::drivers::stats::init(info, &cmdline);
    // Swap devices (`vmm run --swap`).
    crate::drivers::virtio_blk::init(&cmdline);
    // Free page reporting (`vmm run --balloon`).
    crate::drivers::virtio_balloon::init(&cmdline, crate::mm::buddy::page_alloc().config.page_poison);
    // What processes write to their console fds goes to the VMM's stdout
    // and stderr through the hostio port, bypassing the kernel log.
    crate::proc::notify::register_console(|stream, bytes| crate::drivers::hostio::write(if stream == 2 { 2 } else { 1 }, bytes), crate::drivers::hostio::read);

    if let Some(list) = cmdline.get("dump") {
        dump_proc_files(list);
    }

    let code = match init_argv(info) {
        Some(argv) => run_init(info, &argv),
        None => {
            let args = cmdline.init_args().count();
            if args > 0 {
                printk!("init: no init program given (--init); {args} argument(s) after -- ignored");
            }
            0
        }
    };
    // Stats channel: the last exits, what the host still asked, the final
    // snapshot (sent synchronously); 0 after a host shutdown.
    let code = crate::drivers::stats::power_off(code);
    pr_emerg!("reboot: Power down");
    arch::machine_power_off(code)
}

/// Init's argument vector from the boot info (NUL-separated strings).
fn init_argv(info: &BootInfo) -> Option<alloc::vec::Vec<alloc::string::String>> {
    let argv = boot_strings(info.init_argv_addr, info.init_argv_len);
    (!argv.is_empty()).then_some(argv)
}

/// The non-empty NUL-separated strings the VMM left at `addr` (none for
/// a zero length or a range outside low memory).
fn boot_strings(addr: u64, len: u64) -> alloc::vec::Vec<alloc::string::String> {
    let blob = if len == 0 { None } else { phys_slice(addr, len) };
    blob.unwrap_or(&[]).split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| alloc::string::String::from_utf8_lossy(s).into_owned()).collect()
}

/// Guest-physical memory the VMM filled before boot, through the direct map.
fn phys_slice(addr: u64, len: u64) -> Option<&'static [u8]> {
    let end = addr.checked_add(len)?;
    if end > crate::mm::memmap::lowmem_end_pfn() << 12 {
        printk!("init: boot data at {addr:#x}..{end:#x} is not in lowmem");
        return None;
    }
    // SAFETY: memblock reserved this range at boot (never handed out), and the direct map covers lowmem.
    Some(unsafe { core::slice::from_raw_parts(crate::mm::addr::__va(crate::mm::addr::PhysAddr::new(addr)).as_ptr::<u8>(), len as usize) })
}

/// Unpacks the initramfs, runs init to completion and returns the VMM
/// exit code (init's exit status, or 128 + the signal that killed it).
fn run_init(info: &BootInfo, argv: &[alloc::string::String]) -> u32 {
    use crate::proc;
    proc::init();
    // The leak check's baseline: before init exists and before the
    // initramfs is unpacked into the (empty) root filesystem. It is
    // compared after init, every other task and the root filesystem's
    // files are gone, so it is exact whatever init did with its
    // descriptors, its children and the files it left behind.
    proc::init_rootfs();
    let before = crate::mm::kmem::usage();
    let archive = phys_slice(info.initramfs_addr, info.initramfs_len).unwrap_or(&[]);
    if let Err(e) = proc::mount_rootfs(archive) {
        printk!("initramfs: unpacking failed: {e}");
        return 1;
    }
    printk!("Run {} as init process", argv[0]);
    let extra = boot_strings(info.init_envp_addr, info.init_envp_len);
    let envp = proc::initial_environment(extra.iter().map(alloc::string::String::as_str));
    let cwd = boot_strings(info.init_cwd_addr, info.init_cwd_len).concat();
    let id = proc::InitIdentity { uid: info.init_uid, gid: info.init_gid, cwd: &cwd };
    fault_injection(true);
    let status = proc::run_init(argv, &envp, &id);
    fault_injection(false);
    // Gone before the leak check, which counts them otherwise.
    drop((envp, extra));
    let status = match status {
        Ok(status) => status,
        Err(proc::InitError::NotExecutable(why)) => {
            // Linux panics here ("No working init found"); the VMM's user
            // is better served by the reason and an exit code of its own.
            printk!("init: cannot execute {}: {why}", argv[0]);
            return shared::ports::EXIT_INIT_NOT_EXECUTABLE;
        }
        Err(proc::InitError::BadCwd(why)) => {
            printk!("init: cannot change to the working directory {}: {why}", id.cwd);
            return shared::ports::EXIT_INIT_NOT_EXECUTABLE;
        }
        Err(proc::InitError::BadUser(why)) => {
            printk!("init: cannot run as user {} group {}: {why}", info.init_uid, info.init_gid);
            return shared::ports::EXIT_INIT_NOT_EXECUTABLE;
        }
        Err(proc::InitError::NoMemory(what)) => panic!("{what}"),
    };
    drop(cwd);
    let code = proc::status_to_exit_code(status);
    if proc::rmapcheck::ENABLED.load(core::sync::atomic::Ordering::Relaxed) {
        use core::sync::atomic::Ordering::Relaxed;
        let (runs, fails) = (proc::rmapcheck::RUNS.load(Relaxed), proc::rmapcheck::FAILURES.load(Relaxed));
        let pages = proc::rmapcheck::MAX_PAGES.load(Relaxed);
        let skipped = match proc::rmapcheck::SKIPPED.load(Relaxed) {
            0 => alloc::string::String::new(),
            n => alloc::format!("; {n} skipped while memory was short"),
        };
        if fails == 0 {
            printk!("selftest rmapcheck: ok ({runs} checks, up to {pages} mapped pages{skipped})");
        } else {
            pr_err!("selftest rmapcheck: FAILED in {fails} of {runs} checks");
        }
    }
    proc::unmount_rootfs();
    proc::sched::free_cached_stacks();
    crate::selftest::plant_leak();
    let after = crate::mm::kmem::usage();
    // Pages in the memory balloon are the host's for now, not lost.
    let ballooned = crate::drivers::virtio_balloon::held_pages();
    let (free_before, free_after) = (before.free_pages, after.free_pages + ballooned);
    let (slab_before, slab_after) = (before.objects(), after.objects());
    printk!("init: exited with status {code}; free pages {free_before} -> {free_after}, slab objects {slab_before} -> {slab_after}");
    if free_after != free_before || slab_after != slab_before {
        pr_err!(
            "init: LEAK: {} pages and {} slab objects not returned ({})",
            free_before as i64 - free_after as i64,
            slab_after as i64 - slab_before as i64,
            after.diff(&before)
        );
    }
    code
}

/// Validates the VMM's boot info and copies it and the command line into
/// the kernel image.
fn copy_boot_info(phys: u64) -> (&'static BootInfo, Cmdline<'static>) {
    let size = core::mem::size_of::<BootInfo>() as u64;
    if phys.checked_add(size).is_none_or(|end| end > 1 << 30) {
        panic!("boot info at {phys:#x} is outside the boot mapping");
    }
    // Runs once, before anything else reads these statics. The boot tables
    // map the first 1 GiB at START_KERNEL_MAP.
    // SAFETY: the boot info lies in that window and is plain data (any bits).
    let info = unsafe {
        let info = &mut *addr_of_mut!(BOOT_INFO);
        *info = core::ptr::read_unaligned((START_KERNEL_MAP + phys) as *const BootInfo);
        &*info
    };
    if let Err(e) = info.validate() {
        panic!("{e}");
    }
    let len = (info.cmdline_len as usize).min(CMDLINE_MAX);
    if info.cmdline_addr.checked_add(len as u64).is_none_or(|end| end > 1 << 30) {
        panic!("command line at {:#x} is outside the boot mapping", info.cmdline_addr);
    }
    // SAFETY: as above; the command line is `len` bytes in the first 1 GiB.
    let line = unsafe {
        let buf = &mut *addr_of_mut!(CMDLINE);
        core::ptr::copy_nonoverlapping((START_KERNEL_MAP + info.cmdline_addr) as *const u8, buf.as_mut_ptr(), len);
        &buf[..len]
    };
    let line = core::str::from_utf8(line).unwrap_or_else(|_| panic!("kernel command line is not UTF-8"));
    crate::cmdline::save(line);
    (info, Cmdline::parse(line))
}

/// `dump=meminfo,buddyinfo,zoneinfo,vmstat`: prints those /proc files
/// (`counters`: the kmap counters, which /proc does not show).
fn dump_proc_files(list: &str) {
    use crate::mm::vmstat;
    let alloc = crate::mm::buddy::page_alloc();
    let direct_map_kb = crate::mm::init::direct_map_kb();
    for name in list.split(',') {
        crate::printk::with_console(|w| {
            let _ = writeln!(w, "/proc/{name}:");
            let _ = match name {
                "meminfo" => vmstat::meminfo(alloc, &vmstat::MemExtra { direct_map_kb, ..Default::default() }, &mut { w }),
                "buddyinfo" => vmstat::buddyinfo(alloc, &mut { w }),
                "zoneinfo" => vmstat::zoneinfo(alloc, &mut { w }),
                "slabinfo" => crate::mm::kmem::SLAB.slabinfo(&mut &mut *w),
                "vmallocinfo" => crate::mm::vmalloc::vmallocinfo(w),
                "vmstat" => vmstat::vmstat(alloc, &[], &[], &mut &mut *w),
                // This kernel's own counters: the stats channel's, and the kmap ones.
                "counters" => kmap_counters(w),
                other => writeln!(w, "dump: unknown file '{other}'"),
            };
        });
    }
}

/// The kmap counters, appended to /proc/vmstat.
fn kmap_counters(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    use core::sync::atomic::Ordering::Relaxed;
    let k = &crate::mm::highmem::KMAP_STATS;
    writeln!(w, "kmap {}", k.kmap.load(Relaxed))?;
    writeln!(w, "kmap_high {}", k.kmap_high.load(Relaxed))?;
    writeln!(w, "kmap_atomic {}", k.kmap_atomic.load(Relaxed))?;
    writeln!(w, "kmap_atomic_high {}", k.kmap_atomic_high.load(Relaxed))?;
    writeln!(w, "pkmap_flushes {}", k.pkmap_flushes.load(Relaxed))
}

/// `count=alloc_page,kmalloc64,fault`: marks one run of each for the VMM's
/// instruction counter (`vmm run --count-instructions`), after one
/// unmarked warm-up run so that caches and per-CPU lists are primed.
fn count_region(what: &str) {
    use crate::mm::gfp::GFP_KERNEL;
    use shared::ports::{MARK_ALLOC_PAGE, MARK_KMALLOC64};
    let alloc_pair = || {
        if let Some(page) = crate::mm::buddy::alloc_page(GFP_KERNEL) {
            crate::mm::buddy::__free_pages(page, 0);
        }
    };
    let kmalloc_pair = || {
        if let Some(p) = crate::mm::kmem::SLAB.kmalloc(core::hint::black_box(64), GFP_KERNEL) {
            // SAFETY: just allocated, freed once.
            unsafe { crate::mm::kmem::SLAB.kfree(p.as_ptr()) };
        }
    };
    match what {
        "alloc_page" => {
            alloc_pair();
            arch::mark_begin(MARK_ALLOC_PAGE);
            alloc_pair();
            arch::mark_end(MARK_ALLOC_PAGE);
        }
        "kmalloc64" => {
            kmalloc_pair();
            arch::mark_begin(MARK_KMALLOC64);
            kmalloc_pair();
            arch::mark_end(MARK_KMALLOC64);
        }
        "fault" => crate::proc::COUNT_FAULT.store(true, core::sync::atomic::Ordering::Relaxed),
        "signal" => crate::proc::signal::frame::COUNT_SIGNAL.store(true, core::sync::atomic::Ordering::Relaxed),
        "futex" => crate::proc::futex::COUNT_FUTEX.store(true, core::sync::atomic::Ordering::Relaxed),
        "thread" => crate::proc::count::COUNT_THREAD.store(true, core::sync::atomic::Ordering::Relaxed),
        "syscalls" | "faults" | "switches" | "irqs" | "reclaim" => crate::proc::count::enable(what),
        other => printk!("count: unknown region '{other}' (alloc_page, kmalloc64, fault, signal, futex, thread, syscalls, faults, switches, irqs, reclaim)"),
    }
}
