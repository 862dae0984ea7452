//! The kernel's ELF header and program-header checks on any file: an
//! answer, never a panic; what it accepts, the loader can trust.
#![no_main]

use kernel::fs::binfmt_elf::{check_elf, ELF_ET_DYN_BASE, ET_DYN, PT_LOAD};
use kernel::mm::vma::TASK_SIZE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let read = |off: u64, buf: &mut [u8]| {
        let Ok(off) = usize::try_from(off) else { return 0 };
        let n = bytes.len().saturating_sub(off).min(buf.len());
        if n > 0 {
            buf[..n].copy_from_slice(&bytes[off..off + n]);
        }
        n
    };
    if let Ok(elf) = check_elf(&read, bytes.len() as u64) {
        let bias = if elf.e_type == ET_DYN { ELF_ET_DYN_BASE } else { 0 };
        for p in elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
            assert!(p.p_filesz <= p.p_memsz);
            assert!(p.p_offset.checked_add(p.p_filesz).is_some_and(|e| e <= bytes.len() as u64));
            assert!(bias.checked_add(p.p_vaddr).and_then(|v| v.checked_add(p.p_memsz)).is_some_and(|e| e <= TASK_SIZE));
        }
    }
});
