//! Property test of the VMA operations against a page-granular model.
//!
//! Random sequences of `mmap`, `munmap`, `mprotect`, `brk`, `mremap` and
//! stack faults run on an [`MmStruct`] and on a model that knows nothing of
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

use super::addr::{PAGE_MASK, PAGE_SIZE};
use super::mmap::*;
use super::mremap::*;
use super::vma::*;

const P: u64 = PAGE_SIZE;
/// A 16 MiB address space keeps the model's page scans cheap.
const TS: u64 = 0x100_0000;
const BASE: u64 = 0xc0_0000;
const START_BRK: u64 = 0x20_0000;
const STACK: u64 = TS - 16 * P;
const RLIMIT: u64 = 64 * P;
const LEGACY_BASE: u64 = (TS / 3 + P - 1) & PAGE_MASK;

#[derive(Clone, Debug, PartialEq)]
struct Page {
    flags: VmFlags,
    file: Option<u32>,
    pgoff: u64,
    name: VmaName,
    /// The token of the "physical page" mapped here, if faulted in.
    content: Option<u64>,
}

/// Page tables as a map page -> (contents token, access bits).
#[derive(Default)]
struct FakePt {
    ptes: BTreeMap<u64, (u64, VmFlags)>,
    unmapped: BTreeSet<u64>,
    protected: Vec<(u64, u64, VmFlags)>,
}

fn pages(start: u64, end: u64) -> impl Iterator<Item = u64> {
    (start..end).step_by(P as usize)
}

impl PageTables for FakePt {
    fn unmap(&mut self, start: u64, end: u64) {
        assert!(start < end && start & !PAGE_MASK == 0 && end & !PAGE_MASK == 0, "unmap({start:#x}, {end:#x})");
        for p in pages(start, end) {
            assert!(self.unmapped.insert(p), "page {p:#x} unmapped twice");
            self.ptes.remove(&p);
        }
    }
    fn protect(&mut self, start: u64, end: u64, flags: VmFlags) {
        assert!(start < end && start & !PAGE_MASK == 0 && end & !PAGE_MASK == 0, "protect({start:#x}, {end:#x})");
        self.protected.push((start, end, flags));
        for (_, pte) in self.ptes.range_mut(start..end) {
            pte.1 = flags & VM_ACCESS_FLAGS;
        }
    }
    fn move_range(&mut self, old: u64, new: u64, len: u64) {
        let moved: Vec<_> = self.ptes.range(old..old + len).map(|(&p, &v)| (p, v)).collect();
        for (p, _) in &moved {
            self.ptes.remove(p);
        }
        for (p, v) in moved {
            let q = new + (p - old);
            assert!(self.ptes.insert(q, v).is_none(), "moved onto a present PTE at {q:#x}");
        }
    }
}

/// The model: pages, the break, and the pages dropped by the current step.
#[derive(Clone, Debug)]
struct Model {
    pages: BTreeMap<u64, Page>,
    start_brk: u64,
    brk: u64,
    dropped: BTreeSet<u64>,
}

type R<T> = Result<T, Errno>;

impl Model {
    fn mapped(&self, p: u64) -> bool {
        self.pages.contains_key(&(p & PAGE_MASK))
    }

    fn any_mapped(&self, start: u64, end: u64) -> bool {
        self.pages.range(start..end).next().is_some()
    }

    fn drop_range(&mut self, start: u64, end: u64) {
        let gone: Vec<u64> = self.pages.range(start..end).map(|(&p, _)| p).collect();
        for p in gone {
            self.pages.remove(&p);
            self.dropped.insert(p);
        }
    }

    /// Whether pages `a` and `a + P` belong to one (maximally merged) VMA.
    fn joined(&self, a: u64) -> bool {
        match (self.pages.get(&a), self.pages.get(&(a + P))) {
            (Some(x), Some(y)) => x.flags == y.flags && x.file == y.file && x.name == y.name && x.pgoff + 1 == y.pgoff,
            _ => false,
        }
    }

    /// The VMA containing mapped page `p`.
    fn bounds(&self, p: u64) -> (u64, u64) {
        let (mut s, mut e) = (p & PAGE_MASK, (p & PAGE_MASK) + P);
        while s > 0 && self.joined(s - P) {
            s -= P;
        }
        while self.joined(e - P) {
            e += P;
        }
        (s, e)
    }

    /// Linux `find_vma`: the VMA containing `addr` or the next one above.
    fn find_vma(&self, addr: u64) -> Option<(u64, u64)> {
        self.pages.range(addr & PAGE_MASK..).next().map(|(&p, _)| self.bounds(p))
    }

    fn start_gap(&self, start: u64) -> u64 {
        if self.pages[&start].flags & VM_GROWSDOWN != 0 {
            start.saturating_sub(STACK_GUARD_GAP)
        } else {
            start
        }
    }

    /// Pages a new mapping may not use: mapped ones, and free ones whose
    /// next mapped page starts a stack less than the guard gap above.
    fn blocked(&self) -> Vec<bool> {
        let mut blocked = vec![false; (TS / P) as usize];
        let mut next: Option<u64> = None;
        for i in (0..TS / P).rev() {
            let p = i * P;
            if self.mapped(p) {
                blocked[i as usize] = true;
                next = Some(p);
            } else if let Some(n) = next {
                blocked[i as usize] = self.pages[&n].flags & VM_GROWSDOWN != 0 && p >= n.saturating_sub(STACK_GUARD_GAP);
            }
        }
        blocked
    }

    fn get_unmapped_area(&self, addr: u64, len: u64, flags: u32) -> R<u64> {
        if len > TS {
            return Err(Errno::ENOMEM);
        }
        if flags & MAP_FIXED != 0 {
            if addr > TS - len {
                return Err(Errno::ENOMEM);
            }
            if addr & !PAGE_MASK != 0 {
                return Err(Errno::EINVAL);
            }
            return Ok(addr);
        }
        let blocked = self.blocked();
        let n = len / P;
        let hint = addr & PAGE_MASK;
        if hint != 0 && hint <= TS - len && (hint / P..hint / P + n).all(|i| !blocked[i as usize]) {
            return Ok(hint);
        }
        // Top down below BASE.
        let mut run = 0;
        for i in (MMAP_MIN_ADDR / P..BASE / P).rev() {
            run = if blocked[i as usize] { 0 } else { run + 1 };
            if run == n {
                return Ok(i * P);
            }
        }
        // Bottom up from the legacy base.
        run = 0;
        for i in LEGACY_BASE / P..TS / P {
            run = if blocked[i as usize] { 0 } else { run + 1 };
            if run == n {
                return Ok((i + 1 - n) * P);
            }
        }
        Err(Errno::ENOMEM)
    }

    fn insert(&mut self, start: u64, end: u64, flags: VmFlags, file: Option<u32>, pgoff: u64, name: VmaName) {
        for (i, p) in pages(start, end).enumerate() {
            self.pages.insert(p, Page { flags, file, pgoff: pgoff + i as u64, name, content: None });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mmap(&mut self, addr: u64, len: u64, prot: u32, flags: u32, file: Option<u32>, pgoff: u64, writable: bool) -> R<u64> {
        let file = if flags & MAP_ANONYMOUS != 0 { None } else { Some(file.ok_or(Errno::EBADF)?) };
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut flags = flags;
        if flags & MAP_FIXED_NOREPLACE != 0 {
            flags |= MAP_FIXED;
        }
        let mut addr = addr;
        if flags & MAP_FIXED == 0 {
            addr &= PAGE_MASK;
            if addr != 0 && addr < MMAP_MIN_ADDR {
                addr = MMAP_MIN_ADDR;
            }
        }
        let len = (len + P - 1) & PAGE_MASK;
        let addr = self.get_unmapped_area(addr, len, flags)?;
        if flags & MAP_FIXED_NOREPLACE != 0 && self.any_mapped(addr, addr + len) {
            return Err(Errno::EEXIST);
        }
        let growsdown = flags & MAP_GROWSDOWN != 0;
        let mut vm = VmFlags::from(prot & 7) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
        if growsdown {
            vm |= VM_GROWSDOWN;
        }
        if flags & MAP_LOCKED != 0 {
            vm |= VM_LOCKED;
        }
        let mut pgoff = pgoff;
        match (file.is_some(), flags & MAP_TYPE) {
            (true, t @ (MAP_SHARED | MAP_SHARED_VALIDATE)) => {
                if t == MAP_SHARED_VALIDATE && flags & !LEGACY_MAP_MASK != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
                if prot & PROT_WRITE != 0 && !writable {
                    return Err(Errno::EACCES);
                }
                vm |= VM_SHARED | VM_MAYSHARE;
                if !writable {
                    vm &= !(VM_MAYWRITE | VM_SHARED);
                }
                if growsdown {
                    return Err(Errno::EINVAL);
                }
            }
            (true, MAP_PRIVATE) if !growsdown => {}
            (false, MAP_SHARED | MAP_SHARED_VALIDATE) if !growsdown => {
                pgoff = 0;
                vm |= VM_SHARED | VM_MAYSHARE;
            }
            (false, MAP_PRIVATE) => pgoff = addr / P,
            _ => return Err(Errno::EINVAL),
        }
        if flags & MAP_NORESERVE != 0 {
            vm |= VM_NORESERVE;
        }
        self.drop_range(addr, addr + len);
        if vm & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE {
            vm |= VM_ACCOUNT;
        }
        self.insert(addr, addr + len, vm, file, pgoff, VmaName::Plain);
        Ok(addr)
    }

    fn munmap(&mut self, addr: u64, len: u64) -> R<()> {
        if addr & !PAGE_MASK != 0 || addr > TS || len > TS - addr || len == 0 {
            return Err(Errno::EINVAL);
        }
        self.drop_range(addr, addr + ((len + P - 1) & PAGE_MASK));
        Ok(())
    }

    fn brk(&mut self, brk: u64) -> u64 {
        let old = self.brk;
        if brk < self.start_brk {
            return old;
        }
        let align = |x: u64| x.wrapping_add(P - 1) & PAGE_MASK;
        let (newbrk, oldbrk) = (align(brk), align(self.brk));
        if newbrk == oldbrk {
            self.brk = brk;
            return brk;
        }
        if brk <= self.brk {
            if !self.any_mapped(newbrk, oldbrk) {
                return old;
            }
            self.drop_range(newbrk, oldbrk);
            self.brk = brk;
            return brk;
        }
        let len = newbrk.wrapping_sub(oldbrk);
        if len > TS || oldbrk > TS - len {
            return old;
        }
        if let Some((s, _)) = self.find_vma(oldbrk) {
            if newbrk + P > self.start_gap(s) {
                return old;
            }
        }
        self.insert(oldbrk, newbrk, VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT, None, oldbrk / P, VmaName::Heap);
        self.brk = brk;
        brk
    }

    fn mprotect(&mut self, start: u64, len: u64, prot: u32) -> R<()> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP || start & !PAGE_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = start.wrapping_add((len + P - 1) & PAGE_MASK);
        if end <= start {
            return Err(Errno::ENOMEM);
        }
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
            return Err(Errno::EINVAL);
        }
        let Some((&first, _)) = self.pages.range(start..end).next() else { return Err(Errno::ENOMEM) };
        let (vs, _) = self.bounds(first);
        let mut start = start;
        if grows & PROT_GROWSDOWN != 0 {
            start = vs;
            if self.pages[&vs].flags & VM_GROWSDOWN == 0 {
                return Err(Errno::EINVAL);
            }
        } else if vs > start {
            return Err(Errno::ENOMEM);
        } else if grows != 0 {
            return Err(Errno::EINVAL);
        }
        for p in pages(start, end) {
            let pg = self.pages.get_mut(&p).ok_or(Errno::ENOMEM)?;
            let mut newflags = VmFlags::from(prot & 7) | (pg.flags & !VM_ACCESS_FLAGS);
            if newflags & !(newflags >> 4) & VM_ACCESS_FLAGS != 0 {
                return Err(Errno::EACCES);
            }
            if newflags != pg.flags {
                if newflags & VM_WRITE != 0 && pg.flags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE) == 0 {
                    newflags |= VM_ACCOUNT;
                }
                pg.flags = newflags;
            }
        }
        Ok(())
    }

    fn mremap(&mut self, addr: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64) -> R<u64> {
        let align = |x: u64| x.wrapping_add(P - 1) & PAGE_MASK;
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0 || addr & !PAGE_MASK != 0 || align(new_len) == 0 {
            return Err(Errno::EINVAL);
        }
        let implies = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0;
        if implies && (new_addr & !PAGE_MASK != 0 || flags & MREMAP_MAYMOVE == 0 || (flags & MREMAP_DONTUNMAP != 0 && old_len != new_len)) {
            return Err(Errno::EINVAL);
        }
        let (mut old_len, new_len) = (align(old_len), align(new_len));
        if !self.mapped(addr) {
            return Err(Errno::EFAULT);
        }
        if !implies {
            if old_len == new_len {
                return Ok(addr);
            }
            if old_len > new_len {
                self.munmap(addr.wrapping_add(new_len), old_len - new_len)?;
                return Ok(addr);
            }
            self.remap_valid(addr, old_len, new_len)?;
            let (_, ve) = self.bounds(addr);
            let end = ve + (new_len - old_len);
            if ve - addr == old_len && !self.any_mapped(ve, end) && end <= TS {
                let last = self.pages[&(ve - P)].clone();
                self.insert(ve, end, last.flags, last.file, last.pgoff + 1, last.name);
                return Ok(addr);
            }
            if flags & MREMAP_MAYMOVE == 0 {
                return Err(Errno::ENOMEM);
            }
            let shared = if self.pages[&addr].flags & VM_MAYSHARE != 0 { MAP_SHARED } else { 0 };
            let new = self.get_unmapped_area(0, new_len, shared)?;
            return Ok(self.move_vma(addr, old_len, new_len, new, flags));
        }
        if new_len > TS || new_addr > TS - new_len {
            return Err(Errno::EINVAL);
        }
        if addr.wrapping_add(old_len) > new_addr && new_addr + new_len > addr {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 {
            self.munmap(new_addr, new_len)?;
            if !self.mapped(addr) {
                return Err(Errno::EFAULT);
            }
        }
        if old_len > new_len {
            self.munmap(addr + new_len, old_len - new_len)?;
            if !self.mapped(addr) {
                return Err(Errno::EFAULT);
            }
            old_len = new_len;
        }
        self.remap_valid(addr, old_len, new_len)?;
        let mut map_flags = if flags & MREMAP_FIXED != 0 { MAP_FIXED } else { 0 };
        if self.pages[&addr].flags & VM_MAYSHARE != 0 {
            map_flags |= MAP_SHARED;
        }
        let new = self.get_unmapped_area(new_addr, new_len, map_flags)?;
        Ok(self.move_vma(addr, old_len, new_len, new, flags))
    }

    fn remap_valid(&self, addr: u64, old_len: u64, new_len: u64) -> R<()> {
        let (_, ve) = self.bounds(addr);
        if old_len == 0 && self.pages[&addr].flags & (VM_SHARED | VM_MAYSHARE) == 0 {
            return Err(Errno::EINVAL);
        }
        if old_len > ve - addr {
            return Err(Errno::EFAULT);
        }
        let _ = new_len;
        Ok(())
    }

    fn move_vma(&mut self, addr: u64, old_len: u64, new_len: u64, new: u64, flags: u32) -> u64 {
        let (vs, ve) = self.bounds(addr);
        let template = self.pages[&addr].clone();
        let contents: Vec<Option<u64>> = pages(addr, addr + old_len).map(|p| self.pages[&p].content).collect();
        self.insert(new, new + new_len, template.flags, template.file, template.pgoff, template.name);
        for (i, c) in contents.into_iter().enumerate() {
            self.pages.get_mut(&(new + i as u64 * P)).unwrap().content = c;
        }
        if flags & MREMAP_DONTUNMAP != 0 {
            for p in pages(vs, ve) {
                let pg = self.pages.get_mut(&p).unwrap();
                pg.flags &= !(VM_LOCKED_MASK | VM_ACCOUNT);
                if p >= addr && p < addr + old_len {
                    pg.content = None;
                }
            }
        } else {
            self.drop_range(addr, addr + old_len);
        }
        new
    }

    fn expand_stack(&mut self, addr: u64) -> R<()> {
        let (vs, ve) = self.find_vma(addr).ok_or(Errno::EFAULT)?;
        if vs <= addr {
            return Ok(());
        }
        let top = self.pages[&vs].clone();
        if top.flags & VM_GROWSDOWN == 0 {
            return Err(Errno::EFAULT);
        }
        let address = addr & PAGE_MASK;
        if address < MMAP_MIN_ADDR {
            return Err(Errno::EPERM);
        }
        if let Some((&prev, pg)) = self.pages.range(..vs).next_back() {
            if pg.flags & VM_GROWSDOWN == 0 && pg.flags & VM_ACCESS_FLAGS != 0 && address - (prev + P) < STACK_GUARD_GAP {
                return Err(Errno::ENOMEM);
            }
        }
        let grow = (vs - address) / P;
        if grow > top.pgoff || ve - address > RLIMIT {
            return Err(Errno::ENOMEM);
        }
        self.insert(address, vs, top.flags, top.file, top.pgoff - grow, top.name);
        Ok(())
    }
}

/// An address: absolute, or page `n` of the `i`-th VMA at the time the
/// step runs (so that steps hit mappings often).
#[derive(Clone, Copy, Debug)]
enum Addr {
    Abs(u64),
    InVma(usize, u64),
}

impl Addr {
    fn resolve(self, mm: &MmStruct<u32>) -> u64 {
        match self {
            Addr::Abs(a) => a,
            Addr::InVma(i, n) => {
                let vmas: Vec<_> = mm.iter().collect();
                match vmas.len() {
                    0 => BASE - (n + 1) * P,
                    len => vmas[i % len].start + n % (vmas[i % len].pages() + 1) * P,
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
    let mmap = (addr(), len(), prot(), map_type, prop::bool::weighted(0.7), placement, extra, 1u32..3, 0u64..16, any::<bool>())
        .prop_map(|(addr, len, prot, ty, anon, place, extra, file, pgoff, writable)| Op::Mmap {
            addr,
            len,
            prot: prot & 7,
            flags: ty | place | extra | if anon { MAP_ANONYMOUS } else { 0 },
            file,
            pgoff,
            writable,
        });
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
fn apply(mm: &mut MmStruct<u32>, pt: &mut FakePt, model: &mut Model, op: &Op) -> (R<u64>, R<u64>) {
    match *op {
        Op::Mmap { addr, len, prot, flags, file, pgoff, writable } => {
            let addr = addr.resolve(mm);
            (
            mm.mmap(addr, len, prot, flags, Some(file), pgoff, writable, pt),
            model.mmap(addr, len, prot, flags, Some(file), pgoff, writable),
            )
        }
        Op::Munmap { addr, len } => {
            let addr = addr.resolve(mm);
            (mm.munmap(addr, len, pt).map(|()| 0), model.munmap(addr, len).map(|()| 0))
        }
        Op::Mprotect { addr, len, prot } => {
            let addr = addr.resolve(mm);
            (mm.mprotect(addr, len, prot, pt).map(|()| 0), model.mprotect(addr, len, prot).map(|()| 0))
        }
        Op::Brk { brk } => (Ok(mm.brk(brk, pt)), Ok(model.brk(brk))),
        Op::Mremap { addr, old_len, new_len, flags, new_addr } => {
            let (addr, new_addr) = (addr.resolve(mm), new_addr.resolve(mm));
            (mm.mremap(addr, old_len, new_len, flags, new_addr, pt), model.mremap(addr, old_len, new_len, flags, new_addr))
        }
        Op::Fault { addr } => (mm.expand_stack(addr, RLIMIT).map(|()| 0), model.expand_stack(addr).map(|()| 0)),
    }
}

/// Everything the two sides must agree on after a step.
fn check(mm: &MmStruct<u32>, pt: &FakePt, model: &Model) -> Result<(), TestCaseError> {
    if let Err(e) = mm.check_invariants() {
        return Err(TestCaseError::fail(e));
    }
    prop_assert_eq!(mm.brk, model.brk);
    let mut got = BTreeMap::new();
    for v in mm.iter() {
        for p in pages(v.start, v.end) {
            got.insert(p, (v.flags, v.file, v.pgoff_at(p), v.name));
        }
    }
    let want: BTreeMap<u64, _> = model.pages.iter().map(|(&p, g)| (p, (g.flags, g.file, g.pgoff, g.name))).collect();
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
    let want_ptes: BTreeMap<u64, (u64, VmFlags)> = model
        .pages
        .iter()
        .filter_map(|(&p, g)| g.content.map(|c| (p, (c, g.flags & VM_ACCESS_FLAGS))))
        .collect();
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
        let mut mm = MmStruct::<u32>::with_layout(TS, BASE);
        let mut pt = FakePt::default();
        let mut model = Model { pages: BTreeMap::new(), start_brk: START_BRK, brk: START_BRK, dropped: BTreeSet::new() };
        mm.start_brk = START_BRK;
        mm.brk = START_BRK;
        // The exec-time stack.
        let stack_op = Op::Mmap {
            addr: Addr::Abs(STACK), len: TS - STACK, prot: PROT_READ | PROT_WRITE,
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, file: 0, pgoff: 0, writable: false,
        };
        let (a, b) = apply(&mut mm, &mut pt, &mut model, &stack_op);
        prop_assert_eq!(a, Ok(STACK));
        prop_assert_eq!(b, Ok(STACK));
        prop_assert!(mm.mark_stack(STACK));
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
