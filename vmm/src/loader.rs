//! Putting the kernel and its boot data into guest memory.

use std::io::Cursor;
use std::path::Path;

use linux_loader::loader::{elf::Elf, KernelLoader};
use shared::boot::BootInfo;
use shared::layout::{BOOT_INFO_ADDR, CMDLINE_ADDR, CMDLINE_MAX, KERNEL_PHYS_START, START_KERNEL_MAP};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use zerocopy::IntoBytes;

use crate::error::{Error, Result};

/// The boot page tables map only the first 1 GiB, so the kernel must fit.
const BOOT_MAPPED_END: u64 = 1 << 30;

/// Where the kernel went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Virtual entry point (in the `START_KERNEL_MAP` window).
    pub entry: u64,
    /// Guest-physical extent of its loadable segments.
    pub phys_start: u64,
    pub phys_end: u64,
}

/// Checks that `bytes` (read from `path`) is an x86-64 ELF executable whose
/// segments sit in `[16 MiB, ram_below_hole)` and loads it with linux-loader.
pub fn load_kernel_bytes(mem: &GuestMemoryMmap, path: &Path, bytes: &[u8], ram_below_hole: u64) -> Result<KernelImage> {
    let image = inspect_elf(bytes).map_err(|reason| Error::KernelFormat { path: path.to_owned(), reason })?;
    let limit = ram_below_hole.min(BOOT_MAPPED_END);
    if image.phys_end > limit {
        return Err(Error::KernelLoad {
            path: path.to_owned(),
            reason: format!("it ends at {:#x}, beyond the {} MiB the guest can boot from", image.phys_end, limit >> 20),
        });
    }
    Elf::load(mem, None, &mut Cursor::new(bytes), Some(GuestAddress(KERNEL_PHYS_START)))
        .map_err(|e| Error::KernelLoad { path: path.to_owned(), reason: e.to_string() })?;
    Ok(image)
}

fn field<const N: usize>(bytes: &[u8], offset: usize) -> std::result::Result<[u8; N], String> {
    offset.checked_add(N).and_then(|end| bytes.get(offset..end)).and_then(|s| s.try_into().ok()).ok_or_else(|| format!("truncated at offset {offset:#x}"))
}

fn u16_at(b: &[u8], o: usize) -> std::result::Result<u16, String> {
    field::<2>(b, o).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], o: usize) -> std::result::Result<u32, String> {
    field::<4>(b, o).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], o: usize) -> std::result::Result<u64, String> {
    field::<8>(b, o).map(u64::from_le_bytes)
}

/// Validates the ELF header and program headers (ELF-64 spec field offsets)
/// and returns the entry point and physical extent.
pub fn inspect_elf(b: &[u8]) -> std::result::Result<KernelImage, String> {
    const PT_LOAD: u32 = 1;
    if b.get(..4) != Some(b"\x7fELF") {
        return Err("no ELF magic".into());
    }
    let ident = field::<16>(b, 0)?;
    if ident[4] != 2 {
        return Err("not a 64-bit ELF".into());
    }
    if ident[5] != 1 {
        return Err("not little-endian".into());
    }
    match u16_at(b, 16)? {
        2 => {}
        3 => return Err("a position-independent executable (link the kernel with -C relocation-model=static)".into()),
        t => return Err(format!("ELF type {t} is not an executable")),
    }
    let machine = u16_at(b, 18)?;
    if machine != 62 {
        return Err(format!("machine {machine} is not x86-64"));
    }
    let entry = u64_at(b, 24)?;
    let phoff = u64_at(b, 32)? as usize;
    let phentsize = u16_at(b, 54)? as usize;
    let phnum = u16_at(b, 56)? as usize;
    if phentsize < 56 {
        return Err(format!("program header size {phentsize} is too small"));
    }
    let (mut start, mut end) = (u64::MAX, 0u64);
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or("program header table out of range")?;
        if u32_at(b, ph)? != PT_LOAD {
            continue;
        }
        let (offset, paddr, filesz, memsz) = (u64_at(b, ph + 8)?, u64_at(b, ph + 24)?, u64_at(b, ph + 32)?, u64_at(b, ph + 40)?);
        if filesz > memsz || offset.checked_add(filesz).is_none_or(|e| e > b.len() as u64) {
            return Err(format!("segment {i} has inconsistent sizes"));
        }
        if memsz == 0 {
            continue;
        }
        if paddr < KERNEL_PHYS_START {
            return Err(format!("segment {i} loads at {paddr:#x}, below {KERNEL_PHYS_START:#x} (16 MiB)"));
        }
        start = start.min(paddr);
        end = end.max(paddr.checked_add(memsz).ok_or_else(|| format!("segment {i} wraps around"))?);
    }
    if end == 0 {
        return Err("no loadable segments".into());
    }
    let entry_phys = entry.wrapping_sub(START_KERNEL_MAP);
    if entry < START_KERNEL_MAP || !(start..end).contains(&entry_phys) {
        return Err(format!("entry point {entry:#x} is not inside the image mapped at {START_KERNEL_MAP:#x}"));
    }
    Ok(KernelImage { entry, phys_start: start, phys_end: end })
}

/// Writes the command line at `CMDLINE_ADDR`; returns its length.
pub fn write_cmdline(mem: &GuestMemoryMmap, cmdline: &str) -> Result<u64> {
    if cmdline.len() > CMDLINE_MAX {
        return Err(Error::CmdlineTooLong(cmdline.len(), CMDLINE_MAX));
    }
    mem.write_slice(cmdline.as_bytes(), GuestAddress(CMDLINE_ADDR)).map_err(|e| Error::GuestWrite { addr: CMDLINE_ADDR, reason: e.to_string() })?;
    Ok(cmdline.len() as u64)
}

pub fn write_boot_info(mem: &GuestMemoryMmap, info: &BootInfo) -> Result<()> {
    mem.write_slice(info.as_bytes(), GuestAddress(BOOT_INFO_ADDR)).map_err(|e| Error::GuestWrite { addr: BOOT_INFO_ADDR, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16, typ: u16, paddr: u64, entry: u64) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 + 16];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&typ.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[24..32].copy_from_slice(&entry.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        b[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        b[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        b[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
        b[ph + 32..ph + 40].copy_from_slice(&16u64.to_le_bytes());
        b[ph + 40..ph + 48].copy_from_slice(&0x2000u64.to_le_bytes());
        b
    }

    #[test]
    fn accepts_a_higher_half_kernel() {
        let img = inspect_elf(&elf(62, 2, 0x100_0000, START_KERNEL_MAP + 0x100_0000)).unwrap();
        assert_eq!((img.phys_start, img.phys_end), (0x100_0000, 0x100_2000));
    }

    #[test]
    fn rejects_what_it_cannot_boot() {
        let cases = [
            (b"not an elf at all".to_vec(), "magic"),
            (elf(40, 2, 0x100_0000, START_KERNEL_MAP + 0x100_0000), "x86-64"),
            (elf(62, 3, 0x100_0000, START_KERNEL_MAP + 0x100_0000), "position-independent"),
            (elf(62, 2, 0x1000, START_KERNEL_MAP + 0x1000), "below"),
            (elf(62, 2, 0x100_0000, 0x100_0000), "entry point"),
            (elf(62, 2, 0x100_0000, START_KERNEL_MAP + 0x100_0000)[..70].to_vec(), "truncated"),
        ];
        for (bytes, why) in cases {
            let err = inspect_elf(&bytes).unwrap_err();
            assert!(err.contains(why), "{err} does not mention {why}");
        }
    }
}
