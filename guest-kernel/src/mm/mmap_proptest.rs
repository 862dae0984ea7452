//! Property test of the VMA operations against a page-granular model.
//!
//! Random sequences of `mmap`, `munmap`, `mprotect`, `brk`, `mremap` and
//! stack faults run on a [`VmaTree`] and on a model that knows nothing of
//! VMAs: a map page -> (flags, file, pgoff, name, contents). After every
//! step the two must agree on the result, the break and every page; the
//! structure must pass `check_invariants`; and a fake [`PageTables`], whose
//! PTEs carry the model's page contents, must show that exactly the pages
//! the model dropped were unmapped, that moved pages kept their contents and
//! that changed pages got the new protection. Every mapped page is then
//! "faulted in" with fresh contents, so the next step checks them all.

use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use proptest::prelude::*;

use super::addr::UserAddr;
use super::mmap::*;
use super::mmap_model::*;
use super::mremap::*;
use super::vma::*;

/// An address: absolute, or page `n` of the `i`-th VMA at the time the
/// step runs (so that steps hit mappings often).
#[derive(Clone, Copy, Debug)]
enum Addr {
    Abs(u64),
    InVma(usize, u64),
}

impl Addr {
    fn resolve(self, mm: &VmaTree<u32>) -> u64 {
        match self {
            Addr::Abs(a) => a,
            Addr::InVma(i, n) => {
                let vmas: Vec<_> = mm.iter().collect();
                match vmas.len() {
                    0 => BASE - (n + 1) * P,
                    len => vmas[i % len].start.as_u64() + n % (vmas[i % len].pages() + 1) * P,
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Mmap { addr: Addr, len: u64, prot: u32, flags: u32, file: u32, pgoff: u64, writable: bool },
    Munmap { addr: Addr, len: u64 },
    Mprotect { addr: Addr, len: u64, prot: u32 },
    Brk { brk: u64 },
    Mremap { addr: Addr, old_len: u64, new_len: u64, flags: u32, new_addr: Addr },
    Fault { addr: u64 },
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        8 => (any::<usize>(), 0u64..24).prop_map(|(i, n)| Addr::InVma(i, n)),
        4 => (BASE / P - 80..BASE / P + 4).prop_map(|p| Addr::Abs(p * P)),
        2 => (START_BRK / P..START_BRK / P + 48).prop_map(|p| Addr::Abs(p * P)),
        1 => (STACK / P - 320..TS / P).prop_map(|p| Addr::Abs(p * P)),
        1 => (0..TS / P + 2).prop_map(|p| Addr::Abs(p * P)),
        1 => Just(Addr::Abs(0)),
        1 => (0..TS).prop_map(|a| Addr::Abs(a | 1)),
    ]
}

fn len() -> impl Strategy<Value = u64> {
    prop_oneof![8 => (1u64..20).prop_map(|n| n * P), 2 => 0..20 * P, 1 => Just(0u64)]
}

fn prot() -> impl Strategy<Value = u32> {
    prop_oneof![12 => 0u32..8, 1 => Just(PROT_READ | PROT_GROWSDOWN), 1 => Just(PROT_READ | PROT_GROWSUP), 1 => Just(0x10u32)]
}

fn op() -> impl Strategy<Value = Op> {
    let map_type = prop_oneof![6 => Just(MAP_PRIVATE), 3 => Just(MAP_SHARED), 1 => Just(MAP_SHARED_VALIDATE), 1 => Just(0u32)];
    let placement = prop_oneof![4 => Just(0u32), 3 => Just(MAP_FIXED), 1 => Just(MAP_FIXED_NOREPLACE)];
    let extra = prop_oneof![
        12 => Just(0u32),
        1 => Just(MAP_GROWSDOWN),
        1 => Just(MAP_NORESERVE),
        1 => Just(MAP_LOCKED),
        1 => Just(MAP_SYNC),
    ];
    let mmap = (addr(), len(), prot(), map_type, prop::bool::weighted(0.7), placement, extra, 1u32..3, 0u64..16, any::<bool>()).prop_map(
        |(addr, len, prot, ty, anon, place, extra, file, pgoff, writable)| Op::Mmap {
            addr,
            len,
            prot: prot & 7,
            flags: ty | place | extra | if anon { MAP_ANONYMOUS } else { 0 },
            file,
            pgoff,
            writable,
        },
    );
    let remap_flags = prop_oneof![
        3 => Just(0u32),
        4 => Just(MREMAP_MAYMOVE),
        2 => Just(MREMAP_MAYMOVE | MREMAP_FIXED),
        2 => Just(MREMAP_MAYMOVE | MREMAP_DONTUNMAP),
        1 => 0u32..16,
    ];
    prop_oneof![
        6 => mmap,
        3 => (addr(), len()).prop_map(|(addr, len)| Op::Munmap { addr, len }),
        4 => (addr(), len(), prot()).prop_map(|(addr, len, prot)| Op::Mprotect { addr, len, prot }),
        3 => prop_oneof![4 => START_BRK - P..START_BRK + 40 * P, 1 => Just(0u64)].prop_map(|brk| Op::Brk { brk }),
        4 => (addr(), len(), len(), any::<bool>(), remap_flags, addr()).prop_map(|(addr, old_len, new_len, same, flags, new_addr)| {
            Op::Mremap { addr, old_len, new_len: if same { old_len } else { new_len }, flags, new_addr }
        }),
        2 => (STACK / P - 320..TS / P, 0..P).prop_map(|(p, o)| Op::Fault { addr: p * P + o }),
    ]
}

/// Runs `op` on both sides; returns the two results as comparable values.
fn apply(mm: &mut VmaTree<u32>, pt: &mut FakePt, model: &mut Model, op: &Op) -> (R<u64>, R<u64>) {
    match *op {
        Op::Mmap { addr, len, prot, flags, file, pgoff, writable } => {
            let addr = addr.resolve(mm);
            (
                mm.mmap(UserAddr::new(addr), len, prot, flags, Some(file), pgoff, writable, pt).map(UserAddr::as_u64),
                model.mmap(addr, len, prot, flags, Some(file), pgoff, writable),
            )
        }
        Op::Munmap { addr, len } => {
            let addr = addr.resolve(mm);
            (mm.munmap(UserAddr::new(addr), len, pt).map(|()| 0), model.munmap(addr, len).map(|()| 0))
        }
        Op::Mprotect { addr, len, prot } => {
            let addr = addr.resolve(mm);
            (mm.mprotect(UserAddr::new(addr), len, prot, pt).map(|()| 0), model.mprotect(addr, len, prot).map(|()| 0))
        }
        Op::Brk { brk } => (Ok(mm.brk(UserAddr::new(brk), pt).as_u64()), Ok(model.brk(brk))),
        Op::Mremap { addr, old_len, new_len, flags, new_addr } => {
            let (addr, new_addr) = (addr.resolve(mm), new_addr.resolve(mm));
            (
                mm.mremap(UserAddr::new(addr), old_len, new_len, flags, UserAddr::new(new_addr), pt).map(UserAddr::as_u64),
                model.mremap(addr, old_len, new_len, flags, new_addr),
            )
        }
        Op::Fault { addr } => (mm.expand_stack(UserAddr::new(addr), RLIMIT).map(|()| 0), model.expand_stack(addr).map(|()| 0)),
    }
}

/// Everything the two sides must agree on after a step.
fn check(mm: &VmaTree<u32>, pt: &FakePt, model: &Model) -> Result<(), TestCaseError> {
    if let Err(e) = mm.check_invariants() {
        return Err(TestCaseError::fail(e));
    }
    prop_assert_eq!(mm.brk.as_u64(), model.brk);
    let mut got = BTreeMap::new();
    for v in mm.iter() {
        for p in pages(v.start.as_u64(), v.end.as_u64()) {
            got.insert(p, (v.flags, v.file, v.pgoff_at(UserAddr::new(p)), v.name.clone()));
        }
    }
    let want: BTreeMap<u64, _> = model.pages.iter().map(|(&p, g)| (p, (g.flags, g.file, g.pgoff, g.name.clone()))).collect();
    prop_assert_eq!(got, want, "the VMA set and the model disagree");
    // Linux's vm_stat_account classes, counted page by page.
    let count = |class: fn(VmFlags) -> bool| model.pages.values().filter(|g| class(g.flags)).count() as u64;
    let exec = |f: VmFlags| f & VM_EXEC != 0 && f & (VM_WRITE | VM_GROWSDOWN) == 0;
    let stack = |f: VmFlags| f & VM_GROWSDOWN != 0;
    let data = |f: VmFlags| f & VM_WRITE != 0 && f & (VM_SHARED | VM_GROWSDOWN) == 0;
    prop_assert_eq!(
        (mm.total_vm, mm.exec_vm, mm.stack_vm, mm.data_vm, mm.locked_vm),
        (model.pages.len() as u64, count(exec), count(stack), count(data), count(|f| f & VM_LOCKED != 0))
    );
    prop_assert_eq!(&pt.unmapped, &model.dropped, "PageTables::unmap must cover exactly the dropped pages");
    let want_ptes: BTreeMap<u64, (u64, VmFlags)> = model.pages.iter().filter_map(|(&p, g)| g.content.map(|c| (p, (c, g.flags & VM_ACCESS_FLAGS)))).collect();
    prop_assert_eq!(&pt.ptes, &want_ptes, "page tables out of step (contents or protection)");
    for &(s, e, f) in &pt.protected {
        for p in pages(s, e) {
            prop_assert_eq!(model.pages.get(&p).map(|g| g.flags), Some(f), "protect() beyond the changed pages at {:#x}", p);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn vma_operations_match_a_page_model(ops in proptest::collection::vec(op(), 1..64)) {
        let mut mm = VmaTree::<u32>::with_layout(TS, UserAddr::new(BASE));
        let mut pt = FakePt::default();
        let mut model = Model { pages: BTreeMap::new(), start_brk: START_BRK, brk: START_BRK, dropped: BTreeSet::new() };
        mm.start_brk = UserAddr::new(START_BRK);
        mm.brk = UserAddr::new(START_BRK);
        // The exec-time stack.
        let stack_op = Op::Mmap {
            addr: Addr::Abs(STACK), len: TS - STACK, prot: PROT_READ | PROT_WRITE,
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, file: 0, pgoff: 0, writable: false,
        };
        let (a, b) = apply(&mut mm, &mut pt, &mut model, &stack_op);
        prop_assert_eq!(a, Ok(STACK));
        prop_assert_eq!(b, Ok(STACK));
        prop_assert!(mm.mark_stack(UserAddr::new(STACK)));
        for p in pages(STACK, TS) {
            model.pages.get_mut(&p).unwrap().name = VmaName::Stack;
        }
        let mut token = 0;
        for op in &ops {
            let (got, want) = apply(&mut mm, &mut pt, &mut model, op);
            prop_assert_eq!(got, want, "results differ for {:?}", op);
            check(&mm, &pt, &model)?;
            // Fault every mapped page in, so the next step checks them all.
            pt.unmapped.clear();
            pt.protected.clear();
            model.dropped.clear();
            for (&p, g) in model.pages.iter_mut().filter(|(_, g)| g.content.is_none()) {
                token += 1;
                g.content = Some(token);
                pt.ptes.insert(p, (token, g.flags & VM_ACCESS_FLAGS));
            }
        }
        let mut maps = String::new();
        mm.show_maps(&mut maps, |f: &u32| (8, 1, u64::from(*f), "/file")).unwrap();
        prop_assert_eq!(maps.lines().count(), mm.map_count);
    }
}
