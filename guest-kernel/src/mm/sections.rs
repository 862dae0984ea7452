//! The kernel image's sections as the linker script lays them out (Linux
//! `asm/sections.h`): where text, read-only data, data and bss begin and
//! end, for the page-table permissions and the boot memory report.

use core::ptr::addr_of;

extern "C" {
    static _text: u8;
    static _etext: u8;
    static _erodata: u8;
    static _sdata: u8;
    static _edata: u8;
    static __bss_start: u8;
    static __bss_stop: u8;
    static _end: u8;
}

/// Kernel image section boundaries as kernel-virtual addresses.
pub struct Sections {
    pub text: u64,
    pub etext: u64,
    pub erodata: u64,
    pub sdata: u64,
    pub edata: u64,
    pub bss_start: u64,
    pub bss_stop: u64,
    pub end: u64,
}

pub fn sections() -> Sections {
    // Linker-script symbols: only their addresses are taken.
    {
        Sections {
            text: addr_of!(_text) as u64,
            etext: addr_of!(_etext) as u64,
            erodata: addr_of!(_erodata) as u64,
            sdata: addr_of!(_sdata) as u64,
            edata: addr_of!(_edata) as u64,
            bss_start: addr_of!(__bss_start) as u64,
            bss_stop: addr_of!(__bss_stop) as u64,
            end: addr_of!(_end) as u64,
        }
    }
}
