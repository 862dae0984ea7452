//! Host test fixtures: a real buddy allocator over fake RAM that keeps
//! frame contents.

use crate::mm::addr::Pfn;
use crate::mm::fake::FakeRam;
use crate::mm::page_alloc::{AllocConfig, PageAlloc};

/// `mib` MiB of RAM in a DMA and a DMA32 zone, all free, `page_debug` on
/// (bad frees are caught). Leaked: filesystems keep `&'static` references
/// to their page allocator, as the kernel's is a static.
pub(crate) fn ram(mib: u64) -> &'static PageAlloc<FakeRam> {
    let n = mib * 256;
    let config = AllocConfig { page_debug: true, page_poison: false };
    let mut pa = PageAlloc::new(FakeRam::new(n, true), [(0, n / 4), (n / 4, n), (0, 0), (0, 0)], config);
    pa.add_present(Pfn::new(0), Pfn::new(n));
    pa.free_boot_range(Pfn::new(1), Pfn::new(n), true);
    pa.setup_watermarks();
    Box::leak(Box::new(pa))
}

/// Free pages, with the per-CPU lists drained so that counts compare.
pub(crate) fn free_pages(pa: &PageAlloc<FakeRam>) -> u64 {
    pa.drain_all_pages();
    pa.nr_free_pages()
}
