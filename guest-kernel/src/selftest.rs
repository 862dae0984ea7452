//! Planted failures, chosen with `test=` on the command line, that prove
//! the kernel's protections and the VMM's reports work end to end. Each
//! one ends the machine; the integration tests check how.
//!
//! | `test=`        | what happens                                   | VMM outcome |
//! | -------------- | ---------------------------------------------- | ----------- |
//! | `panic`        | `panic!`                                       | panic |
//! | `oops`         | read from NULL: nothing is mapped at 0         | panic, #PF |
//! | `wp`           | write to `.rodata`: read-only, CR0.WP          | panic, #PF (protection, write) |
//! | `nx`           | call into `.bss`: NX                           | panic, #PF (instruction fetch) |
//! | `int3`         | `int3` at ring 0                               | emulation failure on kvm_pvm, #BP panic on VMX/SVM |
//! | `slab-redzone` | write past a kmalloc-64 object (with `slub_debug=1`) | reported, boot goes on |
//! | `hang`         | spin forever                                   | `--timeout` |
//! | `leak-page`    | one page never freed, while init runs          | `init: LEAK: 1 pages ...` |
//! | `leak-slab`    | one kmalloc-64 object never freed, while init runs | `init: LEAK: ... 1 slab objects` |
//! | `triple-fault` | exception with an empty IDT (run before mm)    | triple fault |

use core::ptr::{addr_of, addr_of_mut};

/// A value in `.rodata` for `test=wp` to write to.
static READ_ONLY: u64 = 0x0123_4567_89ab_cdef;
/// A buffer in `.bss` for `test=nx` to put code in.
static mut NOT_EXECUTABLE: [u8; 16] = [0; 16];

const LEAK_PAGE: u8 = 1;
const LEAK_SLAB: u8 = 2;
static PLANTED_LEAK: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// `test=leak-page` / `test=leak-slab`: loses one page or one kmalloc-64
/// object for good, so that the tests can show the leak check reports a
/// real leak (called between the check's two measurements).
pub fn plant_leak() {
    let what = PLANTED_LEAK.load(core::sync::atomic::Ordering::Relaxed);
    if what == LEAK_PAGE && crate::mm::buddy::alloc_page(crate::mm::gfp::GFP_KERNEL).is_some() {
        printk!("test: one page leaked, planted by test=leak-page");
    } else if what == LEAK_SLAB && crate::mm::kmem::SLAB.kmalloc(64, crate::mm::gfp::GFP_KERNEL).is_some() {
        printk!("test: one kmalloc-64 object leaked, planted by test=leak-slab");
    }
}

/// Runs the planted failure `name` after memory setup; returns only for
/// an unknown name.
pub fn run(name: &str) {
    match name {
        "panic" => panic!("test=panic: planted kernel panic"),
        "oops" => {
            printk!("test: kernel NULL pointer dereference planted by test=oops");
            // SAFETY: deliberately faulting: nothing is mapped at 0, so this
            // read raises #PF, which the oops path reports.
            let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
            panic!("read from NULL returned {v:#x}");
        }
        "wp" => {
            printk!("test: write to read-only kernel data planted by test=wp");
            // SAFETY: deliberately faulting: the page is mapped read-only and
            // CR0.WP makes that binding at ring 0, so the write raises #PF.
            unsafe { core::ptr::write_volatile(addr_of!(READ_ONLY) as *mut u64, 0) };
            panic!("write to .rodata succeeded: {:#x}", READ_ONLY);
        }
        "nx" => {
            printk!("test: execution of kernel data planted by test=nx");
            // SAFETY: deliberately faulting: `ret` written into a .bss buffer
            // mapped NX; the call's instruction fetch raises #PF.
            unsafe {
                let code = addr_of_mut!(NOT_EXECUTABLE);
                (*code)[0] = 0xc3;
                let f: extern "C" fn() = core::mem::transmute(code as *const u8);
                f();
            }
            panic!("execution from .bss succeeded");
        }
        "int3" => {
            printk!("test: int3 at ring 0 planted by test=int3");
            crate::arch::cpu::breakpoint();
            panic!("int3 returned");
        }
        "slab-redzone" => slab_redzone(),
        "hang" => {
            printk!("test: spinning forever, planted by test=hang");
            loop {
                core::hint::spin_loop();
            }
        }
        // Planted by the stats channel's driver once its device is up.
        "virtio-bad-desc" => {}
        // Planted while init runs, after the leak check's baseline.
        "leak-page" => PLANTED_LEAK.store(LEAK_PAGE, core::sync::atomic::Ordering::Relaxed),
        "leak-slab" => PLANTED_LEAK.store(LEAK_SLAB, core::sync::atomic::Ordering::Relaxed),
        other => printk!("test: unknown test '{other}', ignored"),
    }
}

/// Writes one byte past a 64-byte object. With `slub_debug=1` the red zone
/// catches it when the object is freed ("BUG kmalloc-64 (Not tainted):
/// Redzone overwritten"), repairs it, and the kernel carries on; later
/// allocations from the cache must be sound.
fn slab_redzone() {
    use crate::mm::gfp::GFP_KERNEL;
    use crate::mm::kmem::SLAB;
    printk!("test: kmalloc-64 red zone overwrite planted by test=slab-redzone");
    let bugs = SLAB.bug_count();
    let Some(obj) = SLAB.kmalloc(64, GFP_KERNEL) else { panic!("kmalloc(64) failed") };
    // SAFETY: deliberately one byte past the 64-byte object: inside the
    // slab (red zone or the next object), never outside mapped memory.
    unsafe {
        obj.as_ptr().add(64).write_volatile(0x41);
        SLAB.kfree(obj.as_ptr());
    }
    if SLAB.bug_count() == bugs {
        printk!("test: slab-redzone: NOT detected (boot with slub_debug=1)");
        return;
    }
    // The cache still works: fresh objects are distinct and hold data.
    let mut objs = [core::ptr::null_mut::<u8>(); 32];
    for (i, slot) in objs.iter_mut().enumerate() {
        let p = SLAB.kmalloc(64, GFP_KERNEL).expect("kmalloc(64) after the report").as_ptr();
        // SAFETY: a fresh 64-byte object.
        unsafe { p.write_bytes(i as u8, 64) };
        *slot = p;
    }
    for (i, &p) in objs.iter().enumerate() {
        // SAFETY: still allocated above.
        let ok = unsafe { core::slice::from_raw_parts(p, 64).iter().all(|&b| b == i as u8) };
        assert!(ok, "kmalloc-64 object {i} corrupted after the red zone report");
        // SAFETY: allocated above, freed once.
        unsafe { SLAB.kfree(p) };
    }
    let clean = SLAB.bug_count() == bugs + 1;
    printk!("test: slab-redzone: reported; {} after it", if clean { "no further damage" } else { "MORE REPORTS" });
}
