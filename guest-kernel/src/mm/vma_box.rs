//! Where a VMA is allocated: the `vm_area_struct` slab cache on the
//! kernel, the heap on the host.

use core::fmt;

/// Where one VMA (`T`, the `vm_area_struct`) lives: on the kernel, an
/// object of the `vm_area_struct` slab cache (as Linux's `vm_area_alloc`),
/// so `/proc/slabinfo` follows mmap and munmap; a `Box` on the host (and
/// should the cache ever be missing or empty-handed, a kmalloc'd one).
pub struct VmaBox<T>(VmaStore<T>);

enum VmaStore<T> {
    #[cfg(target_os = "none")]
    Cache(crate::mm::kmem::CacheBox<T>),
    Heap(alloc::boxed::Box<T>),
}

impl<T> VmaBox<T> {
    pub fn new(vma: T) -> Self {
        #[cfg(target_os = "none")]
        if let Some(&cache) = crate::mm::kmem::VM_AREA_CACHEP.get() {
            // The cache object is large enough (checked by CacheBox); on
            // failure the VMA comes back to us through `new_or`.
            match crate::mm::kmem::CacheBox::new_or(cache, vma) {
                Ok(b) => return Self(VmaStore::Cache(b)),
                Err(vma) => return Self(VmaStore::Heap(alloc::boxed::Box::new(vma))),
            }
        }
        Self(VmaStore::Heap(alloc::boxed::Box::new(vma)))
    }

    pub fn into_inner(self) -> T {
        match self.0 {
            #[cfg(target_os = "none")]
            VmaStore::Cache(b) => b.into_inner(),
            VmaStore::Heap(b) => *b,
        }
    }
}

impl<T> core::ops::Deref for VmaBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            #[cfg(target_os = "none")]
            VmaStore::Cache(b) => b,
            VmaStore::Heap(b) => b,
        }
    }
}

impl<T> core::ops::DerefMut for VmaBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            #[cfg(target_os = "none")]
            VmaStore::Cache(b) => b,
            VmaStore::Heap(b) => b,
        }
    }
}

impl<T: Clone> Clone for VmaBox<T> {
    fn clone(&self) -> Self {
        Self::new((**self).clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for VmaBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
