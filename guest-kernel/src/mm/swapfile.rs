//! Swap areas (Linux `mm/swapfile.c`): the swap header a block device
//! must carry, `swapon` of each device found at boot, and what
//! `/proc/swaps` and `/proc/meminfo` say about them.
//!
//! This is the start of swap: areas are found, checked and listed with
//! Linux's priorities and formats; pages are not written to them yet (the
//! swap map, swap entries and reclaim come next), so every area is empty.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::sync::SpinLock;

/// The page size of a swap header (x86-64's).
pub const SWAP_PAGE: usize = 4096;
/// `mkswap`'s signature, in the last ten bytes of the first page.
pub const SWAP_MAGIC: &[u8; 10] = b"SWAPSPACE2";
/// Linux refuses swap areas of fewer usable pages.
const MIN_GOOD_PAGES: u64 = 10;

/// What the header of a swap area says (`union swap_header`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapHeader {
    /// The last page of the area (the header is page 0).
    pub last_page: u64,
    pub nr_badpages: u32,
    pub label: String,
}

/// Why a device is not a usable swap area (Linux's `swapon` refusals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwapHeaderError {
    /// No `SWAPSPACE2` signature ("Unable to find swap-space signature").
    NoSignature,
    /// A header version other than 1.
    Version(u32),
    /// Fewer than ten usable pages ("Empty swap-file").
    TooSmall,
}

impl core::fmt::Display for SwapHeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSignature => f.write_str("Unable to find swap-space signature"),
            Self::Version(v) => write!(f, "Unable to handle swap header version {v}"),
            Self::TooSmall => f.write_str("Empty swap-file"),
        }
    }
}

/// Reads the header page of a device of `device_pages` pages (Linux
/// `read_swap_header`): the signature, version 1, the last page (limited
/// to the device), at least ten good pages.
pub fn parse_swap_header(page: &[u8; SWAP_PAGE], device_pages: u64) -> Result<SwapHeader, SwapHeaderError> {
    if &page[SWAP_PAGE - SWAP_MAGIC.len()..] != SWAP_MAGIC {
        return Err(SwapHeaderError::NoSignature);
    }
    let word = |at: usize| u32::from_le_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]]);
    let version = word(1024);
    if version != 1 {
        return Err(SwapHeaderError::Version(version));
    }
    let last_page = u64::from(word(1028)).min(device_pages.saturating_sub(1));
    let nr_badpages = word(1032);
    let label_bytes = &page[1052..1068];
    let end = label_bytes.iter().position(|&b| b == 0).unwrap_or(label_bytes.len());
    let label = String::from_utf8_lossy(&label_bytes[..end]).into_owned();
    let header = SwapHeader { last_page, nr_badpages, label };
    if header.good_pages() < MIN_GOOD_PAGES {
        return Err(SwapHeaderError::TooSmall);
    }
    Ok(header)
}

impl SwapHeader {
    /// Pages that can hold swapped pages: all but the header and the bad
    /// ones (Linux `nr_good_pages`).
    pub fn good_pages(&self) -> u64 {
        self.last_page.saturating_sub(u64::from(self.nr_badpages))
    }
}

/// One swap area (Linux `struct swap_info_struct`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapInfo {
    /// The device's name as `/proc/swaps` shows it (`/dev/vda`).
    pub name: String,
    pub prio: i32,
    /// Usable pages.
    pub pages: u64,
    /// Pages holding swapped data.
    pub inuse_pages: u64,
}

/// The areas, in `swapon` order, and the priority the next one gets.
struct SwapList {
    areas: Vec<SwapInfo>,
    least_priority: i32,
}

static SWAP: SpinLock<SwapList> = SpinLock::new(SwapList { areas: Vec::new(), least_priority: -1 });

/// Adds an area (Linux `swapon` without a priority: -2, -3, ... in
/// order) and returns what Linux prints for it.
pub fn swapon(name: &str, header: &SwapHeader) -> String {
    let mut list = SWAP.lock();
    list.least_priority -= 1;
    let prio = list.least_priority;
    let pages = header.good_pages();
    list.areas.push(SwapInfo { name: String::from(name), prio, pages, inuse_pages: 0 });
    alloc::format!("Adding {}k swap on {name}.  Priority:{prio} extents:1 across:{}k ", pages * 4, pages * 4)
}

/// All swap space and what of it is free, in pages (`SwapTotal`,
/// `SwapFree`).
pub fn totals() -> (u64, u64) {
    let list = SWAP.lock();
    let total = list.areas.iter().map(|a| a.pages).sum();
    let used: u64 = list.areas.iter().map(|a| a.inuse_pages).sum();
    (total, total - used)
}

/// `/proc/swaps` (Linux `swap_show`).
pub fn show_swaps(w: &mut String) -> core::fmt::Result {
    render_swaps(&SWAP.lock().areas, w)
}

fn render_swaps(areas: &[SwapInfo], w: &mut String) -> core::fmt::Result {
    w.write_str("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")?;
    for a in areas {
        let (bytes, inuse) = (a.pages * 4, a.inuse_pages * 4);
        let pad = if a.name.len() < 40 { 40 - a.name.len() } else { 1 };
        let tab = |n: u64| if n < 10_000_000 { "\t" } else { "" };
        writeln!(w, "{}{:>pad$}partition\t{bytes}\t{}{inuse}\t{}{}", a.name, " ", tab(bytes), tab(inuse), a.prio, pad = pad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(last_page: u32, version: u32, magic: &[u8; 10]) -> [u8; SWAP_PAGE] {
        let mut p = [0u8; SWAP_PAGE];
        p[1024..1028].copy_from_slice(&version.to_le_bytes());
        p[1028..1032].copy_from_slice(&last_page.to_le_bytes());
        p[1052..1061].copy_from_slice(b"rvmm-swap");
        p[SWAP_PAGE - 10..].copy_from_slice(magic);
        p
    }

    #[test]
    fn headers_are_read_as_swapon_reads_them() {
        let h = parse_swap_header(&header(4095, 1, SWAP_MAGIC), 4096).unwrap();
        assert_eq!((h.last_page, h.good_pages(), h.label.as_str()), (4095, 4095, "rvmm-swap"));
        // The header may not claim more than the device has.
        assert_eq!(parse_swap_header(&header(9999, 1, SWAP_MAGIC), 4096).unwrap().last_page, 4095);
        assert_eq!(parse_swap_header(&header(4095, 1, b"SWAP-SPACE"), 4096), Err(SwapHeaderError::NoSignature));
        assert_eq!(parse_swap_header(&header(4095, 2, SWAP_MAGIC), 4096), Err(SwapHeaderError::Version(2)));
        assert_eq!(parse_swap_header(&header(5, 1, SWAP_MAGIC), 4096), Err(SwapHeaderError::TooSmall));
    }

    #[test]
    fn proc_swaps_has_linux_columns() {
        let areas = [SwapInfo { name: "/dev/vda".into(), prio: -2, pages: 4095, inuse_pages: 0 }];
        let mut w = String::new();
        render_swaps(&areas, &mut w).unwrap();
        assert_eq!(w, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/vda                                partition\t16380\t\t0\t\t-2\n");
    }
}
