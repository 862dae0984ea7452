//! The built-in init program (`vmm run` without `--init`): seed 001's walk
//! through a process's heap, narrated; with the argument `pressure`, a
//! second act, seed 003's memory pressure: reclaim, kswapd, swap-out,
//! swap-in with readahead, a working set that fits and one that does not.
//! A static x86-64 Linux program with raw system calls and no libc, so it
//! runs the same in the guest and on a Linux host.
//!
//! The allocations follow glibc's malloc policy that the seed describes:
//! requests below the 128 KiB mmap threshold come from the brk heap, larger
//! ones from their own mmap. They are made here explicitly (`brk`, `mmap`),
//! so every step is one the kernel sees.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};

const SYS_READ: u64 = 0;
const SYS_WRITE: u64 = 1;
const SYS_OPEN: u64 = 2;
const SYS_CLOSE: u64 = 3;
const SYS_MMAP: u64 = 9;
const SYS_MUNMAP: u64 = 11;
const SYS_MADVISE: u64 = 28;
const SYS_BRK: u64 = 12;
const SYS_EXIT_GROUP: u64 = 231;

const PROT_READ: u64 = 1;
const PROT_WRITE: u64 = 2;
const MAP_PRIVATE: u64 = 2;
const MAP_ANONYMOUS: u64 = 0x20;
const PAGE: u64 = 4096;
/// glibc's default `M_MMAP_THRESHOLD`.
const MMAP_THRESHOLD: u64 = 128 << 10;

fn syscall6(nr: u64, a: [u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: a Linux system call; the kernel preserves everything except
    // rax, rcx and r11. The arguments are valid for each call made below.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
             in("r10") a[3], in("r8") a[4], in("r9") a[5], lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

fn syscall3(nr: u64, a: u64, b: u64, c: u64) -> i64 {
    syscall6(nr, [a, b, c, 0, 0, 0])
}

fn exit(code: i32) -> ! {
    syscall3(SYS_EXIT_GROUP, code as u64, 0, 0);
    loop {
        core::hint::spin_loop();
    }
}

struct Stdout;

impl Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut b = s.as_bytes();
        while !b.is_empty() {
            let n = syscall3(SYS_WRITE, 1, b.as_ptr() as u64, b.len() as u64);
            if n <= 0 {
                return Err(fmt::Error);
            }
            b = &b[n as usize..];
        }
        Ok(())
    }
}

macro_rules! say {
    ($($t:tt)*) => { let _ = writeln!(Stdout, $($t)*); };
}

/// A /proc file's contents (up to 8 KiB) in a static buffer.
fn read_file(path: &[u8], buf: &mut [u8]) -> usize {
    let fd = syscall3(SYS_OPEN, path.as_ptr() as u64, 0, 0);
    if fd < 0 {
        return 0;
    }
    let mut len = 0;
    while len < buf.len() {
        let n = syscall3(SYS_READ, fd as u64, buf[len..].as_mut_ptr() as u64, (buf.len() - len) as u64);
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    syscall3(SYS_CLOSE, fd as u64, 0, 0);
    len
}

/// The value in kB of a `Key:   N kB` line (`/proc/meminfo`).
fn field_kb(text: &[u8], key: &str) -> u64 {
    field(text, key, b':')
}

/// The number after `key` and `sep` on its line, 0 if there is none.
fn field(text: &[u8], key: &str, sep: u8) -> u64 {
    for line in text.split(|&b| b == b'\n') {
        if line.starts_with(key.as_bytes()) && line.get(key.len()) == Some(&sep) {
            return line[key.len() + 1..].iter().filter(|b| b.is_ascii_digit()).fold(0, |v, &d| v * 10 + (d - b'0') as u64);
        }
    }
    0
}

struct Snapshot {
    rss_kb: u64,
    free_kb: u64,
}

fn snapshot() -> Snapshot {
    let mut buf = [0u8; 8192];
    let n = read_file(b"/proc/self/status\0", &mut buf);
    let rss_kb = field_kb(&buf[..n], "VmRSS");
    let n = read_file(b"/proc/meminfo\0", &mut buf);
    Snapshot { rss_kb, free_kb: field_kb(&buf[..n], "MemFree") }
}

fn brk(addr: u64) -> u64 {
    syscall3(SYS_BRK, addr, 0, 0) as u64
}

/// One allocation as glibc's malloc would make it.
fn malloc(name: &str, size: u64) -> (u64, u64) {
    if size < MMAP_THRESHOLD {
        let old = brk(0);
        let new = brk(old + size);
        say!("{name} = malloc({} KiB): below the {} KiB mmap threshold, so the heap grows: brk {old:#x} -> {new:#x}", size >> 10, MMAP_THRESHOLD >> 10);
        (old, size)
    } else {
        let addr = syscall6(SYS_MMAP, [0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX, 0]) as u64;
        say!("{name} = malloc({} KiB): at or above the threshold, so it gets its own mapping: mmap -> {addr:#x}..{:#x}", size >> 10, addr + size);
        (addr, size)
    }
}

/// Writes one byte per page, as a program filling its buffer would.
fn touch(name: &str, (addr, size): (u64, u64)) {
    let before = snapshot();
    let mut p = addr;
    while p < addr + size {
        // SAFETY: [addr, addr + size) was just obtained from brk or mmap.
        unsafe { (p as *mut u8).write_volatile(1) };
        p += PAGE;
    }
    let after = snapshot();
    say!(
        "  writing {name}: {} pages faulted in on first touch; RSS {} -> {} kB, MemFree {} -> {} kB",
        size.div_ceil(PAGE),
        before.rss_kb,
        after.rss_kb,
        before.free_kb,
        after.free_kb
    );
}

fn show_maps() {
    let mut buf = [0u8; 8192];
    let n = read_file(b"/proc/self/maps\0", &mut buf);
    say!("  /proc/self/maps:");
    for line in buf[..n].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        say!("    {}", core::str::from_utf8(line).unwrap_or("?"));
    }
}

/// The counters of act two, from `/proc/meminfo` and `/proc/vmstat`.
#[derive(Clone, Copy)]
struct Pressure {
    free_kb: u64,
    swap_used_kb: u64,
    pswpout: u64,
    pswpin: u64,
    majfault: u64,
    kswapd: u64,
    direct: u64,
    ra_hit: u64,
    refault: u64,
    activate: u64,
}

fn pressure() -> Pressure {
    let mut buf = [0u8; 8192];
    let n = read_file(b"/proc/meminfo\0", &mut buf);
    let m = &buf[..n];
    let (free_kb, swap_used_kb) = (field_kb(m, "MemFree"), field_kb(m, "SwapTotal") - field_kb(m, "SwapFree"));
    let n = read_file(b"/proc/vmstat\0", &mut buf);
    let v = &buf[..n];
    Pressure {
        free_kb,
        swap_used_kb,
        pswpout: field(v, "pswpout", b' '),
        pswpin: field(v, "pswpin", b' '),
        majfault: field(v, "pgmajfault", b' '),
        kswapd: field(v, "pgsteal_kswapd", b' '),
        direct: field(v, "pgsteal_direct", b' '),
        ra_hit: field(v, "swap_ra_hit", b' '),
        refault: field(v, "workingset_refault_anon", b' '),
        activate: field(v, "workingset_activate_anon", b' '),
    }
}

/// Reads (or writes) one word in each page of `[addr, addr + pages)`;
/// the pressure counters before and after.
fn pass(addr: u64, pages: u64, write: bool) -> (Pressure, Pressure) {
    let before = pressure();
    for i in 0..pages {
        let p = (addr + i * PAGE) as *mut u64;
        // SAFETY: the pages are inside the mapping act two made.
        unsafe {
            if write {
                p.write_volatile(i);
            } else if p.read_volatile() != i {
                say!("  page {i} lost its contents!");
                exit(1);
            }
        }
    }
    (before, pressure())
}

/// Act two: seed 003's memory pressure, with numbers from `/proc`.
fn act_two() -> i32 {
    say!("rvmm demo, act two: memory pressure (seed 003): reclaim, kswapd, swap, the working set");
    let mut buf = [0u8; 8192];
    let n = read_file(b"/proc/meminfo\0", &mut buf);
    let (total_kb, swap_kb) = (field_kb(&buf[..n], "MemTotal"), field_kb(&buf[..n], "SwapTotal"));
    if swap_kb == 0 {
        say!("this act needs a swap area: vmm run --mem 32M --swap /tmp/demo-swap.img:64M -- pressure");
        return 2;
    }
    let pages = total_kb * 9 / 8 / 4;
    say!("RAM {} MiB, swap {} MiB; this process will write {} MiB, more than RAM", total_kb >> 10, swap_kb >> 10, (pages * 4) >> 10);
    let addr = syscall6(SYS_MMAP, [0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX, 0]);
    if addr < 0 {
        say!("mmap: error {}", -addr);
        return 1;
    }
    let addr = addr as u64;
    let (before, after) = pass(addr, pages, true);
    say!("writing every page: MemFree {} -> {} kB. Below the low watermark an allocation wakes kswapd, which", before.free_kb, after.free_kb);
    say!("  sends pages not used lately to swap in the background ({} pages); when it falls behind, the", after.kswapd - before.kswapd);
    say!(
        "  faulting process reclaims itself (direct reclaim: {} pages). {} pages went out; swap holds {} kB",
        after.direct - before.direct,
        after.pswpout - before.pswpout,
        after.swap_used_kb
    );
    let fits = pages / 4;
    for round in 1..=2 {
        let (b, a) = pass(addr, fits, false);
        say!(
            "reading the first {} MiB, pass {round}: {} major faults, {} pages in ({} found read ahead)",
            (fits * 4) >> 10,
            a.majfault - b.majfault,
            a.pswpin - b.pswpin,
            a.ra_hit - b.ra_hit
        );
    }
    say!("  a working set that fits in RAM: once it is back, it stays, and the second pass faults no more");
    for round in 1..=2 {
        let (b, a) = pass(addr, pages, false);
        say!(
            "reading all {} MiB, pass {round}: {} major faults, {} pages out and {} in; {} refaults, {} of them within the workingset",
            (pages * 4) >> 10,
            a.majfault - b.majfault,
            a.pswpout - b.pswpout,
            a.pswpin - b.pswpin,
            a.refault - b.refault,
            a.activate - b.activate
        );
    }
    say!("  a working set larger than RAM: every pass pushes out what the next needs, and pages move both ways");
    say!("  each time (thrashing): the cost is the disk's, not the CPU's. A refault is a page read back whose");
    say!("  eviction the kernel remembers; one evicted fewer evictions ago than RAM holds is activated, and");
    say!("  reclaim passes it over once more");
    // MADV_DONTNEED then munmap: the pages and swap slots go back at once.
    syscall3(SYS_MADVISE, addr, pages * PAGE, 4);
    syscall3(SYS_MUNMAP, addr, pages * PAGE, 0);
    let end = pressure();
    say!("munmap: the process's pages and swap slots go back: MemFree {} kB, swap holds {} kB", end.free_kb, end.swap_used_kb);
    0
}

fn main(pressure_act: bool) -> i32 {
    if pressure_act {
        return act_two();
    }
    say!("rvmm demo: how the kernel hands memory to a process (seed 001's malloc walk-through)");
    let start = snapshot();
    say!("at start: brk {:#x}, RSS {} kB, MemFree {} kB", brk(0), start.rss_kb, start.free_kb);

    let a = malloc("A", 30 << 10);
    say!("  nothing is mapped yet: RSS {} kB (pages come on first touch: demand paging)", snapshot().rss_kb);
    touch("A", a);
    let b = malloc("B", 40 << 10);
    touch("B", b);
    let c = malloc("C", 200 << 10);
    touch("C", c);
    let d = malloc("D", 100 << 10);
    touch("D", d);
    show_maps();

    let before = snapshot();
    syscall3(SYS_MUNMAP, c.0, c.1, 0);
    let after = snapshot();
    say!("free(C): munmap returns its pages to the kernel at once: RSS {} -> {} kB, MemFree {} -> {} kB", before.rss_kb, after.rss_kb, before.free_kb, after.free_kb);

    let before = snapshot();
    let top = brk(0);
    let new = brk(d.0);
    let after = snapshot();
    say!("free(D): D is the top of the heap, so brk shrinks {top:#x} -> {new:#x}: RSS {} -> {} kB", before.rss_kb, after.rss_kb);
    say!("free(A), free(B): they stay in the heap for reuse (malloc keeps them on its free lists), so RSS stays {} kB", snapshot().rss_kb);
    show_maps();
    let end = snapshot();
    say!("at end: RSS {} kB, MemFree {} kB (the rest returns when the process exits)", end.rss_kb, end.free_kb);
    0
}

// The entry point: the stack holds argc, argv, envp, auxv; `start` gets
// where they begin. Align the stack as the ABI wants for a call.
global_asm!(
    ".globl _start",
    "_start:",
    "    xor ebp, ebp",
    "    mov rdi, rsp",
    "    and rsp, -16",
    "    call {main}",
    "    ud2",
    main = sym start,
);

extern "C" fn start(sp: *const u64) -> ! {
    // SAFETY: the kernel's initial stack: argc, then argc pointers to
    // NUL-terminated strings.
    let pressure_act = unsafe {
        let argc = *sp;
        argc > 1 && {
            let arg = *sp.add(2) as *const u8;
            let want = b"pressure\0";
            (0..want.len()).all(|i| *arg.add(i) == want[i])
        }
    };
    exit(main(pressure_act))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("rvmm demo: panic: {info}");
    exit(101)
}
