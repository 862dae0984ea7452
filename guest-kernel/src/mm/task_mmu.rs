//! `/proc/PID/maps` and the memory lines of `/proc/PID/status` for an
//! [`VmaTree`], in exactly Linux's formats (`fs/proc/task_mmu.c`:
//! `show_map_vma`, `task_mem`).

use core::fmt::{self, Write};

use super::addr::{PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
use super::vma::*;

/// Width the `maps` line is padded to before the name (Linux
/// `seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)`); one more space follows,
/// so names start at column 73.
const MAPS_PAD: usize = 25 + 8 * 6 - 1;

/// What `/proc/PID/maps` shows of a file: device major and minor, inode
/// number, path.
pub type FileInfo<P> = (u32, u32, u64, P);

/// What `maps` shows after the numbers (Linux `get_vma_name`).
pub enum VmaDisplayName<P> {
    /// A mapped file's path.
    Path(P),
    /// `[heap]`, `[stack]`, `[anon:NAME]`, `[anon_shmem:NAME]`.
    Special(alloc::string::String),
}

/// A VMA's name given its file's path (if it maps one); `None` for
/// unnamed anonymous memory.
pub fn vma_name<F, P>(vma: &Vma<F>, path: Option<P>) -> Option<VmaDisplayName<P>> {
    let special = |s: &str| Some(VmaDisplayName::Special(alloc::string::String::from(s)));
    match &vma.name {
        VmaName::Heap => special("[heap]"),
        VmaName::Stack => special("[stack]"),
        // Only shared anonymous memory has both a file and a name.
        VmaName::Anon(name) if path.is_some() => Some(VmaDisplayName::Special(alloc::format!("[anon_shmem:{name}]"))),
        VmaName::Anon(name) => Some(VmaDisplayName::Special(alloc::format!("[anon:{name}]"))),
        VmaName::Plain => path.map(VmaDisplayName::Path),
    }
}

impl<F: VmFile> VmaTree<F> {
    /// Writes `/proc/PID/maps`: one line per VMA,
    /// `start-end perms offset major:minor inode`, then, from column 73, the
    /// file's path, `[heap]`, `[stack]`, or nothing (anonymous lines end in
    /// a space, as Linux's). `file_info` describes a mapped file.
    pub fn show_maps<P: fmt::Display>(&self, w: &mut (impl Write + ?Sized), file_info: impl Fn(&F) -> FileInfo<P>) -> fmt::Result {
        for vma in self.iter() {
            self.show_map_vma(w, vma, &file_info)?;
        }
        Ok(())
    }

    /// One line of `/proc/PID/maps` (Linux `show_map_vma`).
    pub fn show_map_vma<P: fmt::Display>(&self, w: &mut (impl Write + ?Sized), vma: &Vma<F>, file_info: impl Fn(&F) -> FileInfo<P>) -> fmt::Result {
        let mut line = LineWriter { w, col: 0 };
        let flags = vma.flags;
        let perms = [
            if flags & VM_READ != 0 { 'r' } else { '-' },
            if flags & VM_WRITE != 0 { 'w' } else { '-' },
            if flags & VM_EXEC != 0 { 'x' } else { '-' },
            if flags & VM_MAYSHARE != 0 { 's' } else { 'p' },
        ];
        let (major, minor, ino, path, offset) = match &vma.file {
            Some(f) => {
                let (major, minor, ino, path) = file_info(f);
                (major, minor, ino, Some(path), vma.pgoff << PAGE_SHIFT)
            }
            None => (0, 0, 0, None, 0),
        };
        write!(line, "{:08x}-{:08x} ", vma.start, vma.end)?;
        for c in perms {
            line.write_char(c)?;
        }
        write!(line, " {offset:08x} {major:02x}:{minor:02x} {ino} ")?;
        let name = vma_name(vma, path);
        if let Some(name) = name {
            // seq_pad: spaces up to the width, then one more.
            while line.col < MAPS_PAD {
                line.write_char(' ')?;
            }
            line.write_char(' ')?;
            match name {
                // seq_path escapes newlines in paths as \012.
                VmaDisplayName::Path(p) => write!(EscapeNewlines(&mut line), "{p}")?,
                VmaDisplayName::Special(s) => line.write_str(&s)?,
            }
        }
        line.write_char('\n')
    }

    /// Writes the memory lines of `/proc/PID/status` (Linux `task_mem`),
    /// from `VmPeak` to `HugetlbPages`, each `Name:\t%8lu kB`. The caller
    /// passes its RSS counters in pages (`MM_ANONPAGES`, `MM_FILEPAGES`,
    /// `MM_SHMEMPAGES`), the RSS high-water mark in pages and the bytes of
    /// page tables (`VmPTE`), the swap entries (`VmSwap`). No pinned or
    /// huge pages.
    pub fn show_status(&self, w: &mut (impl Write + ?Sized), rss: crate::mm::uvm::Rss, hiwater_rss: u64, pgtables_bytes: u64) -> fmt::Result {
        let kb = |pages: u64| pages << (PAGE_SHIFT - 10);
        let (rss_anon, rss_file, rss_shmem) = (rss.anon, rss.file, rss.shmem);
        let total_rss = rss.total();
        // Executable areas split between the program's text and libraries.
        let text_start = self.start_code.page_align_down().as_u64();
        let text_end = self.end_code.as_u64().wrapping_add(PAGE_SIZE - 1) & PAGE_MASK;
        let text = text_end.saturating_sub(text_start).min(self.exec_vm << PAGE_SHIFT);
        let lib = (self.exec_vm << PAGE_SHIFT) - text;
        let lines = [
            ("VmPeak", kb(self.hiwater_vm.max(self.total_vm))),
            ("VmSize", kb(self.total_vm)),
            ("VmLck", kb(self.locked_vm)),
            ("VmPin", 0),
            ("VmHWM", kb(hiwater_rss.max(total_rss))),
            ("VmRSS", kb(total_rss)),
            ("RssAnon", kb(rss_anon)),
            ("RssFile", kb(rss_file)),
            ("RssShmem", kb(rss_shmem)),
            ("VmData", kb(self.data_vm)),
            ("VmStk", kb(self.stack_vm)),
            ("VmExe", text >> 10),
            ("VmLib", lib >> 10),
            ("VmPTE", pgtables_bytes >> 10),
            ("VmSwap", kb(rss.swap)),
            ("HugetlbPages", 0),
        ];
        for (name, value) in lines {
            writeln!(w, "{name}:\t{value:>8} kB")?;
        }
        Ok(())
    }
}

/// A writer that counts the columns of the current line.
struct LineWriter<'a, W: Write + ?Sized> {
    w: &'a mut W,
    col: usize,
}

impl<W: Write + ?Sized> Write for LineWriter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.col += s.len();
        self.w.write_str(s)
    }
}

/// Writes `\n` as `\012` (Linux `mangle_path` with `"\n"`).
struct EscapeNewlines<'a, W: Write>(&'a mut W);

impl<W: Write> Write for EscapeNewlines<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                self.0.write_str("\\012")?;
            }
            self.0.write_str(part)?;
        }
        Ok(())
    }
}
