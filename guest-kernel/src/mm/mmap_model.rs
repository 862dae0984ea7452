//! The page-granular model the VMA property test (`mmap_proptest`) runs
//! against: a map page -> (flags, file, pgoff, name, contents) with Linux's
//! rules applied page by page, knowing nothing of VMAs (a "VMA" is a maximal
//! run of pages that could be one), and a fake [`PageTables`] whose PTEs
//! carry the pages' contents.

use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use super::addr::{UserAddr, PAGE_MASK, PAGE_SIZE};
use super::mmap::*;
use super::mremap::*;
use super::vma::*;

pub(super) const P: u64 = PAGE_SIZE;
/// A 16 MiB address space keeps the model's page scans cheap.
pub(super) const TS: u64 = 0x100_0000;
pub(super) const BASE: u64 = 0xc0_0000;
pub(super) const START_BRK: u64 = 0x20_0000;
pub(super) const STACK: u64 = TS - 16 * P;
pub(super) const RLIMIT: u64 = 64 * P;
pub(super) const LEGACY_BASE: u64 = (TS / 3 + P - 1) & PAGE_MASK;

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Page {
    pub(super) flags: VmFlags,
    pub(super) file: Option<u32>,
    pub(super) pgoff: u64,
    pub(super) name: VmaName,
    /// The token of the "physical page" mapped here, if faulted in.
    pub(super) content: Option<u64>,
}

/// Page tables as a map page -> (contents token, access bits).
#[derive(Default)]
pub(super) struct FakePt {
    pub(super) ptes: BTreeMap<u64, (u64, VmFlags)>,
    pub(super) unmapped: BTreeSet<u64>,
    pub(super) protected: Vec<(u64, u64, VmFlags)>,
}

pub(super) fn pages(start: u64, end: u64) -> impl Iterator<Item = u64> {
    (start..end).step_by(P as usize)
}

impl PageTables for FakePt {
    fn unmap(&mut self, start: UserAddr, end: UserAddr) {
        let (start, end) = (start.as_u64(), end.as_u64());
        assert!(start < end && start & !PAGE_MASK == 0 && end & !PAGE_MASK == 0, "unmap({start:#x}, {end:#x})");
        for p in pages(start, end) {
            assert!(self.unmapped.insert(p), "page {p:#x} unmapped twice");
            self.ptes.remove(&p);
        }
    }
    fn protect(&mut self, start: UserAddr, end: UserAddr, flags: VmFlags) {
        let (start, end) = (start.as_u64(), end.as_u64());
        assert!(start < end && start & !PAGE_MASK == 0 && end & !PAGE_MASK == 0, "protect({start:#x}, {end:#x})");
        self.protected.push((start, end, flags));
        for (_, pte) in self.ptes.range_mut(start..end) {
            pte.1 = flags & VM_ACCESS_FLAGS;
        }
    }
    fn move_range(&mut self, old: UserAddr, new: UserAddr, len: u64) {
        let (old, new) = (old.as_u64(), new.as_u64());
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
pub(super) struct Model {
    pub(super) pages: BTreeMap<u64, Page>,
    pub(super) start_brk: u64,
    pub(super) brk: u64,
    pub(super) dropped: BTreeSet<u64>,
}

pub(super) type R<T> = Result<T, Errno>;

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
            self.pages.insert(p, Page { flags, file, pgoff: pgoff + i as u64, name: name.clone(), content: None });
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn mmap(&mut self, addr: u64, len: u64, prot: u32, flags: u32, file: Option<u32>, pgoff: u64, writable: bool) -> R<u64> {
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
            (false, MAP_SHARED) if !growsdown => {
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

    pub(super) fn munmap(&mut self, addr: u64, len: u64) -> R<()> {
        if addr & !PAGE_MASK != 0 || addr > TS || len > TS - addr || len == 0 {
            return Err(Errno::EINVAL);
        }
        self.drop_range(addr, addr + ((len + P - 1) & PAGE_MASK));
        Ok(())
    }

    pub(super) fn brk(&mut self, brk: u64) -> u64 {
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

    pub(super) fn mprotect(&mut self, start: u64, len: u64, prot: u32) -> R<()> {
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

    pub(super) fn mremap(&mut self, addr: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64) -> R<u64> {
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

    pub(super) fn expand_stack(&mut self, addr: u64) -> R<()> {
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
