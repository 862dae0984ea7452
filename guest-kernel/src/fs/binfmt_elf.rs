//! ELF executables (Linux `fs/binfmt_elf.c`): reading and checking the
//! ELF header and program headers of a file `execve` is asked to run. The
//! bytes are the file's, so anything may be in them: every offset, size
//! and address is checked (overflow included) before it is used, and a
//! file that is not a static or dynamically linked x86-64 executable this
//! kernel can load is refused with `ENOEXEC` and a reason. Plain Rust over
//! a read callback, tested on the host with arbitrary and mutated files;
//! the loading itself is `proc::exec`.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::fs::errno::ENOEXEC;
use crate::mm::addr::PAGE_SIZE;
use crate::mm::vma::TASK_SIZE;

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;

/// Where static-PIE programs are loaded (Linux x86-64 `ELF_ET_DYN_BASE`
/// without randomisation: two thirds of the user half).
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;

/// One program header (`Elf64_Phdr`).
#[derive(Clone, Copy, Debug)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
}

pub struct Elf {
    pub e_type: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u16,
    pub phdrs: Vec<Phdr>,
    /// PT_INTERP: the program interpreter's path.
    pub interp: Option<String>,
}

/// The longest interpreter path accepted (Linux: `PATH_MAX`).
const INTERP_MAX: u64 = 4096;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]))
}

/// Parses and checks the ELF header and program headers (`ENOEXEC` for
/// anything that is not a static x86-64 executable we can load).
pub fn parse_elf(read: &dyn Fn(u64, &mut [u8]) -> usize, size: u64) -> Result<Elf, i32> {
    check_elf(read, size).map_err(|_| ENOEXEC)
}

/// [`parse_elf`], saying what is wrong.
pub fn check_elf(read: &dyn Fn(u64, &mut [u8]) -> usize, size: u64) -> Result<Elf, String> {
    let mut h = [0u8; 64];
    if read(0, &mut h) < 64 || &h[0..4] != b"\x7fELF" {
        return Err(if h.starts_with(b"#!") { "a #! script whose interpreter cannot be executed".into() } else { "not an ELF file".into() });
    }
    if h[4] != 2 || h[5] != 1 || h[6] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let e_type = u16_at(&h, 16);
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(format!("ELF type {e_type} is not an executable"));
    }
    if u16_at(&h, 18) != EM_X86_64 {
        return Err(format!("ELF machine {} is not x86-64", u16_at(&h, 18)));
    }
    let (entry, phoff, phentsize, phnum) = (u64_at(&h, 24), u64_at(&h, 32), u16_at(&h, 54), u16_at(&h, 56));
    if phentsize != 56 || phnum == 0 || phnum > 64 {
        return Err(format!("bad program header table ({phnum} entries of {phentsize} bytes)"));
    }
    let table = phnum as u64 * 56;
    let mut raw = vec![0u8; table as usize];
    if phoff.checked_add(table).is_none_or(|end| end > size) || read(phoff, &mut raw) != raw.len() {
        return Err("the program headers lie beyond the end of the file".into());
    }
    let mut phdrs = Vec::new();
    let mut interp = None;
    for p in raw.chunks_exact(56) {
        let ph = Phdr {
            p_type: u32_at(p, 0),
            p_flags: u32_at(p, 4),
            p_offset: u64_at(p, 8),
            p_vaddr: u64_at(p, 16),
            p_filesz: u64_at(p, 32),
            p_memsz: u64_at(p, 40),
        };
        if ph.p_type == PT_INTERP {
            // A NUL-terminated path inside the file (Linux: ENOEXEC else).
            if interp.is_some() || !(2..=INTERP_MAX).contains(&ph.p_filesz) || ph.p_offset.checked_add(ph.p_filesz).is_none_or(|end| end > size) {
                return Err("a bad PT_INTERP (program interpreter) entry".into());
            }
            let mut name = vec![0u8; ph.p_filesz as usize];
            if read(ph.p_offset, &mut name) != name.len() || name.last() != Some(&0) {
                return Err("a bad PT_INTERP (program interpreter) entry".into());
            }
            name.pop();
            interp = Some(String::from_utf8(name).map_err(|_| String::from("a program interpreter path that is not UTF-8"))?);
        }
        if ph.p_type == PT_LOAD {
            // Where the segment lands: a static-PIE is loaded at a base.
            let bias = if e_type == ET_DYN { ELF_ET_DYN_BASE } else { 0 };
            let bad = ph.p_filesz > ph.p_memsz
                || ph.p_offset.checked_add(ph.p_filesz).is_none_or(|end| end > size)
                || bias.checked_add(ph.p_vaddr).and_then(|v| v.checked_add(ph.p_memsz)).is_none_or(|end| end > TASK_SIZE)
                || ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE;
            if bad {
                return Err(format!("a bad PT_LOAD segment (vaddr {:#x}, offset {:#x})", ph.p_vaddr, ph.p_offset));
            }
        }
        phdrs.push(ph);
    }
    if !phdrs.iter().any(|p| p.p_type == PT_LOAD) {
        return Err("no PT_LOAD segment".into());
    }
    Ok(Elf { e_type, entry, phoff, phnum, phdrs, interp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A minimal static executable: one PT_LOAD of the whole file.
    fn tiny() -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 + 16];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[24..32].copy_from_slice(&0x40_0078u64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        let p = 64;
        b[p..p + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        b[p + 4..p + 8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        b[p + 16..p + 24].copy_from_slice(&0x40_0000u64.to_le_bytes());
        let len = b.len() as u64;
        b[p + 32..p + 40].copy_from_slice(&len.to_le_bytes());
        b[p + 40..p + 48].copy_from_slice(&len.to_le_bytes());
        b
    }

    fn check(bytes: &[u8]) -> Result<Elf, String> {
        let read = |off: u64, buf: &mut [u8]| {
            let Ok(off) = usize::try_from(off) else { return 0 };
            let n = bytes.len().saturating_sub(off).min(buf.len());
            if n > 0 {
                buf[..n].copy_from_slice(&bytes[off..off + n]);
            }
            n
        };
        check_elf(&read, bytes.len() as u64)
    }

    /// What an accepted file promises the loader.
    fn sound(elf: &Elf, size: u64) -> Result<(), TestCaseError> {
        prop_assert!(elf.phdrs.iter().any(|p| p.p_type == PT_LOAD));
        for p in elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
            let bias = if elf.e_type == ET_DYN { ELF_ET_DYN_BASE } else { 0 };
            prop_assert!(p.p_filesz <= p.p_memsz);
            prop_assert!(p.p_offset.checked_add(p.p_filesz).is_some_and(|e| e <= size));
            prop_assert!(bias.checked_add(p.p_vaddr).and_then(|v| v.checked_add(p.p_memsz)).is_some_and(|e| e <= TASK_SIZE));
        }
        Ok(())
    }

    #[test]
    fn the_tiny_program_is_accepted() {
        let elf = check(&tiny()).unwrap();
        assert_eq!((elf.entry, elf.phnum, elf.interp), (0x40_0078, 1, None));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any bytes at all: an answer, never a panic.
        #[test]
        fn arbitrary_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(elf) = check(&bytes) {
                sound(&elf, bytes.len() as u64)?;
            }
        }

        /// A valid file with bytes of its headers changed or cut short:
        /// refused with a reason, or accepted only when still sound.
        #[test]
        fn mutated_headers_are_refused_or_sound(
            flips in proptest::collection::vec((0usize..120, any::<u8>()), 1..8),
            words in proptest::collection::vec((0usize..15, prop_oneof![Just(0u64), Just(u64::MAX), Just(1 << 47), any::<u64>()]), 0..3),
            cut in proptest::option::of(0usize..136),
        ) {
            let mut b = tiny();
            for (at, v) in flips {
                b[at] = v;
            }
            for (w, v) in words {
                b[w * 8..w * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
            if let Some(len) = cut {
                b.truncate(len);
            }
            match check(&b) {
                Ok(elf) => sound(&elf, b.len() as u64)?,
                Err(why) => prop_assert!(!why.is_empty()),
            }
        }
    }
}
