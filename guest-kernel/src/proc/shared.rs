//! What the tasks of a process share, counted (Linux's `mm_struct`,
//! `files_struct`, `fs_struct`, `sighand_struct` and `signal_struct`,
//! each with its own reference count and slab cache): threads hold the
//! same object, `fork` gives the child a copy.
//!
//! A [`Shared`] hands out `&mut T` through any of its handles. That holds
//! for the same reason `sched::current()` does: one CPU, a kernel that is
//! not preemptible and runs with interrupts off, so only the running task
//! touches shared state, and callers do not keep a borrow across
//! `schedule` (where another sharer may run). This is the one other file
//! of `proc` with `unsafe` code.
#![allow(unsafe_code)]

use core::ptr::NonNull;

use crate::mm::kmem::CacheBox;
use crate::mm::slab::KmemCache;

struct Inner<T> {
    /// Handles alive (Linux `mm_users`, `files_struct::count`, ...).
    refs: usize,
    value: T,
}

/// A reference-counted object in a slab cache, shared by tasks.
pub struct Shared<T> {
    ptr: NonNull<Inner<T>>,
    cache: &'static KmemCache,
}

impl<T> Shared<T> {
    /// Moves `value` into a new object of `cache`; `None` (the value
    /// dropped) when out of memory.
    pub fn new(cache: &'static KmemCache, value: T) -> Option<Self> {
        let boxed = CacheBox::new(cache, Inner { refs: 1, value })?;
        Some(Self { ptr: boxed.into_raw(), cache })
    }

    /// Like [`Shared::new`], but gives `value` back when out of memory.
    pub fn new_or(cache: &'static KmemCache, value: T) -> Result<Self, T> {
        match CacheBox::new_or(cache, Inner { refs: 1, value }) {
            Ok(boxed) => Ok(Self { ptr: boxed.into_raw(), cache }),
            Err(inner) => Err(inner.value),
        }
    }

    /// How many handles there are.
    pub fn refs(&self) -> usize {
        // SAFETY: the object lives while any handle does (see `Drop`).
        unsafe { self.ptr.as_ref().refs }
    }

    /// Whether another task holds it too.
    pub fn is_shared(&self) -> bool {
        self.refs() > 1
    }

    /// Whether `a` and `b` are handles of the same object.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// The object's address: an identity (futex keys, telling shared
    /// address spaces apart), never dereferenced.
    pub fn id(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The value, if this is the last handle; otherwise the handle back.
    pub fn try_unwrap(self) -> Result<T, Self> {
        if self.is_shared() {
            return Err(self);
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the last handle, so nothing else refers to the object; it is rebuilt as the box it came from and emptied once.
        let boxed = unsafe { CacheBox::from_raw(this.ptr, this.cache) };
        Ok(boxed.into_inner().value)
    }
}

impl<T: Clone> Shared<T> {
    /// A private copy of the value in a new object (`fork` without the
    /// `CLONE_*` flag that would share it).
    pub fn copy(&self) -> Option<Self> {
        Self::new(self.cache, (**self).clone())
    }

    /// Makes this handle the only one of its object, copying if another
    /// task shares it (Linux `unshare_files` and the sighand copy of
    /// `de_thread` at `execve`). False when out of memory.
    pub fn unshare(&mut self) -> bool {
        if !self.is_shared() {
            return true;
        }
        match self.copy() {
            Some(copy) => {
                *self = copy;
                true
            }
            None => false,
        }
    }
}

impl<T> Clone for Shared<T> {
    /// Another handle of the same object (`CLONE_VM`, `CLONE_FILES`, ...).
    fn clone(&self) -> Self {
        // SAFETY: see the module: only the running task touches the count.
        unsafe { (*self.ptr.as_ptr()).refs += 1 };
        Self { ptr: self.ptr, cache: self.cache }
    }
}

impl<T> core::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the object lives while this handle does.
        unsafe { &self.ptr.as_ref().value }
    }
}

impl<T> core::ops::DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        // Unique: only the running task uses shared state, and no borrow
        // is kept across a switch (see the module).
        // SAFETY: alive as for `deref`, unique as said above.
        unsafe { &mut (*self.ptr.as_ptr()).value }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // The last handle rebuilds the box, which drops the value and
        // frees the object.
        // SAFETY: the object lives while this handle does (see above).
        unsafe {
            let inner = self.ptr.as_ptr();
            (*inner).refs -= 1;
            if (*inner).refs == 0 {
                drop(CacheBox::from_raw(self.ptr, self.cache));
            }
        }
    }
}
