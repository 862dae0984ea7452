//! cpio "newc" archives, the format of Linux's initramfs
//! (`Documentation/driver-api/early-userspace/buffer-format.rst`):
//!
//! ```text
//! entry:   "070701" + 13 fields of 8 hex digits      110 bytes
//!          name + NUL, zero-padded                   header + name: a multiple of 4
//!          data, zero-padded                         a multiple of 4
//! fields:  ino mode uid gid nlink mtime filesize devmajor devminor
//!          rdevmajor rdevminor namesize check
//! last:    an entry named "TRAILER!!!"
//! ```

use std::collections::BTreeSet;

/// Mode of the directories an archive creates: `drwxr-xr-x`.
pub const DIR_MODE: u32 = 0o040_755;

/// `/a/b/c` -> `/a`, `/a/b`: the directories that must exist for a path.
pub fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').skip(1).map(move |(i, _)| &path[..i])
}

/// One file of an archive.
pub struct ArchiveFile<'a> {
    /// Absolute guest path.
    pub path: &'a str,
    /// Full `st_mode`: type and permission bits.
    pub mode: u32,
    pub data: &'a [u8],
}

/// Packs `files` (absolute, checked paths) into a cpio newc archive: every
/// parent directory once, parents first, then the files, then the trailer.
pub fn build_archive(files: &[ArchiveFile]) -> Vec<u8> {
    let mut cpio = CpioWriter::default();
    let mut made = BTreeSet::new();
    for file in files {
        for dir in parents(file.path) {
            if made.insert(dir) {
                cpio.entry(dir, DIR_MODE, 2, &[]);
            }
        }
    }
    for file in files {
        cpio.entry(file.path, file.mode, 1, file.data);
    }
    cpio.finish()
}

/// cpio "newc" (`070701`) writer. Each entry is a 110-byte ASCII header of
/// thirteen 8-digit hex fields, the NUL-terminated name padded so that
/// header + name is a multiple of 4, and the data padded to 4.
#[derive(Default)]
struct CpioWriter {
    out: Vec<u8>,
    /// Last inode number handed out; unique numbers keep unpackers from
    /// taking entries for hard links of each other.
    ino: u32,
}

impl CpioWriter {
    /// Adds a file or directory. `data.len()` must fit the 32-bit size
    /// field ([`super::InitImage::build`] checks it).
    fn entry(&mut self, path: &str, mode: u32, nlink: u32, data: &[u8]) {
        self.ino += 1;
        self.raw_entry(self.ino, path.trim_start_matches('/'), mode, nlink, data);
    }

    fn raw_entry(&mut self, ino: u32, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            0, // rdevmajor
            0, // rdevminor
            name.len() as u32 + 1,
            0, // check: only the "070702" format has a checksum
        ];
        self.out.extend_from_slice(b"070701");
        for field in fields {
            self.out.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        let len = self.out.len().next_multiple_of(4);
        self.out.resize(len, 0);
    }

    /// Appends the end-of-archive entry (inode 0, nlink 1, no data).
    fn finish(mut self) -> Vec<u8> {
        self.raw_entry(0, TRAILER, 0, 1, &[]);
        self.out
    }
}

const TRAILER: &str = "TRAILER!!!";

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// One parsed entry.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Entry {
        pub name: String,
        pub mode: u32,
        pub nlink: u32,
        pub ino: u32,
        pub data: Vec<u8>,
    }

    /// A strict newc reader: every header at a multiple of 4, only zero
    /// padding, the trailer last and nothing after it.
    pub fn parse(archive: &[u8]) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut at = 0;
        loop {
            assert_eq!(at % 4, 0, "header at {at} is not 4-aligned");
            let header = &archive[at..at + 110];
            assert_eq!(&header[..6], b"070701");
            let field = |i: usize| {
                let hex = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap();
                assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{hex:?}");
                u32::from_str_radix(hex, 16).unwrap()
            };
            let (namesize, filesize) = (field(11) as usize, field(6) as usize);
            let name_end = at + 110 + namesize;
            assert_eq!(archive[name_end - 1], 0, "name is not NUL-terminated");
            let name = std::str::from_utf8(&archive[at + 110..name_end - 1]).unwrap().to_string();
            let data_start = name_end.next_multiple_of(4);
            assert!(archive[name_end..data_start].iter().all(|&b| b == 0));
            let data_end = data_start + filesize;
            let next = data_end.next_multiple_of(4);
            assert!(archive[data_end..next].iter().all(|&b| b == 0));
            assert_eq!((field(2), field(3), field(5), field(12)), (0, 0, 0, 0), "uid, gid, mtime, check");
            let entry = Entry { name, mode: field(1), nlink: field(4), ino: field(0), data: archive[data_start..data_end].to_vec() };
            at = next;
            if entry.name == TRAILER {
                assert_eq!((entry.mode, entry.nlink, entry.ino, entry.data.len()), (0, 1, 0, 0));
                assert_eq!(at, archive.len(), "bytes after the trailer");
                return entries;
            }
            entries.push(entry);
        }
    }

    fn file<'a>(path: &'a str, data: &'a [u8]) -> ArchiveFile<'a> {
        ArchiveFile { path, mode: 0o100_644, data }
    }

    #[test]
    fn round_trips_with_every_padding() {
        // Names of 1..=8 bytes and data of 0..=8 bytes hit every remainder mod 4.
        let names: Vec<String> = (1..=8).map(|n| format!("/{}", "n".repeat(n))).collect();
        let datas: Vec<Vec<u8>> = (0..=8u8).map(|n| (1..=n).collect()).collect();
        for name in &names {
            for data in &datas {
                let archive = build_archive(&[file(name, data)]);
                assert_eq!(archive.len() % 4, 0);
                let entries = parse(&archive);
                assert_eq!(entries.len(), 1);
                assert_eq!(entries[0], Entry { name: name[1..].to_string(), mode: 0o100_644, nlink: 1, ino: 1, data: data.clone() });
            }
        }
    }

    #[test]
    fn empty_archive_is_only_the_trailer() {
        let archive = build_archive(&[]);
        assert!(parse(&archive).is_empty());
        // 110-byte header + "TRAILER!!!\0" = 121, padded to 124.
        assert_eq!(archive.len(), 124);
    }

    #[test]
    fn nested_directories_come_first_and_once() {
        let files = [
            ArchiveFile { path: "/bin/init", mode: 0o100_755, data: b"\x7fELF" },
            file("/usr/share/doc/readme", b"hello"),
            file("/data", b""),
            file("/usr/share/other", b"x"),
            file("/bin/tool", b"y"),
        ];
        let entries = parse(&build_archive(&files));
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["bin", "usr", "usr/share", "usr/share/doc", "bin/init", "usr/share/doc/readme", "data", "usr/share/other", "bin/tool"]);
        for dir in &entries[..4] {
            assert_eq!((dir.mode, dir.nlink, dir.data.len()), (DIR_MODE, 2, 0), "{dir:?}");
        }
        assert_eq!(entries[4].mode, 0o100_755);
        assert_eq!(entries[5].data, b"hello");
        let inos: BTreeSet<u32> = entries.iter().map(|e| e.ino).collect();
        assert_eq!(inos.len(), entries.len(), "inode numbers are not unique");
    }
}
