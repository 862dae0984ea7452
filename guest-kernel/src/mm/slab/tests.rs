use super::*;
use crate::mm::addr::Pfn;
use crate::mm::fake::FakeRam;
use crate::mm::gfp::*;
use crate::mm::page_alloc::AllocConfig;
use proptest::prelude::*;
use std::collections::BTreeMap;

const M: u64 = 256; // pages per MiB

/// `mib` MiB of RAM with frames: ZONE_DMA the first quarter, DMA32 the rest.
pub(crate) fn ram(mib: u64) -> PageAlloc<FakeRam> {
    let n = mib * M;
    let mut a = PageAlloc::new(FakeRam::new(n, true), [(0, n / 4), (n / 4, n), (0, 0), (0, 0)], AllocConfig { page_debug: true, page_poison: false });
    a.add_present(Pfn::new(0), Pfn::new(n));
    a.free_boot_range(Pfn::new(1), Pfn::new(n), true);
    a.setup_watermarks();
    a
}

pub(crate) fn slab(pa: &PageAlloc<FakeRam>, slub_debug: bool) -> Box<SlabAllocator<'_, FakeRam>> {
    let s = Box::new(SlabAllocator::new());
    s.init(pa, SlabConfig { slub_debug }).unwrap();
    s
}

pub(crate) fn free_all(pa: &PageAlloc<FakeRam>) -> u64 {
    pa.drain_all_pages();
    pa.nr_free_pages()
}

/// Physical address of a pointer into FakeRam.
pub(crate) fn phys(pa: &PageAlloc<FakeRam>, p: *const u8) -> u64 {
    let pfn = pa.mem.ptr_to_pfn(p).unwrap();
    pfn.phys().as_u64() + (p as u64 - pa.mem.frame_ptr(pfn).unwrap() as u64)
}

/// The kernel keeps one in a `static` (its `#[global_allocator]`).
static STATIC_SLAB: SlabAllocator<'static, FakeRam> = SlabAllocator::new();

#[test]
fn lives_in_a_static_and_serves_once_initialised() {
    assert!(STATIC_SLAB.kmalloc(8, GFP_KERNEL).is_none(), "served before init");
    let pa: &'static PageAlloc<FakeRam> = Box::leak(Box::new(ram(4)));
    STATIC_SLAB.init(pa, SlabConfig::default()).unwrap();
    assert_eq!(STATIC_SLAB.init(pa, SlabConfig::default()), Err(SlabError::AlreadyInitialised));
    let p = STATIC_SLAB.kmalloc(8, GFP_KERNEL).unwrap();
    // SAFETY: just allocated, freed once.
    unsafe { STATIC_SLAB.kfree(p.as_ptr()) };
}

#[test]
fn layouts_follow_slub() {
    // (size, order, objects) as Linux shows them on a one-CPU machine.
    for (size, order, objects) in [(8, 0, 512), (64, 0, 64), (96, 0, 42), (192, 0, 21), (512, 0, 8), (1024, 1, 8), (2048, 2, 8), (4096, 3, 8), (8192, 3, 4)] {
        let l = calculate_layout(size, 0, 0, false).unwrap();
        assert_eq!((l.order, l.objects), (order, objects), "size {size}");
        assert_eq!(l.fp_offset, 0);
    }
    let l = calculate_layout(100, 0, SLAB_HWCACHE_ALIGN, false).unwrap();
    assert_eq!((l.align, l.size), (64, 128));
    let l = calculate_layout(20, 0, SLAB_HWCACHE_ALIGN, false).unwrap();
    assert_eq!((l.align, l.size), (32, 32));
    // Red zone: a word after the object; poison moves the free pointer out.
    let l = calculate_layout(60, 0, SLAB_RED_ZONE | SLAB_POISON, false).unwrap();
    assert_eq!((l.red_zone_end, l.fp_offset, l.size, l.limit), (72, 72, 80, 0));
    let l = calculate_layout(60, 0, 0, true).unwrap();
    assert_eq!((l.fp_offset, l.size, l.limit, l.batchcount), (64, 72, 120, 60));
    assert!(calculate_layout(0, 0, 0, false).is_none());
    assert!(calculate_layout(MAX_OBJECT_SIZE + 1, 0, 0, false).is_none());
    assert_eq!(calculate_layout(MAX_OBJECT_SIZE, 0, 0, false).unwrap().objects, 1);
    for size in (8..=MAX_OBJECT_SIZE).step_by(40) {
        let l = calculate_layout(size, 0, 0, false).unwrap();
        assert!(l.order <= SLUB_MAX_ORDER);
        let waste = l.slab_bytes() - l.objects * l.size;
        assert!(l.objects >= 4.min(MAX_OBJECT_SIZE / l.size), "size {size}: {l:?}");
        assert!(waste * 2 <= l.slab_bytes(), "size {size}: {l:?}");
    }
}

static CTOR_RUNS: AtomicU64 = AtomicU64::new(0);
fn ctor(p: *mut u8) {
    CTOR_RUNS.fetch_add(1, Relaxed);
    // SAFETY: a constructor gets a whole fresh object of the cache (48 bytes).
    unsafe { (p as *mut u64).write(0xc0ffee) };
}

#[test]
fn ctor_runs_once_per_object_and_state_survives_free() {
    let pa = ram(8);
    let s = slab(&pa, false);
    let c = s.kmem_cache_create("ctor_test", 48, 0, 0, Some(ctor)).unwrap();
    let per_slab = c.layout().unwrap().objects as u64;
    let mut objs = Vec::new();
    for _ in 0..3 * per_slab {
        let o = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        // SAFETY: a live 48-byte object of the cache.
        assert_eq!(unsafe { (o.as_ptr() as *const u64).read() }, 0xc0ffee);
        objs.push(o);
    }
    // Once per object of every slab made (refills took whole batches).
    let made = c.stats().num_objs;
    assert!(made >= 3 * per_slab);
    assert_eq!(CTOR_RUNS.load(Relaxed), made);
    for &o in &objs {
        // SAFETY: allocated above from `c`, freed once.
        unsafe { s.kmem_cache_free(c, o) };
    }
    for _ in 0..3 * per_slab {
        let o = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        // SAFETY: a live object; the freelist link lives after the object.
        assert_eq!(unsafe { (o.as_ptr() as *const u64).read() }, 0xc0ffee);
        // SAFETY: allocated just above.
        unsafe { s.kmem_cache_free(c, o) };
    }
    assert_eq!(c.stats().num_objs, made);
    assert_eq!(CTOR_RUNS.load(Relaxed), made, "constructor ran again on reuse");
}

#[test]
fn colouring_moves_the_first_object() {
    let pa = ram(8);
    let s = slab(&pa, false);
    // 4096 / 200 = 20 objects, 96 bytes left: colours 0 and 64.
    let c = s.kmem_cache_create("colour_test", 200, 0, 0, None).unwrap();
    let l = c.layout().unwrap();
    assert_eq!((l.objects, l.colours), (20, 2));
    let mut firsts = Vec::new();
    let mut held = Vec::new();
    for _ in 0..4 * l.objects {
        let o = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
        held.push(o);
        firsts.push(o.as_ptr() as usize % PAGE_SIZE);
    }
    let min_offsets: std::collections::BTreeSet<usize> = firsts.iter().map(|o| o % 200).collect();
    assert!(min_offsets.contains(&0) && min_offsets.contains(&64), "{min_offsets:?}");
    for o in held {
        // SAFETY: allocated above from `c`.
        unsafe { s.kmem_cache_free(c, o) };
    }
}

#[test]
fn shrink_and_destroy_return_every_page() {
    let pa = ram(8);
    let start = free_all(&pa);
    let s = slab(&pa, false);
    let c = s.kmem_cache_create("shrink_test", 256, 0, SLAB_HWCACHE_ALIGN, None).unwrap();
    let objs: Vec<_> = (0..1000).map(|_| s.kmem_cache_alloc(c, GFP_KERNEL).unwrap()).collect();
    assert!(free_all(&pa) < start);
    let st = c.stats();
    // Refills take batches of 60; 16 objects per slab.
    assert_eq!(st.active_objs, 1000u64.div_ceil(60) * 60);
    assert_eq!(st.num_slabs, st.active_objs.div_ceil(16));
    // Destroy drains this CPU's array first: what is left is in use.
    assert_eq!(s.kmem_cache_destroy(c), Err(SlabError::Busy { name: "shrink_test", live: 1000 }));
    assert!(s.kmem_cache_destroy(c).unwrap_err().to_string().contains("still has objects"));
    for o in objs {
        // SAFETY: allocated above from `c`.
        unsafe { s.kmem_cache_free(c, o) };
    }
    // At most MAX_EMPTY_SLABS empty slabs stay, plus what the array pins.
    assert!(c.stats().empty_slabs <= MAX_EMPTY_SLABS);
    s.kmem_cache_shrink(c);
    assert_eq!(c.stats().num_slabs, 0);
    assert_eq!(free_all(&pa), start);
    s.kmem_cache_destroy(c).unwrap();
    assert!(!c.is_active());
    assert!(s.kmem_cache_alloc(c, GFP_KERNEL).is_none());
    assert_eq!(s.kmem_cache_destroy(c), Err(SlabError::NotActive));
    // Made again the same way, the slot comes back.
    let again = s.kmem_cache_create("shrink_test", 256, 0, SLAB_HWCACHE_ALIGN, None).unwrap();
    assert!(core::ptr::eq(again, c));
    let o = s.kmem_cache_alloc(again, GFP_KERNEL).unwrap();
    // SAFETY: allocated just above.
    unsafe { s.kmem_cache_free(again, o) };
    s.kmem_cache_destroy(again).unwrap();
    assert_eq!(free_all(&pa), start);
}

#[test]
fn registry_is_bounded_and_errors_are_clear() {
    let pa = ram(8);
    let s = slab(&pa, false);
    let used = 2 * NR_KMALLOC_CACHES;
    for _ in used..MAX_CACHES {
        s.kmem_cache_create("filler", 32, 0, 0, None).unwrap();
    }
    assert_eq!(s.kmem_cache_create("one_too_many", 32, 0, 0, None).err(), Some(SlabError::TooManyCaches));
    let fresh = SlabAllocator::<FakeRam>::new();
    assert_eq!(fresh.kmem_cache_create("early", 32, 0, 0, None).err(), Some(SlabError::NotInitialised));
    assert_eq!(s.kmem_cache_create("bad", 0, 0, 0, None).err(), Some(SlabError::InvalidSize(0)));
    assert_eq!(s.kmem_cache_create("bad", 8, 3, 0, None).err(), Some(SlabError::InvalidAlign(3)));
    assert_eq!(s.kmem_cache_create("bad", 8, 0, 1, None).err(), Some(SlabError::InvalidFlags(1)));
    let k = s.kmalloc_cache(64, GFP_KERNEL).unwrap();
    assert_eq!(s.kmem_cache_destroy(k), Err(SlabError::KmallocCache("kmalloc-64")));
}

#[test]
#[should_panic(expected = "kmem_cache_create: Failed to create slab 'huge'")]
fn slab_panic_panics() {
    let pa = ram(8);
    let s = slab(&pa, false);
    let _ = s.kmem_cache_create("huge", MAX_OBJECT_SIZE + 1, 0, SLAB_PANIC, None);
}

#[test]
fn other_threads_take_the_locked_path() {
    let pa = ram(8);
    let s = slab(&pa, false);
    let c = s.kmem_cache_create("threads", 64, 0, 0, None).unwrap();
    let mine = s.kmem_cache_alloc(c, GFP_KERNEL).unwrap();
    std::thread::scope(|t| {
        t.spawn(|| {
            let objs: Vec<_> = (0..500).map(|_| s.kmem_cache_alloc(c, GFP_KERNEL).unwrap()).collect();
            for o in objs {
                // SAFETY: allocated above from `c`.
                unsafe { s.kmem_cache_free(c, o) };
            }
        });
    });
    // SAFETY: allocated above from `c`.
    unsafe { s.kmem_cache_free(c, mine) };
    s.kmem_cache_shrink(c);
    assert_eq!(c.stats().num_slabs, 0);
    assert_eq!(s.bug_count(), 0);
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize),
    Free(usize),
    Shrink,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(prop_oneof![6 => (0usize..4).prop_map(Op::Alloc), 5 => any::<usize>().prop_map(Op::Free), 1 => Just(Op::Shrink)], 1..400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random alloc/free against a model: objects aligned, inside their
    /// slab's memory, disjoint, contents kept; everything comes back.
    #[test]
    fn alloc_free_matches_model(ops in ops(), sizes in prop::collection::vec((1usize..3000, 0u32..4), 4), debug in any::<bool>()) {
        let pa = ram(8);
        let start = free_all(&pa);
        let s = slab(&pa, debug);
        let caches: Vec<&KmemCache> = sizes.iter().enumerate().map(|(i, &(size, al))| {
            let align = [0, 16, 64, 512][al as usize];
            s.kmem_cache_create(["a", "b", "c", "d"][i], size, align, 0, None).unwrap()
        }).collect();
        // addr -> (cache, len, pattern)
        let mut live: BTreeMap<usize, (usize, usize, u8)> = BTreeMap::new();
        let mut stamp = 0u8;
        for op in ops {
            match op {
                Op::Alloc(ci) => {
                    let c = caches[ci];
                    let Some(o) = s.kmem_cache_alloc(c, GFP_KERNEL) else { continue };
                    let a = o.as_ptr() as usize;
                    let len = c.object_size();
                    prop_assert_eq!(phys(&pa, o.as_ptr()) as usize % c.align(), 0);
                    let (pfn, head) = s.slab_head(a).unwrap();
                    let base = pa.mem.frame_ptr(pfn).unwrap() as usize;
                    prop_assert!(a >= base && a + len <= base + c.layout().unwrap().slab_bytes());
                    prop_assert_eq!(head.private(), c as *const KmemCache as u64);
                    if let Some((&b, &(_, blen, _))) = live.range(..=a).next_back() {
                        prop_assert!(b + blen <= a, "overlap {:#x}+{} and {:#x}", b, blen, a);
                    }
                    if let Some((&b, _)) = live.range(a..).next() {
                        prop_assert!(a + len <= b);
                    }
                    stamp = stamp.wrapping_add(1);
                    // SAFETY: a live object of `len` bytes.
                    unsafe { core::ptr::write_bytes(o.as_ptr(), stamp, len) };
                    live.insert(a, (ci, len, stamp));
                }
                Op::Free(k) => {
                    if live.is_empty() { continue }
                    let (&a, &(ci, len, pat)) = live.iter().nth(k % live.len()).unwrap();
                    // SAFETY: a live object of `len` bytes.
                    let bytes = unsafe { core::slice::from_raw_parts(a as *const u8, len) };
                    prop_assert!(bytes.iter().all(|&b| b == pat), "contents changed");
                    // SAFETY: allocated from caches[ci], freed once.
                    unsafe { s.kmem_cache_free(caches[ci], NonNull::new(a as *mut u8).unwrap()) };
                    live.remove(&a);
                }
                Op::Shrink => {
                    for c in &caches {
                        s.kmem_cache_shrink(c);
                    }
                }
            }
        }
        for (&a, &(ci, _, _)) in &live {
            // SAFETY: still live, allocated from caches[ci].
            unsafe { s.kmem_cache_free(caches[ci], NonNull::new(a as *mut u8).unwrap()) };
        }
        for c in &caches {
            s.kmem_cache_destroy(c).unwrap();
        }
        prop_assert_eq!(s.bug_count(), 0);
        prop_assert_eq!(free_all(&pa), start);
    }
}
