//! Tests of unpacking archives into a Ramfs over a real page allocator.

use crate::mm::addr::Pfn;
use proptest::prelude::*;

use super::*;
use crate::fs::cpio::Builder;
use crate::fs::errno::*;
use crate::fs::pages::frame_bytes;
use crate::fs::ramfs::ROOT_INO;
use crate::fs::stat::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use crate::fs::testing::{free_pages, ram};

const SIZES: [usize; 6] = [0, 1, 4095, 4096, 4097, 3 * 4096 + 5];

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

fn boundary_archive() -> Vec<u8> {
    let mut b = Builder::new();
    b.dir(".", 0o755).dir("usr", 0o755).dir("usr/share", 0o755);
    for (i, &n) in SIZES.iter().enumerate() {
        b.file(&format!("usr/share/f{n}"), 0o644, &bytes(n, i as u8));
    }
    // Nested under directories the archive never lists.
    b.file("a/b/c/deep", 0o600, &bytes(4097, 9));
    b.finish()
}

#[test]
fn files_of_every_boundary_size_read_back_exactly() {
    let pa = ram(4);
    let free = free_pages(pa);
    let mut fs = Ramfs::new();
    let stats = fs.unpack(&boundary_archive(), pa).unwrap();
    assert_eq!((stats.entries, stats.dirs, stats.files), (10, 3, 7));
    let pages: usize = SIZES.iter().map(|n| n.div_ceil(4096)).sum::<usize>() + 2;
    assert_eq!(stats.pages, pages as u64);
    assert_eq!(free_pages(pa), free - pages as u64);

    for (i, &n) in SIZES.iter().enumerate() {
        let data = bytes(n, i as u8);
        let f = fs.lookup(&format!("/usr/share/f{n}")).unwrap();
        assert!(f.is_regular());
        assert_eq!((f.size(), f.mode(), f.nlink()), (n as u64, S_IFREG | 0o644, 1));
        assert_eq!(f.nr_pages(), n.div_ceil(4096));
        // Each page holds its part of the file, then zeroes.
        for p in 0..f.nr_pages() {
            let frame = frame_bytes(pa, Pfn::new((f.page(p).unwrap()).as_u64()));
            let part = &data[p * 4096..n.min((p + 1) * 4096)];
            assert_eq!(&frame[..part.len()], part, "f{n} page {p}");
            assert!(frame[part.len()..].iter().all(|&b| b == 0), "f{n} page {p} tail");
        }
        assert_eq!(f.page(f.nr_pages()), None);
        // read_at around every page boundary and the end of the file.
        let mut offsets = vec![0, 1, n.saturating_sub(1), n, n + 1, n + 4096];
        for k in 1..=4 {
            offsets.extend([k * 4096 - 1, k * 4096, k * 4096 + 1]);
        }
        for off in offsets {
            for len in [0, 1, 2, 4095, 4096, 4097, 20_000] {
                let mut buf = vec![0xeeu8; len];
                let got = f.read_at(off as u64, &mut buf);
                let want = &data[off.min(n)..n.min(off.saturating_add(len))];
                assert_eq!(got, want.len(), "f{n} read_at({off}, {len})");
                assert_eq!(&buf[..got], want, "f{n} read_at({off}, {len})");
                assert!(buf[got..].iter().all(|&b| b == 0xee), "f{n} read_at({off}, {len}) wrote past its count");
            }
        }
    }
    assert_eq!(fs.lookup("/a/b/c/deep").unwrap().size(), 4097);
    drop(fs);
    assert_eq!(free_pages(pa), free, "dropping the fs frees every page");
}

#[test]
fn metadata_comes_from_the_archive() {
    let mut b = Builder::new();
    b.push(&Entry { name: b".", mode: S_IFDIR | 0o700, uid: 0, gid: 0, mtime: 11, ..Entry::default() });
    b.push(&Entry { name: b"home/user", mode: S_IFDIR | 0o750, uid: 1000, gid: 100, mtime: 22, ..Entry::default() });
    b.push(&Entry { name: b"home/user/suid", mode: S_IFREG | 0o4755, uid: 1000, gid: 100, mtime: 33, data: b"x", ..Entry::default() });
    b.push(&Entry { name: b"./dev/console", mode: S_IFCHR | 0o600, rdev_major: 5, rdev_minor: 1, ..Entry::default() });
    b.push(&Entry { name: b"/etc/", mode: S_IFDIR | 0o755, ..Entry::default() });
    let mut fs = Ramfs::new();
    let stats = fs.unpack(&b.finish(), ram(4)).unwrap();
    assert_eq!((stats.dirs, stats.files, stats.nodes), (3, 1, 1));
    let root = fs.lookup("/").unwrap();
    assert_eq!((root.ino(), root.mode(), root.mtime()), (ROOT_INO, S_IFDIR | 0o700, 11));
    let home = fs.lookup("/home").unwrap();
    assert_eq!((home.mode(), home.uid(), home.mtime(), home.nlink()), (S_IFDIR | 0o755, 0, 0, 3), "made on the way");
    let user = fs.lookup("/home/user").unwrap();
    assert_eq!((user.mode(), user.uid(), user.gid(), user.mtime()), (S_IFDIR | 0o750, 1000, 100, 22));
    let suid = fs.lookup("/home/user/suid").unwrap();
    assert_eq!((suid.mode(), suid.uid(), suid.mtime(), suid.path()), (S_IFREG | 0o4755, 1000, 33, "/home/user/suid".to_string()));
    let console = fs.lookup("/dev/console").unwrap();
    assert_eq!((console.file_type(), console.rdev(), console.path()), (S_IFCHR, 0x501, "/dev/console".to_string()));
    assert!(fs.lookup("/etc").unwrap().is_dir());
    assert_eq!(root.nlink(), 5, "2 + home, dev, etc");
    let mut inos: Vec<u64> =
        ["/", "/home", "/home/user", "/home/user/suid", "/dev", "/dev/console", "/etc"].iter().map(|p| fs.lookup(p).unwrap().ino()).collect();
    inos.sort();
    inos.dedup();
    assert_eq!(inos.len(), 7, "inode numbers are unique");
}

#[test]
fn hard_links_share_one_inode() {
    // GNU cpio's newc: the data comes with the last name of a link set.
    let e = |name: &'static [u8], data: &'static [u8]| Entry { name, mode: S_IFREG | 0o755, ino: 42, nlink: 2, data, ..Entry::default() };
    let mut b = Builder::new();
    b.push(&e(b"bin/a", b"")).push(&e(b"bin/b", b"shared contents"));
    let mut fs = Ramfs::new();
    let stats = fs.unpack(&b.finish(), ram(4)).unwrap();
    assert_eq!((stats.files, stats.hardlinks), (1, 1));
    let (a, b) = (fs.lookup("/bin/a").unwrap(), fs.lookup("/bin/b").unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!((a.nlink(), a.size()), (2, 15));
    let mut buf = [0u8; 15];
    a.read_at(0, &mut buf);
    assert_eq!(&buf, b"shared contents");
    // nlink 1 entries with equal inode numbers are separate files.
    let mut b = Builder::new();
    b.push(&Entry { nlink: 1, ..e(b"x", b"1") }).push(&Entry { nlink: 1, ..e(b"y", b"2") });
    fs.unpack(&b.finish(), ram(4)).unwrap();
    assert!(!Arc::ptr_eq(&fs.lookup("/x").unwrap(), &fs.lookup("/y").unwrap()));
}

#[test]
fn later_entries_replace_earlier_ones() {
    let pa = ram(4);
    let free = free_pages(pa);
    let mut fs = Ramfs::new();
    let mut b = Builder::new();
    b.file("f", 0o644, &[1; 5000]).file("f", 0o600, b"new").dir("d", 0o755).dir("d", 0o700).file("d/x", 0o644, b"");
    b.file("gone", 0o644, b"").dir("gone", 0o755).symlink("s", "f");
    let stats = fs.unpack(&b.finish(), pa).unwrap();
    assert_eq!(stats.dirs, 3);
    let f = fs.lookup("/f").unwrap();
    assert_eq!((f.size(), f.mode()), (3, S_IFREG | 0o600));
    assert_eq!(free_pages(pa), free - 1, "the replaced file's pages are freed");
    assert_eq!(fs.lookup("/d").unwrap().mode(), S_IFDIR | 0o700);
    assert!(fs.lookup("/d/x").is_ok(), "a directory over a directory keeps its entries");
    assert!(fs.lookup("/gone").unwrap().is_dir());
    assert_eq!(fs.lookup_nofollow("/s").unwrap().mode(), S_IFLNK | 0o777);
    // A second archive layers over the first.
    let mut b = Builder::new();
    b.file("f", 0o644, b"third").file("more", 0o644, b"m");
    fs.unpack(&b.finish(), pa).unwrap();
    assert_eq!(fs.lookup("/s").unwrap().size(), 5);
    assert!(fs.lookup("/d/x").is_ok());
}

/// The tree as (path, mode, size) for comparing states.
fn listing(fs: &Ramfs) -> Vec<(String, u32, u64, u32)> {
    let mut out = Vec::new();
    let mut work = vec![(String::new(), fs.root().clone())];
    while let Some((path, inode)) = work.pop() {
        out.push((path.clone(), inode.mode(), inode.size(), inode.nlink()));
        for (name, child) in inode.entries() {
            work.push((format!("{path}/{name}"), child));
        }
    }
    out.sort();
    out
}

#[test]
fn a_failed_unpack_changes_nothing_and_frees_what_it_took() {
    let pa = ram(4);
    let free = free_pages(pa);
    let mut fs = Ramfs::new();
    let mut b = Builder::new();
    b.dir(".", 0o755).file("keep", 0o644, &[7; 6000]).dir("dir", 0o755).file("dir/old", 0o644, b"old");
    fs.unpack(&b.finish(), pa).unwrap();
    let before = listing(&fs);
    let used = free - free_pages(pa);

    // Out of frames halfway: 4 MiB of RAM cannot hold a 5 MiB file.
    let mut b = Builder::new();
    b.dir(".", 0o700).file("keep", 0o600, b"replaced").file("new/a", 0o644, &[1; 9000]).dir("dir", 0o711);
    b.file("dir/old", 0o644, b"replaced too").file("huge", 0o644, &vec![3; 5 << 20]).file("after", 0o644, b"");
    let err = fs.unpack(&b.finish(), pa).unwrap_err();
    assert_eq!(err, UnpackError::Entry { offset: err_offset(&err), name: "huge".into(), errno: ENOMEM });
    assert_eq!(err.errno(), ENOMEM);
    assert_eq!(listing(&fs), before);
    assert_eq!(free - free_pages(pa), used, "nothing leaked");
    let mut buf = [0u8; 3];
    fs.lookup("/dir/old").unwrap().read_at(0, &mut buf);
    assert_eq!(&buf, b"old");

    // A malformed archive after good entries.
    let mut a = b_with_new_file();
    let len = a.len();
    a.truncate(len - 130);
    let err = fs.unpack(&a, pa).unwrap_err();
    assert!(matches!(err, UnpackError::Archive(_)), "{err:?}");
    assert_eq!(err.errno(), EINVAL);
    assert_eq!(listing(&fs), before);
    assert_eq!(free - free_pages(pa), used);
    drop(fs);
    assert_eq!(free_pages(pa), free);
}

fn err_offset(e: &UnpackError) -> usize {
    match e {
        UnpackError::Entry { offset, .. } => *offset,
        UnpackError::Archive(e) => e.offset,
    }
}

fn b_with_new_file() -> Vec<u8> {
    let mut b = Builder::new();
    b.file("fresh", 0o644, &[9; 4097]).file("keep", 0o644, b"");
    b.finish()
}

#[test]
fn entries_that_cannot_be_created_are_errors() {
    let try_unpack = |b: &mut Builder| {
        let archive = core::mem::take(b).finish();
        let mut fs = Ramfs::new();
        fs.unpack(&archive, ram(4)).map_err(|e| e.errno())
    };
    assert_eq!(try_unpack(Builder::new().file("f", 0o644, b"").file("f/x", 0o644, b"")), Err(ENOTDIR));
    assert_eq!(try_unpack(Builder::new().file(&"n".repeat(256), 0o644, b"")), Err(ENAMETOOLONG));
    assert_eq!(try_unpack(Builder::new().file(&"d/".repeat(2048), 0o644, b"")), Err(ENAMETOOLONG));
    assert_eq!(try_unpack(Builder::new().symlink("l", "")), Err(ENOENT));
    assert_eq!(try_unpack(Builder::new().entry("l", S_IFLNK | 0o777, b"\xff")), Err(EINVAL));
    assert_eq!(try_unpack(Builder::new().entry("odd", 0o070000 | 0o644, b"")), Err(EINVAL));
    assert_eq!(try_unpack(Builder::new().file(".", 0o644, b"")), Err(EEXIST));
    assert_eq!(try_unpack(Builder::new().dir("d", 0o755).file("d/x", 0o644, b"").file("d", 0o644, b"")), Err(ENOTEMPTY));
    let mut b = Builder::new();
    b.push(&Entry { name: b"\xffbad", mode: S_IFREG | 0o644, ..Entry::default() });
    assert_eq!(try_unpack(&mut b), Err(EINVAL));
    // Symlinks are followed on the way, as path lookup does.
    assert!(try_unpack(Builder::new().dir("usr/lib", 0o755).symlink("lib", "usr/lib").file("lib/libc.so", 0o755, b"")).is_ok());
}

#[test]
fn errors_name_the_entry() {
    let mut b = Builder::new();
    b.file("ok", 0o644, b"").file("ok/child", 0o644, b"");
    let a = b.finish();
    let err = Ramfs::new().unpack(&a, ram(4)).unwrap_err();
    assert_eq!(err.to_string(), "initramfs: cannot unpack \"ok/child\" (entry at offset 0x74): ENOTDIR");
    let err = Ramfs::new().unpack(&a[..60], ram(4)).unwrap_err();
    assert_eq!(err.to_string(), "initramfs: cpio: truncated header at offset 0x0");
}

static PROP_RAM: std::sync::OnceLock<&'static crate::mm::page_alloc::PageAlloc<crate::mm::fake::FakeRam>> = std::sync::OnceLock::new();

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random trees over a small name space: every file reads back what
    /// its last entry wrote, and dropping the fs frees every frame.
    #[test]
    fn unpacked_trees_match_a_model(files in proptest::collection::vec((0usize..3, 0usize..4, 0usize..3 * 4096 + 7, any::<u8>()), 1..12)) {
        let pa = *PROP_RAM.get_or_init(|| ram(8));
        let free = free_pages(pa);
        let mut b = Builder::new();
        let mut model = std::collections::BTreeMap::new();
        for &(dir, name, size, seed) in &files {
            let path = format!("d{dir}/f{name}");
            let data = bytes(size, seed);
            b.file(&path, 0o644, &data);
            model.insert(path, data);
        }
        let mut fs = Ramfs::new();
        fs.unpack(&b.finish(), pa).unwrap();
        for (path, data) in &model {
            let f = fs.lookup(path).unwrap();
            let mut buf = vec![0u8; data.len() + 1];
            prop_assert_eq!(f.read_at(0, &mut buf), data.len());
            prop_assert_eq!(&buf[..data.len()], &data[..]);
        }
        drop(fs);
        prop_assert_eq!(free_pages(pa), free);
    }
}
