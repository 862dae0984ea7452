//! cpio "newc" archives, the format of Linux's initramfs
//! (`Documentation/driver-api/early-userspace/buffer-format.rst`).
//!
//! ```text
//! offset 0      "070701" (or "070702": the same with a checksum, ignored)
//!        6      13 fields of 8 hex digits: ino mode uid gid nlink mtime
//!               filesize devmajor devminor rdevmajor rdevminor namesize check
//!        110    name, namesize bytes including its NUL
//!               NUL padding to a multiple of 4
//!               data, filesize bytes (a symlink's data is its target)
//!               NUL padding to a multiple of 4
//!        ...    next header; the entry named "TRAILER!!!" ends the archive
//! ```
//!
//! As Linux's unpacker does, NUL bytes after a trailer are skipped and a
//! further archive may follow (archives concatenate), starting on a
//! multiple of 4. The parser borrows from the input and never panics: every
//! malformed input is a [`CpioError`] naming the offset of the bad bytes.

use alloc::vec::Vec;
use core::fmt;

/// "New ASCII" format.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// "New CRC" format: newc with a checksum of the data in `check`.
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// Bytes in a header, up to the name.
pub const HEADER_LEN: usize = 110;
/// The name of the entry that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";

const FIELDS: [&str; 13] = ["ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"];

/// One archive member. `name` and `data` borrow from the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Entry<'a> {
    /// Offset of the header in the archive.
    pub offset: usize,
    /// The name without its terminating NUL, as stored (usually relative,
    /// `bin/sh`, or `.` for the root).
    pub name: &'a [u8],
    pub ino: u32,
    /// File type and permissions (`S_IFREG | 0o755`, ...).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// Seconds since the epoch.
    pub mtime: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// The device of a character or block special file.
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// The "070702" checksum; 0 in "070701" archives. Not verified.
    pub check: u32,
    /// File contents, or a symlink's target.
    pub data: &'a [u8],
}

impl<'a> Entry<'a> {
    /// The name as UTF-8, if it is.
    pub fn name_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.name).ok()
    }
}

/// What is wrong with an archive, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpioError {
    /// Offset of the offending bytes in the input.
    pub offset: usize,
    pub kind: CpioErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioErrorKind {
    /// Not "070701" or "070702" where a header must start.
    BadMagic,
    /// A header field that is not 8 hex digits (the field's name).
    BadHex(&'static str),
    /// The input ends inside a header.
    TruncatedHeader,
    /// The input ends inside a name.
    TruncatedName,
    /// `namesize` is 0, or the name is not one NUL-terminated string of
    /// `namesize` bytes.
    BadName,
    /// The input ends inside an entry's data.
    TruncatedData,
    /// Offsets computed from the sizes do not fit in `usize`.
    SizeOverflow,
    /// Non-NUL bytes after a trailer at an offset that is not a multiple of
    /// 4 (Linux: "broken padding").
    BrokenPadding,
    /// The input ends after an entry without a `TRAILER!!!`.
    MissingTrailer,
}

impl fmt::Display for CpioErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => f.write_str("bad magic (expected 070701 or 070702)"),
            Self::BadHex(field) => write!(f, "header field {field} is not 8 hex digits"),
            Self::TruncatedHeader => f.write_str("truncated header"),
            Self::TruncatedName => f.write_str("truncated name"),
            Self::BadName => f.write_str("name is empty or not NUL-terminated"),
            Self::TruncatedData => f.write_str("truncated data"),
            Self::SizeOverflow => f.write_str("sizes overflow"),
            Self::BrokenPadding => f.write_str("broken padding"),
            Self::MissingTrailer => f.write_str("no TRAILER!!! entry"),
        }
    }
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpio: {} at offset {:#x}", self.kind, self.offset)
    }
}

/// The entries of one archive or of several concatenated ones, in order,
/// without the trailers. Yields at most one error, then ends.
pub struct Cpio<'a> {
    data: &'a [u8],
    pos: usize,
    /// Between archives: NUL padding may follow, or the end.
    between: bool,
    done: bool,
}

impl<'a> Cpio<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, between: true, done: false }
    }

    fn err(&mut self, offset: usize, kind: CpioErrorKind) -> Option<Result<Entry<'a>, CpioError>> {
        self.done = true;
        Some(Err(CpioError { offset, kind }))
    }
}

impl<'a> Iterator for Cpio<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if self.between {
                let zeros = self.data.get(self.pos..).unwrap_or(&[]).iter().take_while(|&&b| b == 0).count();
                self.pos += zeros;
                if self.pos >= self.data.len() {
                    self.done = true;
                    return None;
                }
                if self.pos & 3 != 0 {
                    return self.err(self.pos, CpioErrorKind::BrokenPadding);
                }
                self.between = false;
            } else if self.pos >= self.data.len() {
                return self.err(self.pos, CpioErrorKind::MissingTrailer);
            }
            match parse_entry(self.data, self.pos) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok((entry, next)) => {
                    self.pos = next;
                    if entry.name == TRAILER {
                        self.between = true;
                        continue;
                    }
                    return Some(Ok(entry));
                }
            }
        }
    }
}

impl core::iter::FusedIterator for Cpio<'_> {}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

fn hex8(bytes: &[u8]) -> Option<u32> {
    if bytes.len() != 8 {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, &b| Some(acc << 4 | (b as char).to_digit(16)?))
}

/// Parses the entry whose header starts at `pos`; returns it and where the
/// next header starts.
fn parse_entry(data: &[u8], pos: usize) -> Result<(Entry<'_>, usize), CpioError> {
    use CpioErrorKind::*;
    let fail = |offset, kind| CpioError { offset, kind };
    // The magic first, so that junk reads as junk even when short.
    let start = data.get(pos..).unwrap_or(&[]);
    let magic = &start[..start.len().min(6)];
    if !MAGIC_NEWC.starts_with(magic) && !MAGIC_CRC.starts_with(magic) {
        return Err(fail(pos, BadMagic));
    }
    let header_end = pos.checked_add(HEADER_LEN).ok_or(fail(pos, SizeOverflow))?;
    let h = data.get(pos..header_end).ok_or(fail(pos, TruncatedHeader))?;
    let mut f = [0u32; 13];
    for (i, (v, name)) in f.iter_mut().zip(FIELDS).enumerate() {
        let at = 6 + 8 * i;
        *v = hex8(&h[at..at + 8]).ok_or(fail(pos + at, BadHex(name)))?;
    }
    let [ino, mode, uid, gid, nlink, mtime, filesize, dev_major, dev_minor, rdev_major, rdev_minor, namesize, check] = f;
    let (namesize, filesize) = (namesize as usize, filesize as usize);
    if namesize == 0 {
        return Err(fail(header_end, BadName));
    }
    let name_end = header_end.checked_add(namesize).ok_or(fail(header_end, SizeOverflow))?;
    let name = data.get(header_end..name_end).ok_or(fail(header_end, TruncatedName))?;
    let (last, name) = name.split_last().ok_or(fail(header_end, BadName))?;
    if *last != 0 || name.contains(&0) {
        return Err(fail(header_end, BadName));
    }
    let data_start = align4(name_end).ok_or(fail(name_end, SizeOverflow))?;
    let data_end = data_start.checked_add(filesize).ok_or(fail(data_start, SizeOverflow))?;
    // Where the missing bytes begin: the data, or the padding before it.
    let truncated = fail(data_start.min(data.len()), TruncatedData);
    let body = if filesize == 0 { &[][..] } else { data.get(data_start..data_end).ok_or(truncated)? };
    // Missing padding at the very end (after a trailer) is tolerated, as by
    // Linux; anything else then fails as a missing trailer.
    let next = align4(data_end).ok_or(fail(data_end, SizeOverflow))?.min(data.len());
    let entry = Entry { offset: pos, name, ino, mode, uid, gid, nlink, mtime, dev_major, dev_minor, rdev_major, rdev_minor, check, data: body };
    Ok((entry, next))
}

/// Writes newc archives (for tests, and for building an initramfs in the
/// kernel's own tools). Inode numbers are given out from 1 unless an entry
/// names its own.
#[derive(Default)]
pub struct Builder {
    out: Vec<u8>,
    next_ino: u32,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `e` exactly as given (its `offset` is ignored). `e.name` must
    /// not contain NUL bytes.
    pub fn push(&mut self, e: &Entry<'_>) -> &mut Self {
        use core::fmt::Write;
        let mut header = alloc::string::String::with_capacity(HEADER_LEN);
        let fields = [
            e.ino,
            e.mode,
            e.uid,
            e.gid,
            e.nlink,
            e.mtime,
            e.data.len() as u32,
            e.dev_major,
            e.dev_minor,
            e.rdev_major,
            e.rdev_minor,
            e.name.len() as u32 + 1,
            e.check,
        ];
        header.push_str("070701");
        for v in fields {
            let _ = write!(header, "{v:08x}");
        }
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(e.name);
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(e.data);
        self.pad();
        self
    }

    /// Appends an entry with the next inode number, owner root, mtime 0.
    pub fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.next_ino += 1;
        let nlink = if mode & super::stat::S_IFMT == super::stat::S_IFDIR { 2 } else { 1 };
        let e = Entry { name: name.as_bytes(), ino: self.next_ino, mode, nlink, data, ..Entry::default() };
        self.push(&e)
    }

    pub fn dir(&mut self, name: &str, perm: u32) -> &mut Self {
        self.entry(name, super::stat::S_IFDIR | perm, &[])
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> &mut Self {
        self.entry(name, super::stat::S_IFREG | perm, data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, super::stat::S_IFLNK | 0o777, target.as_bytes())
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        let trailer = Entry { name: TRAILER, nlink: 1, ..Entry::default() };
        self.push(&trailer);
        self.out
    }

    fn pad(&mut self) {
        while self.out.len() & 3 != 0 {
            self.out.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::stat::{S_IFDIR, S_IFLNK, S_IFREG};
    use proptest::prelude::*;

    fn entries(data: &[u8]) -> Result<Vec<Entry<'_>>, CpioError> {
        Cpio::new(data).collect()
    }

    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        b.dir(".", 0o755).dir("bin", 0o755).file("bin/init", 0o755, b"\x7fELF...").symlink("sh", "bin/init");
        b.file("empty", 0o644, b"");
        b.finish()
    }

    #[test]
    fn parses_what_the_builder_writes() {
        let a = sample();
        let es = entries(&a).unwrap();
        let names: Vec<&[u8]> = es.iter().map(|e| e.name).collect();
        assert_eq!(names, [&b"."[..], b"bin", b"bin/init", b"sh", b"empty"]);
        assert_eq!(es[0].mode, S_IFDIR | 0o755);
        assert_eq!(es[2].mode, S_IFREG | 0o755);
        assert_eq!(es[2].data, b"\x7fELF...");
        assert_eq!(es[3].mode, S_IFLNK | 0o777);
        assert_eq!(es[3].data, b"bin/init");
        assert_eq!(es[4].data, b"");
        assert_eq!(es[0].offset, 0);
        assert!(es.iter().all(|e| e.offset % 4 == 0));
        assert_eq!(a.len() % 4, 0);
    }

    #[test]
    fn reads_a_hand_written_header() {
        // As `gen_init_cpio` writes it: name "init", 3 bytes of data.
        let mut a = Vec::new();
        a.extend_from_slice(b"070701");
        for v in [0x2c1u32, 0o100755, 1000, 100, 1, 0x5f5e1000, 3, 0, 0, 0, 0, 5, 0] {
            a.extend_from_slice(format!("{v:08X}").as_bytes());
        }
        a.extend_from_slice(b"init\0\0abc\0");
        a.extend_from_slice(&sample()[sample().len() - 124..]); // the trailer
        let es = entries(&a).unwrap();
        assert_eq!(es.len(), 1);
        let e = es[0];
        assert_eq!((e.name, e.ino, e.mode, e.uid, e.gid, e.mtime), (&b"init"[..], 0x2c1, 0o100755, 1000, 100, 0x5f5e1000));
        assert_eq!(e.data, b"abc");
    }

    #[test]
    fn crc_magic_is_accepted_and_its_check_ignored() {
        let mut a = sample();
        a[..6].copy_from_slice(MAGIC_CRC);
        a[102..110].copy_from_slice(b"DEADBEEF");
        let es = entries(&a).unwrap();
        assert_eq!(es[0].check, 0xdead_beef);
        assert_eq!(es.len(), 5);
    }

    #[test]
    fn concatenated_archives_with_nul_padding() {
        let mut a = sample();
        a.extend_from_slice(&[0; 512]);
        let mut b = Builder::new();
        b.file("second", 0o600, b"2");
        a.extend_from_slice(&b.finish());
        a.extend_from_slice(&[0; 8]);
        let names: Vec<Vec<u8>> = entries(&a).unwrap().iter().map(|e| e.name.to_vec()).collect();
        assert_eq!(names.last().unwrap(), b"second");
        assert_eq!(names.len(), 6);
        assert!(entries(&[]).unwrap().is_empty());
        assert!(entries(&[0; 64]).unwrap().is_empty());
    }

    #[test]
    fn malformed_archives_name_the_offset() {
        use CpioErrorKind::*;
        let a = sample();
        let err = |data: &[u8]| entries(data).unwrap_err();

        let mut bad = a.clone();
        bad[0] = b'1';
        assert_eq!(err(&bad), CpioError { offset: 0, kind: BadMagic });
        // odc ("070707") is another format.
        bad[..6].copy_from_slice(b"070707");
        assert_eq!(err(&bad).kind, BadMagic);

        let mut bad = a.clone();
        bad[6 + 8 + 3] = b'g'; // in `mode`
        assert_eq!(err(&bad), CpioError { offset: 14, kind: BadHex("mode") });
        bad[17] = b' ';
        assert_eq!(err(&bad).kind, BadHex("mode"));

        assert_eq!(err(&a[..50]), CpioError { offset: 0, kind: TruncatedHeader });
        assert_eq!(err(&a[..111]), CpioError { offset: 110, kind: TruncatedName });

        // Name without its NUL: "." with namesize 2 whose 2nd byte is 'x'.
        let mut bad = a.clone();
        bad[111] = b'x';
        assert_eq!(err(&bad), CpioError { offset: 110, kind: BadName });
        // namesize 0.
        let mut bad = a.clone();
        bad[94..102].copy_from_slice(b"00000000");
        assert_eq!(err(&bad), CpioError { offset: 110, kind: BadName });

        // Data runs past the end: bin/init's data starts after its header
        // and padded name.
        let init = entries(&a).unwrap()[2];
        let data_at = (init.offset + HEADER_LEN + init.name.len() + 1 + 3) & !3;
        assert_eq!(err(&a[..data_at + 3]), CpioError { offset: data_at, kind: TruncatedData });
        // A huge filesize.
        let mut bad = a.clone();
        bad[init.offset + 54..init.offset + 62].copy_from_slice(b"ffffffff");
        assert_eq!(err(&bad).kind, TruncatedData);

        // Everything but the trailer.
        let trailer_at = a.len() - 124;
        assert_eq!(err(&a[..trailer_at]), CpioError { offset: trailer_at, kind: MissingTrailer });

        // Junk after the trailer.
        let mut bad = a.clone();
        bad.extend_from_slice(&[0, b'x']);
        assert_eq!(err(&bad), CpioError { offset: a.len() + 1, kind: BrokenPadding });
        let mut bad = a.clone();
        bad.extend_from_slice(b"junkjunk");
        assert_eq!(err(&bad), CpioError { offset: a.len(), kind: BadMagic });
    }

    #[test]
    fn errors_end_the_iteration_and_display_well() {
        let a = sample();
        let mut it = Cpio::new(&a[..224]);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert!(it.next().is_none());
        assert_eq!(format!("{e}"), "cpio: truncated name at offset 0xde");
    }

    #[derive(Debug, Clone)]
    struct Spec {
        name: Vec<u8>,
        mode: u32,
        fields: [u32; 8],
        data: Vec<u8>,
    }

    fn arb_spec() -> impl Strategy<Value = Spec> {
        (proptest::collection::vec(1u8..=255, 1..40), any::<u32>(), any::<[u32; 8]>(), proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(name, mode, fields, data)| Spec { name, mode, fields, data })
            .prop_filter("the trailer's name ends the archive", |s| s.name != TRAILER)
    }

    fn build(specs: &[Spec]) -> Vec<u8> {
        let mut b = Builder::new();
        for s in specs {
            let [ino, uid, gid, nlink, mtime, dev_major, dev_minor, rdev_major] = s.fields;
            b.push(&Entry {
                name: &s.name,
                ino,
                mode: s.mode,
                uid,
                gid,
                nlink,
                mtime,
                dev_major,
                dev_minor,
                rdev_major,
                rdev_minor: ino ^ uid,
                data: &s.data,
                ..Entry::default()
            });
        }
        b.finish()
    }

    proptest! {
        // No regression files: they would land outside this module's source.
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn built_archives_round_trip(specs in proptest::collection::vec(arb_spec(), 0..8)) {
            let a = build(&specs);
            let es = entries(&a).unwrap();
            prop_assert_eq!(es.len(), specs.len());
            for (e, s) in es.iter().zip(&specs) {
                prop_assert_eq!(e.name, &s.name[..]);
                prop_assert_eq!(e.mode, s.mode);
                prop_assert_eq!([e.ino, e.uid, e.gid, e.nlink, e.mtime, e.dev_major, e.dev_minor, e.rdev_major], s.fields);
                prop_assert_eq!(e.rdev_minor, e.ino ^ e.uid);
                prop_assert_eq!(e.data, &s.data[..]);
            }
            // Rebuilding from the parsed entries gives the same bytes.
            let mut b = Builder::new();
            es.iter().for_each(|e| { b.push(e); });
            prop_assert_eq!(b.finish(), a);
        }

        #[test]
        fn truncations_fail_cleanly(specs in proptest::collection::vec(arb_spec(), 1..5), cut in any::<prop::sample::Index>()) {
            let a = build(&specs);
            let cut = cut.index(a.len());
            let r: Result<Vec<_>, _> = Cpio::new(&a[..cut]).collect();
            // A prefix is a complete archive only if it is empty or ends
            // after the trailer's name (its padding may be missing).
            match r {
                Err(e) => prop_assert!(e.offset <= cut),
                Ok(_) => prop_assert!(cut == 0 || cut >= a.len() - 3, "prefix of {} accepted", cut),
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for item in Cpio::new(&bytes) {
                if let Err(e) = item {
                    prop_assert!(e.offset <= bytes.len());
                }
            }
        }

        #[test]
        fn corrupted_archives_never_panic(specs in proptest::collection::vec(arb_spec(), 1..4), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut a = build(&specs);
            for (i, v) in flips {
                let i = i.index(a.len());
                a[i] = v;
            }
            let _ = Cpio::new(&a).count();
        }
    }
}
