//! Clearing and copying pages by the VMM (`shared::ports::PORT_PAGEOP`),
//! used where that is cheaper than doing it in the guest.
//!
//! At boot [`init`] times both ways on two scratch pages with the TSC: a
//! page zeroed or copied in the guest, and the same asked of the VMM (one
//! exit). Where guest ring 0 is emulated an instruction at a time the VMM
//! wins by far; on a VMX/SVM host the guest's own `rep stosq` wins. The
//! choice follows the measurement, not the host's name, and is logged;
//! `clear_page=guest|host` and `copy_page=guest|host` on the command line
//! override it. Known-zero pages are never cleared either way (the page
//! allocator skips them).

use crate::mm::addr::Pfn;
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{compiler_fence, Ordering::SeqCst};

use shared::ports::{PageOp, PAGEOP_COPY, PAGEOP_MAX_PAGES, PAGEOP_ZERO, PORT_PAGEOP};

use crate::arch::cpu::{outl, rdtsc};
use crate::cmdline::Cmdline;
use crate::mm::addr::__pa_symbol;
use crate::mm::buddy::{__free_pages, alloc_page, page_to_pfn};
use crate::mm::gfp::GFP_KERNEL;
use crate::mm::physmem::{clear_frame_in_guest, copy_frame_in_guest, set_host_page_ops, HostPageOps};

// In the kernel image: a fixed physical address below 4 GiB.
static mut REQUEST: PageOp = PageOp { op: 0, count: 0, done: 0, _pad: 0, dst: [0; PAGEOP_MAX_PAGES], src: [0; PAGEOP_MAX_PAGES] };

/// Asks the VMM for `op` on the frames `dst` (copied from `src` for
/// [`PAGEOP_COPY`]), at most [`PAGEOP_MAX_PAGES`]; how many it did, in
/// order. A VMM without the port leaves `done` as it was (`u32::MAX`),
/// which counts as none.
fn submit(op: u32, dst: &[u64], src: &[u64]) -> u32 {
    let count = dst.len().min(PAGEOP_MAX_PAGES);
    // SAFETY: one CPU with interrupts off: nothing else uses the request while we fill it and the VMM reads and answers it during the port write.
    let done = unsafe {
        let req = &mut *addr_of_mut!(REQUEST);
        req.op = op;
        req.count = count as u32;
        req.done = u32::MAX;
        req.dst[..count].copy_from_slice(&dst[..count]);
        let n = src.len().min(count);
        req.src[..n].copy_from_slice(&src[..n]);
        compiler_fence(SeqCst);
        outl(PORT_PAGEOP, __pa_symbol(addr_of!(REQUEST)).as_u64() as u32);
        compiler_fence(SeqCst);
        core::ptr::read_volatile(addr_of!(REQUEST.done))
    };
    if done as usize > count {
        0
    } else {
        done
    }
}

fn host_zero(pfn: u64) -> bool {
    submit(PAGEOP_ZERO, &[pfn], &[]) == 1
}

/// Zeroes frames `first..first + n`, [`PAGEOP_MAX_PAGES`] per request;
/// how many were done, in order.
fn host_zero_range(first: u64, n: u64) -> u64 {
    let mut done = 0;
    let mut batch = [0u64; PAGEOP_MAX_PAGES];
    while done < n {
        let count = (n - done).min(PAGEOP_MAX_PAGES as u64) as usize;
        for (k, slot) in batch[..count].iter_mut().enumerate() {
            *slot = first + done + k as u64;
        }
        let did = submit(PAGEOP_ZERO, &batch[..count], &[]);
        done += u64::from(did);
        if (did as usize) < count {
            break;
        }
    }
    done
}

fn host_copy(dst: u64, src: u64) -> bool {
    submit(PAGEOP_COPY, &[dst], &[src]) == 1
}

/// TSC cycles per call of `f`, the best of a few rounds (the first warms
/// the caches and the kmap slot).
fn cycles(mut f: impl FnMut()) -> u64 {
    (0..4)
        .map(|_| {
            let t = rdtsc();
            f();
            rdtsc().wrapping_sub(t)
        })
        .min()
        .unwrap_or(u64::MAX)
}

/// The choice for one operation: the command line's, else the cheaper.
fn choose(cmdline: &Cmdline, key: &str, guest: u64, host: Option<u64>) -> bool {
    match cmdline.get(key) {
        Some("guest") => false,
        Some("host") => host.is_some(),
        _ => host.is_some_and(|h| h < guest),
    }
}

/// Measures and registers the page operations (after the page allocator is
/// up).
pub fn init(cmdline: &Cmdline) {
    let (Some(a), Some(b)) = (alloc_page(GFP_KERNEL), alloc_page(GFP_KERNEL)) else { return };
    let (a_pfn, b_pfn) = (page_to_pfn(a).as_u64(), page_to_pfn(b).as_u64());
    let clear_guest = cycles(|| clear_frame_in_guest(Pfn::new(a_pfn)));
    let copy_guest = cycles(|| copy_frame_in_guest(Pfn::new(a_pfn), Pfn::new(b_pfn)));
    let present = host_zero(a_pfn);
    let clear_host = present.then(|| {
        cycles(|| {
            host_zero(a_pfn);
        })
    });
    let copy_host = present.then(|| {
        cycles(|| {
            host_copy(a_pfn, b_pfn);
        })
    });
    __free_pages(a, 0);
    __free_pages(b, 0);
    let clear = choose(cmdline, "clear_page", clear_guest, clear_host);
    let copy = choose(cmdline, "copy_page", copy_guest, copy_host);
    set_host_page_ops(HostPageOps { zero: host_zero, zero_range: host_zero_range, copy: host_copy }, clear, copy);
    let who = |host: bool| if host { "the VMM" } else { "the guest" };
    let khz = crate::time::tsc_khz().max(1);
    let us = |c: Option<u64>| c.map_or(alloc::string::String::from("-"), |c| alloc::format!("{}", c * 1000 / khz));
    printk!(
        "mm: clear_page by {} (guest {} us, VMM {} us), copy_page by {} (guest {} us, VMM {} us)",
        who(clear),
        us(Some(clear_guest)),
        us(clear_host),
        who(copy),
        us(Some(copy_guest)),
        us(copy_host)
    );
}
