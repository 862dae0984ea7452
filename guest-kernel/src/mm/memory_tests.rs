//! The decisions, and a model that runs them: processes with PTEs,
//! pages with contents and reference counts, objects with pages, and
//! random read/write/fork/mprotect/munmap sequences. After every step
//! the zero page is all zero and never writable, and every byte a
//! process reads is what Linux semantics say it is.

use super::*;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use proptest::prelude::*;

const PRIVATE_ANON: VmaAccess = VmaAccess { read: true, write: true, exec: false, shared: false, object: false };
const SHARED_OBJECT: VmaAccess = VmaAccess { read: true, write: true, exec: false, shared: true, object: true };
const PRIVATE_OBJECT: VmaAccess = VmaAccess { read: true, write: true, exec: false, shared: false, object: true };

#[test]
fn anonymous_memory_reads_the_zero_page_and_writes_a_new_one() {
    assert_eq!(decide_pte_fault(PRIVATE_ANON, PteState::None, false, false), Fault::MapZeroPage);
    assert_eq!(decide_pte_fault(PRIVATE_ANON, PteState::None, true, false), Fault::NewAnonPage);
    let zero = PteState::Present { writable: false, page: PageKind::Zero };
    assert_eq!(decide_pte_fault(PRIVATE_ANON, zero, true, false), Fault::Copy { from_zero: true });
    assert_eq!(decide_pte_fault(PRIVATE_ANON, zero, false, false), Fault::Spurious);
}

/// The bug this module exists for: a write fault on a zero-page PTE in
/// a shared mapping made the PTE writable in place.
#[test]
fn a_write_never_makes_the_zero_page_writable() {
    let zero = PteState::Present { writable: false, page: PageKind::Zero };
    let shared_no_object = VmaAccess { object: false, ..SHARED_OBJECT };
    for vma in [PRIVATE_ANON, SHARED_OBJECT, PRIVATE_OBJECT, shared_no_object] {
        let f = decide_pte_fault(vma, zero, true, false);
        assert!(!matches!(f, Fault::ReuseAnon | Fault::MakeWritable | Fault::Spurious), "{vma:?}: {f:?}");
    }
    assert_eq!(decide_pte_fault(SHARED_OBJECT, zero, true, false), Fault::MapObjectPage { writable: true });
    assert_eq!(decide_pte_fault(shared_no_object, zero, true, false), Fault::NoObject);
    assert_eq!(decide_pte_fault(shared_no_object, PteState::None, false, false), Fault::NoObject);
    assert!(!protect_writable(true, PageKind::Zero));
}

#[test]
fn access_errors_and_object_faults() {
    let ro = VmaAccess { write: false, ..PRIVATE_ANON };
    assert_eq!(decide_pte_fault(ro, PteState::None, true, false), Fault::AccessError);
    assert_eq!(decide_pte_fault(ro, PteState::None, false, true), Fault::AccessError);
    let none = VmaAccess { read: false, write: false, exec: false, ..PRIVATE_ANON };
    assert_eq!(decide_pte_fault(none, PteState::ProtNone, false, false), Fault::AccessError);
    assert_eq!(decide_pte_fault(ro, PteState::ProtNone, false, false), Fault::RestoreAccess);
    assert_eq!(decide_pte_fault(PRIVATE_OBJECT, PteState::None, true, false), Fault::CopyObjectPage);
    assert_eq!(decide_pte_fault(PRIVATE_OBJECT, PteState::None, false, false), Fault::MapObjectPage { writable: false });
    assert_eq!(decide_pte_fault(SHARED_OBJECT, PteState::None, false, false), Fault::MapObjectPage { writable: true });
    let obj = PteState::Present { writable: false, page: PageKind::Object };
    assert_eq!(decide_pte_fault(PRIVATE_OBJECT, obj, true, false), Fault::Copy { from_zero: false });
    assert_eq!(decide_pte_fault(SHARED_OBJECT, obj, true, false), Fault::MakeWritable);
    let shared_anon = PteState::Present { writable: false, page: PageKind::Anon { exclusive: false } };
    assert_eq!(decide_pte_fault(PRIVATE_ANON, shared_anon, true, false), Fault::Copy { from_zero: false });
    let own = PteState::Present { writable: false, page: PageKind::Anon { exclusive: true } };
    assert_eq!(decide_pte_fault(PRIVATE_ANON, own, true, false), Fault::ReuseAnon);
}

// --- The model. ---

/// Page 0 is the zero page.
const ZERO: usize = 0;
const NPAGES: u64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    PrivateAnon,
    /// Shared anonymous memory: a shmem object shared across fork.
    SharedAnon,
    PrivateFile,
    SharedFile,
}

#[derive(Clone, Copy)]
struct MPte {
    page: usize,
    writable: bool,
    present: bool,
}

#[derive(Clone)]
struct Region {
    kind: Kind,
    /// The object (index into `World::objects`), for all but private
    /// anonymous memory.
    object: Option<usize>,
    write: bool,
    read: bool,
    ptes: BTreeMap<u64, MPte>,
    /// What each page must read as, if known (Linux semantics).
    expect: BTreeMap<u64, u8>,
}

#[derive(Clone)]
struct Proc {
    regions: Vec<Option<Region>>,
}

struct PageState {
    byte: u8,
    anon: bool,
    /// PTEs mapping it.
    maps: usize,
    /// References: PTEs plus the owning object's.
    refs: usize,
}

struct World {
    pages: Vec<PageState>,
    /// Object pages by index: page numbers.
    objects: Vec<BTreeMap<u64, usize>>,
    procs: Vec<Proc>,
}

#[derive(Clone, Debug)]
enum Op {
    Map { proc: usize, kind: u8 },
    Read { proc: usize, region: usize, page: u64 },
    Write { proc: usize, region: usize, page: u64, byte: u8 },
    Fork { proc: usize },
    Protect { proc: usize, region: usize, write: bool, read: bool },
    Unmap { proc: usize, region: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 0..4u8).prop_map(|(proc, kind)| Op::Map { proc, kind }),
        (0..4usize, 0..6usize, 0..NPAGES).prop_map(|(proc, region, page)| Op::Read { proc, region, page }),
        (0..4usize, 0..6usize, 0..NPAGES, 1..=255u8).prop_map(|(proc, region, page, byte)| Op::Write { proc, region, page, byte }),
        (0..4usize).prop_map(|proc| Op::Fork { proc }),
        (0..4usize, 0..6usize, any::<bool>(), any::<bool>()).prop_map(|(proc, region, write, read)| Op::Protect { proc, region, write, read }),
        (0..4usize, 0..6usize).prop_map(|(proc, region)| Op::Unmap { proc, region }),
    ]
}

impl World {
    fn new() -> Self {
        Self { pages: alloc::vec![PageState { byte: 0, anon: false, maps: 0, refs: 1 }], objects: Vec::new(), procs: alloc::vec![Proc { regions: Vec::new() }] }
    }

    fn new_page(&mut self, byte: u8, anon: bool) -> usize {
        self.pages.push(PageState { byte, anon, maps: 0, refs: 0 });
        self.pages.len() - 1
    }

    fn map(&mut self, page: usize) {
        self.pages[page].maps += 1;
        self.pages[page].refs += 1;
    }

    fn unmap(&mut self, page: usize) {
        self.pages[page].maps -= 1;
        self.pages[page].refs -= 1;
    }

    fn object_page(&mut self, obj: usize, index: u64) -> usize {
        if let Some(&p) = self.objects[obj].get(&index) {
            return p;
        }
        // A file's pages start with a byte of their own, shmem's zeroed:
        // both are fine for the model, which records what it expects.
        let p = self.new_page(0, false);
        self.pages[p].refs = 1;
        self.objects[obj].insert(index, p);
        p
    }

    fn kind_of(&self, pte: MPte) -> PageKind {
        let p = &self.pages[pte.page];
        if pte.page == ZERO {
            PageKind::Zero
        } else if p.anon {
            PageKind::Anon { exclusive: p.maps == 1 && p.refs == 1 }
        } else {
            PageKind::Object
        }
    }

    /// One access, faulting until the PTE allows it (at most twice, as
    /// the hardware would retry). `None`: the access is refused.
    fn access(&mut self, proc: usize, region: usize, index: u64, write: bool) -> Option<usize> {
        for _ in 0..3 {
            let r = self.procs[proc].regions[region].as_ref()?;
            let vma = VmaAccess {
                read: r.read,
                write: r.write,
                exec: false,
                shared: matches!(r.kind, Kind::SharedAnon | Kind::SharedFile),
                object: r.object.is_some(),
            };
            let pte = match r.ptes.get(&index) {
                None => PteState::None,
                Some(p) if !p.present => PteState::ProtNone,
                Some(&p) => {
                    if p.writable || !write {
                        assert!(r.read || r.write, "an accessible PTE in an inaccessible VMA");
                        return Some(p.page);
                    }
                    PteState::Present { writable: p.writable, page: self.kind_of(p) }
                }
            };
            let old = r.ptes.get(&index).copied();
            let obj = r.object;
            let new = match decide_pte_fault(vma, pte, write, false) {
                Fault::AccessError | Fault::NoObject => return None,
                Fault::Spurious => old?,
                Fault::RestoreAccess => MPte { present: true, writable: false, ..old? },
                Fault::ReuseAnon | Fault::MakeWritable => MPte { writable: true, ..old? },
                Fault::Copy { from_zero } => {
                    let old = old?;
                    let byte = if from_zero { 0 } else { self.pages[old.page].byte };
                    let p = self.new_page(byte, true);
                    self.unmap(old.page);
                    self.map(p);
                    MPte { page: p, writable: true, present: true }
                }
                Fault::MapZeroPage => {
                    self.map(ZERO);
                    MPte { page: ZERO, writable: false, present: true }
                }
                Fault::NewAnonPage => {
                    let p = self.new_page(0, true);
                    self.map(p);
                    MPte { page: p, writable: true, present: true }
                }
                Fault::MapObjectPage { writable } => {
                    if let Some(old) = old {
                        self.unmap(old.page);
                    }
                    let p = self.object_page(obj?, index);
                    self.map(p);
                    MPte { page: p, writable, present: true }
                }
                Fault::CopyObjectPage => {
                    let src = self.object_page(obj?, index);
                    let byte = self.pages[src].byte;
                    let p = self.new_page(byte, true);
                    self.map(p);
                    MPte { page: p, writable: true, present: true }
                }
            };
            if new.writable {
                assert_ne!(new.page, ZERO, "the zero page mapped writable");
            }
            self.procs[proc].regions[region].as_mut()?.ptes.insert(index, new);
        }
        panic!("a fault did not resolve");
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Map { proc, kind } => {
                let Some(p) = self.procs.get(proc) else { return };
                if p.regions.len() >= 6 {
                    return;
                }
                let kind = [Kind::PrivateAnon, Kind::SharedAnon, Kind::PrivateFile, Kind::SharedFile][kind as usize];
                let object = (kind != Kind::PrivateAnon).then(|| {
                    self.objects.push(BTreeMap::new());
                    self.objects.len() - 1
                });
                // Everything starts reading zero (files here are
                // created empty and truncated up: holes read zero).
                let expect = (0..NPAGES).map(|i| (i, 0)).collect();
                self.procs[proc].regions.push(Some(Region { kind, object, write: true, read: true, ptes: BTreeMap::new(), expect }));
            }
            Op::Read { proc, region, page } => {
                if let Some(p) = self.access_checked(proc, region, page, false) {
                    let want = self.procs[proc].regions[region].as_ref().and_then(|r| r.expect.get(&page).copied());
                    if let Some(want) = want {
                        assert_eq!(self.pages[p].byte, want, "{op:?} read the wrong byte");
                    }
                }
            }
            Op::Write { proc, region, page, byte } => {
                if let Some(p) = self.access_checked(proc, region, page, true) {
                    assert_ne!(p, ZERO, "a write reached the zero page");
                    self.pages[p].byte = byte;
                    // Who else sees it: every process mapping the same
                    // object through a shared region.
                    let r = self.procs[proc].regions[region].as_ref().unwrap();
                    let (kind, object) = (r.kind, r.object);
                    for q in &mut self.procs {
                        for other in q.regions.iter_mut().flatten() {
                            let same = matches!(kind, Kind::SharedAnon | Kind::SharedFile) && other.object == object && other.kind == kind;
                            if same {
                                other.expect.insert(page, byte);
                            }
                        }
                    }
                    if !matches!(kind, Kind::SharedAnon | Kind::SharedFile) {
                        self.procs[proc].regions[region].as_mut().unwrap().expect.insert(page, byte);
                    }
                    // A private file mapping's untouched pages read the
                    // file; the model's files are never written through
                    // read()/write(), only through shared mappings, which
                    // private mappings of another object never see.
                }
            }
            Op::Fork { proc } => {
                if proc >= self.procs.len() || self.procs.len() >= 4 {
                    return;
                }
                let mut child = self.procs[proc].clone();
                for (parent_r, child_r) in self.procs[proc].regions.iter_mut().zip(child.regions.iter_mut()) {
                    let (Some(pr), Some(cr)) = (parent_r, child_r) else { continue };
                    let wp = fork_write_protect(matches!(pr.kind, Kind::SharedAnon | Kind::SharedFile), true);
                    for (idx, pte) in pr.ptes.iter_mut() {
                        if wp {
                            pte.writable = false;
                            cr.ptes.get_mut(idx).unwrap().writable = false;
                        }
                        self.pages[pte.page].maps += 1;
                        self.pages[pte.page].refs += 1;
                    }
                }
                self.procs.push(child);
            }
            Op::Protect { proc, region, write, read } => {
                let Some(r) = self.procs.get(proc).and_then(|p| p.regions.get(region)).and_then(|r| r.as_ref()) else { return };
                let mut ptes = r.ptes.clone();
                for pte in ptes.values_mut() {
                    let kind = self.kind_of(*pte);
                    pte.present = read || write;
                    pte.writable = pte.present && protect_writable(write, kind);
                }
                let r = self.procs[proc].regions[region].as_mut().unwrap();
                (r.read, r.write, r.ptes) = (read, write, ptes);
            }
            Op::Unmap { proc, region } => {
                let Some(r) = self.procs.get_mut(proc).and_then(|p| p.regions.get_mut(region)).and_then(Option::take) else { return };
                for pte in r.ptes.values() {
                    self.unmap(pte.page);
                }
            }
        }
        self.check();
    }

    fn access_checked(&mut self, proc: usize, region: usize, page: u64, write: bool) -> Option<usize> {
        let r = self.procs.get(proc)?.regions.get(region)?.as_ref()?;
        let allowed = if write { r.write } else { r.read || r.write };
        let got = self.access(proc, region, page, write);
        assert_eq!(got.is_some(), allowed, "access allowed by the VMA must succeed, and only then");
        got
    }

    fn check(&self) {
        assert_eq!(self.pages[ZERO].byte, 0, "the zero page was written");
        let mut maps = alloc::vec![0usize; self.pages.len()];
        for p in &self.procs {
            for r in p.regions.iter().flatten() {
                for pte in r.ptes.values() {
                    maps[pte.page] += 1;
                    assert!(!(pte.writable && pte.page == ZERO), "a writable zero-page PTE");
                    if pte.writable && self.pages[pte.page].anon {
                        assert_eq!(self.pages[pte.page].maps, 1, "a writable anonymous page mapped twice");
                    }
                }
            }
        }
        for (i, p) in self.pages.iter().enumerate().skip(1) {
            assert_eq!(p.maps, maps[i], "page {i}: map count");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Random sequences over private and shared, anonymous and file
    /// memory, with fork and mprotect: every read sees what Linux
    /// semantics say, the zero page stays zero and read-only.
    #[test]
    fn fault_model_keeps_processes_apart(ops in proptest::collection::vec(op(), 1..80)) {
        let mut w = World::new();
        for op in &ops {
            w.step(op);
        }
    }
}

/// The exact sequence of the bug: a shared anonymous mapping is read
/// (zero page) then written; another process's fresh private page must
/// still read zero.
#[test]
fn shared_anonymous_read_then_write_keeps_the_zero_page_clean() {
    let mut w = World::new();
    for op in [
        Op::Map { proc: 0, kind: 1 },
        Op::Read { proc: 0, region: 0, page: 0 },
        Op::Write { proc: 0, region: 0, page: 0, byte: 0x41 },
        Op::Fork { proc: 0 },
        Op::Map { proc: 1, kind: 0 },
        Op::Read { proc: 1, region: 1, page: 0 },
        Op::Read { proc: 1, region: 0, page: 0 },
    ] {
        w.step(&op);
    }
    assert_eq!(w.pages[ZERO].byte, 0);
}
