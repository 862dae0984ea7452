//! Where a VMA is allocated: the `vm_area_struct` slab cache on the
//! kernel, the heap on the host.

use core::fmt;

use super::vma::Vma;

/// Where one VMA lives: on the kernel, an object of the `vm_area_struct`
/// slab cache (as Linux's `vm_area_alloc`), so `/proc/slabinfo` follows
/// mmap and munmap; a `Box` on the host (and should the cache ever be
/// missing or empty-handed, a kmalloc'd one).
pub struct VmaBox<F>(VmaStore<F>);

enum VmaStore<F> {
    #[cfg(target_os = "none")]
    Cache(crate::mm::kmem::CacheBox<Vma<F>>),
    Heap(alloc::boxed::Box<Vma<F>>),
}

impl<F> VmaBox<F> {
    pub fn new(vma: Vma<F>) -> Self {
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

    pub fn into_inner(self) -> Vma<F> {
        match self.0 {
            #[cfg(target_os = "none")]
            VmaStore::Cache(b) => b.into_inner(),
            VmaStore::Heap(b) => *b,
        }
    }
}

impl<F> core::ops::Deref for VmaBox<F> {
    type Target = Vma<F>;
    fn deref(&self) -> &Vma<F> {
        match &self.0 {
            #[cfg(target_os = "none")]
            VmaStore::Cache(b) => b,
            VmaStore::Heap(b) => b,
        }
    }
}

impl<F> core::ops::DerefMut for VmaBox<F> {
    fn deref_mut(&mut self) -> &mut Vma<F> {
        match &mut self.0 {
            #[cfg(target_os = "none")]
            VmaStore::Cache(b) => b,
            VmaStore::Heap(b) => b,
        }
    }
}

impl<F: Clone> Clone for VmaBox<F> {
    fn clone(&self) -> Self {
        Self::new((**self).clone())
    }
}

impl<F: fmt::Debug> fmt::Debug for VmaBox<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
