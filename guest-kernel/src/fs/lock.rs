//! File locks (Linux `fs/locks.c`): POSIX record locks (`fcntl` `F_SETLK`,
//! owned by a process), open-file-description locks (`F_OFD_SETLK`, owned
//! by the description) and `flock` locks (whole file, owned by the
//! description, never in conflict with the other two kinds).
//!
//! A [`Locks`] is one inode's set. Ranges are inclusive byte offsets;
//! `u64::MAX` as the end means "to the end of the file, however far it
//! grows". Setting a lock replaces what the owner held in that range
//! (splitting its locks at the edges) and merges it with the owner's
//! adjacent locks of the same type, as Linux's `posix_lock_inode` does.

use alloc::vec::Vec;

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A process (POSIX locks): its thread group id.
    Process(u32),
    /// An open file description (OFD and `flock` locks): its address.
    Description(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    pub owner: Owner,
    pub kind: Kind,
    pub start: u64,
    pub end: u64,
}

impl Lock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    fn conflicts(&self, owner: Owner, kind: Kind, start: u64, end: u64) -> bool {
        self.owner != owner && self.overlaps(start, end) && (self.kind == Kind::Write || kind == Kind::Write)
    }
}

/// Another owner's lock is in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict;

/// One inode's locks.
#[derive(Debug, Default)]
pub struct Locks {
    /// Record locks (POSIX and OFD), which conflict with each other.
    records: Vec<Lock>,
    /// `flock` locks: whole-file, their own space.
    flocks: Vec<Lock>,
}

impl Locks {
    /// A record lock someone else holds that a lock of `kind` on
    /// `[start, end]` by `owner` would conflict with (`F_GETLK`).
    pub fn conflict(&self, owner: Owner, kind: Kind, start: u64, end: u64) -> Option<Lock> {
        self.records.iter().find(|l| l.conflicts(owner, kind, start, end)).copied()
    }

    /// Sets `owner`'s record lock on `[start, end]` to `kind`, or unlocks
    /// it (`None`). `Err(Conflict)` (taking nothing) when another owner's lock
    /// conflicts.
    pub fn set(&mut self, owner: Owner, kind: Option<Kind>, start: u64, end: u64) -> Result<(), Conflict> {
        if let Some(kind) = kind {
            if self.conflict(owner, kind, start, end).is_some() {
                return Err(Conflict);
            }
        }
        // The owner's locks lose [start, end]; what sticks out stays.
        let mut kept = Vec::with_capacity(self.records.len() + 2);
        for l in self.records.drain(..) {
            if l.owner != owner || !l.overlaps(start, end) {
                kept.push(l);
                continue;
            }
            if l.start < start {
                kept.push(Lock { end: start - 1, ..l });
            }
            if l.end > end {
                kept.push(Lock { start: end + 1, ..l });
            }
        }
        self.records = kept;
        if let Some(kind) = kind {
            let (mut start, mut end) = (start, end);
            // Merge with the owner's touching locks of the same type.
            self.records.retain(|l| {
                let touches = l.owner == owner && l.kind == kind && l.start <= end.saturating_add(1) && start <= l.end.saturating_add(1);
                if touches {
                    start = start.min(l.start);
                    end = end.max(l.end);
                }
                !touches
            });
            self.records.push(Lock { owner, kind, start, end });
            self.records.sort_by_key(|l| l.start);
        }
        Ok(())
    }

    /// `flock`: takes (`Some`) or drops (`None`) `owner`'s whole-file lock;
    /// `Err(Conflict)` when another description's lock conflicts. Converting a
    /// lock drops the old one first, as Linux does.
    pub fn flock(&mut self, owner: Owner, kind: Option<Kind>) -> Result<(), Conflict> {
        self.flocks.retain(|l| l.owner != owner);
        if let Some(kind) = kind {
            if self.flocks.iter().any(|l| l.conflicts(owner, kind, 0, u64::MAX)) {
                return Err(Conflict);
            }
            self.flocks.push(Lock { owner, kind, start: 0, end: u64::MAX });
        }
        Ok(())
    }

    /// Drops every lock `owner` holds (a process closing any descriptor
    /// of the file, a description going away); whether there were any.
    pub fn release(&mut self, owner: Owner) -> bool {
        let before = self.records.len() + self.flocks.len();
        self.records.retain(|l| l.owner != owner);
        self.flocks.retain(|l| l.owner != owner);
        self.records.len() + self.flocks.len() != before
    }

    /// The record locks, for `/proc/locks`-like reports and tests.
    pub fn records(&self) -> &[Lock] {
        &self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Owner = Owner::Process(1);
    const B: Owner = Owner::Process(2);

    #[test]
    fn readers_share_writers_exclude() {
        let mut l = Locks::default();
        l.set(A, Some(Kind::Read), 0, 99).unwrap();
        l.set(B, Some(Kind::Read), 50, 149).unwrap();
        assert_eq!(l.set(B, Some(Kind::Write), 90, 95), Err(Conflict));
        assert_eq!(l.conflict(B, Kind::Write, 0, 10), Some(Lock { owner: A, kind: Kind::Read, start: 0, end: 99 }));
        assert_eq!(l.conflict(A, Kind::Write, 0, 10), None, "one's own locks never conflict");
        l.set(B, Some(Kind::Write), 100, 149).unwrap();
        assert_eq!(l.set(A, Some(Kind::Read), 140, u64::MAX), Err(Conflict));
    }

    #[test]
    fn unlocking_the_middle_splits_and_relocking_merges() {
        let mut l = Locks::default();
        l.set(A, Some(Kind::Write), 0, 99).unwrap();
        l.set(A, None, 40, 59).unwrap();
        assert_eq!(l.records().iter().map(|x| (x.start, x.end)).collect::<Vec<_>>(), [(0, 39), (60, 99)]);
        l.set(B, Some(Kind::Write), 40, 59).unwrap();
        l.set(B, None, 0, u64::MAX).unwrap();
        l.set(A, Some(Kind::Write), 40, 59).unwrap();
        assert_eq!(l.records(), [Lock { owner: A, kind: Kind::Write, start: 0, end: 99 }]);
        // A type change in the middle: three pieces.
        l.set(A, Some(Kind::Read), 10, 19).unwrap();
        assert_eq!(
            l.records().iter().map(|x| (x.start, x.end, x.kind)).collect::<Vec<_>>(),
            [(0, 9, Kind::Write), (10, 19, Kind::Read), (20, 99, Kind::Write)]
        );
        l.release(A);
        assert!(l.records().is_empty());
    }

    #[test]
    fn flock_is_separate_from_record_locks() {
        let (d1, d2) = (Owner::Description(10), Owner::Description(20));
        let mut l = Locks::default();
        l.set(A, Some(Kind::Write), 0, u64::MAX).unwrap();
        l.flock(d1, Some(Kind::Read)).unwrap();
        l.flock(d2, Some(Kind::Read)).unwrap();
        assert_eq!(l.flock(d2, Some(Kind::Write)), Err(Conflict), "d1 still shares it");
        l.flock(d1, None).unwrap();
        l.flock(d2, Some(Kind::Write)).unwrap();
        assert_eq!(l.flock(d1, Some(Kind::Read)), Err(Conflict));
    }
}
