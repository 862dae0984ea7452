//! A spinlock that also disables local interrupts while held (Linux
//! `spin_lock_irqsave`), so it is safe against interrupt handlers on this
//! CPU and against other CPUs alike.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one holder at a time.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value; no thread-bound state inside.
unsafe impl<T: Send> Send for SpinLock<T> {}

pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    irq_flags: u64,
}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        Self { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        let irq_flags = irq_save();
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        SpinLockGuard { lock: self, irq_flags }
    }

    /// Access without the lock, for the panic path only, where the holder
    /// may be the code that just died on this CPU.
    ///
    /// # Safety
    /// No other CPU may be using the value, and the caller must not return
    /// to code that holds the guard.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn force_get(&self) -> &mut T {
        // SAFETY: the caller upholds the contract above.
        unsafe { &mut *self.value.get() }
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: holding the guard means holding the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: holding the guard means holding the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        irq_restore(self.irq_flags);
    }
}

#[cfg(target_os = "none")]
use crate::arch::cpu::{local_irq_restore as irq_restore, local_irq_save as irq_save};

// Host builds (unit tests) have no interrupts to mask.
#[cfg(not(target_os = "none"))]
fn irq_save() -> u64 {
    0
}
#[cfg(not(target_os = "none"))]
fn irq_restore(_: u64) {}

/// A value set once at boot and read ever after (a minimal `OnceCell`).
pub struct Once<T> {
    ready: AtomicBool,
    busy: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once, before `ready` is published with
// Release ordering, and only read (shared) after `ready` is seen with
// Acquire ordering.
unsafe impl<T: Send + Sync> Sync for Once<T> {}

impl<T> Once<T> {
    pub const fn new() -> Self {
        Self { ready: AtomicBool::new(false), busy: AtomicBool::new(false), value: UnsafeCell::new(None) }
    }

    /// Sets the value; `Err(value)` if it was already set.
    pub fn set(&self, value: T) -> Result<&T, T> {
        if self.busy.swap(true, Ordering::Acquire) {
            return Err(value);
        }
        // SAFETY: `busy` admits one writer ever; no reader looks before
        // `ready` is set below.
        unsafe { *self.value.get() = Some(value) };
        self.ready.store(true, Ordering::Release);
        Ok(self.get().expect("just set"))
    }

    pub fn get(&self) -> Option<&T> {
        if self.ready.load(Ordering::Acquire) {
            // SAFETY: set exactly once before `ready`; never mutated after.
            unsafe { (*self.value.get()).as_ref() }
        } else {
            None
        }
    }
}

impl<T> Default for Once<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_concurrent_holders() {
        let lock = std::sync::Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*lock.lock(), 40_000);
    }
}
