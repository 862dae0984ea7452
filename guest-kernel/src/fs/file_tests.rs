//! Tests of `open` and open files over an unpacked archive.

use std::sync::Mutex;

use super::*;
use crate::fs::cpio::Builder;
use crate::fs::ramfs::Ramfs;
use crate::fs::stat::{makedev, S_IFDIR, S_IFIFO};
use crate::fs::testing::{free_pages, ram};

/// `open` with mode 0644 (what the umask leaves of 0666).
fn open(fs: &Ramfs, path: &str, flags: u32) -> Result<Arc<File>, Errno> {
    super::open(fs, path, flags, 0o644)
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn fs() -> Ramfs {
    let mut b = Builder::new();
    b.dir("bin", 0o755).file("bin/prog", 0o755, &bytes(10_000)).symlink("bin/link", "prog");
    b.file("empty", 0o644, b"").symlink("dir-link", "bin");
    b.entry("dev/console", S_IFCHR | 0o600, b"").entry("fifo", S_IFIFO | 0o644, b"");
    let mut fs = Ramfs::new();
    fs.unpack(&b.finish(), ram(4)).unwrap();
    fs
}

#[test]
fn regular_files_read_and_seek_like_linux() {
    let fs = fs();
    let f = open(&fs, "/bin/prog", O_RDONLY).unwrap();
    let data = bytes(10_000);
    let mut buf = vec![0u8; 4096];
    assert_eq!(f.read(&mut buf[..100]), Ok(100));
    assert_eq!(&buf[..100], &data[..100]);
    assert_eq!(f.pos(), 100);
    assert_eq!(f.read(&mut buf), Ok(4096));
    assert_eq!(&buf[..], &data[100..4196]);
    assert_eq!(f.lseek(0, SEEK_CUR), Ok(4196));
    assert_eq!(f.lseek(-4, SEEK_END), Ok(9996));
    assert_eq!(f.read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], &data[9996..]);
    assert_eq!(f.read(&mut buf), Ok(0), "end of file");
    // Past the end is allowed and reads nothing.
    assert_eq!(f.lseek(20_000, SEEK_SET), Ok(20_000));
    assert_eq!(f.read(&mut buf), Ok(0));
    assert_eq!(f.lseek(-20_001, SEEK_CUR), Err(EINVAL));
    assert_eq!(f.lseek(-10_001, SEEK_END), Err(EINVAL));
    assert_eq!(f.lseek(-1, SEEK_SET), Err(EINVAL));
    assert_eq!(f.pos(), 20_000, "a failed lseek keeps the offset");
    assert_eq!(f.lseek(i64::MAX, SEEK_CUR), Err(EINVAL), "overflow");
    assert_eq!(f.lseek(0, 5), Err(EINVAL));
    assert_eq!(f.lseek(5000, SEEK_DATA), Ok(5000));
    assert_eq!(f.lseek(5000, SEEK_HOLE), Ok(10_000));
    assert_eq!(f.lseek(10_000, SEEK_DATA), Err(ENXIO));
    assert_eq!(f.lseek(-1, SEEK_HOLE), Err(ENXIO));
    // pread leaves the offset alone.
    let pos = f.lseek(7, SEEK_SET).unwrap();
    assert_eq!(f.pread(&mut buf[..10], 4090), Ok(10));
    assert_eq!(&buf[..10], &data[4090..4100]);
    assert_eq!(f.pos(), pos);
    assert_eq!(f.pread(&mut buf, -1), Err(EINVAL));
    assert_eq!(f.write(b"x"), Err(EBADF));
    assert!(f.readable() && !f.writable() && !f.is_console());
    assert_eq!(f.flags(), O_RDONLY | O_LARGEFILE);
    assert!(Arc::ptr_eq(&f.inode().unwrap(), &fs.lookup("/bin/prog").unwrap()));
}

#[test]
fn fstat_of_each_kind() {
    let fs = fs();
    let prog = open(&fs, "/bin/prog", O_RDONLY).unwrap().stat();
    assert_eq!((prog.st_mode, prog.st_size, prog.st_nlink, prog.st_blocks, prog.st_blksize), (S_IFREG | 0o755, 10_000, 1, 24, 4096));
    assert_eq!(prog.st_ino, fs.lookup("/bin/prog").unwrap().ino());
    let bin = open(&fs, "/bin", O_RDONLY | O_DIRECTORY).unwrap().stat();
    assert_eq!((bin.st_mode, bin.st_nlink, bin.st_size), (S_IFDIR | 0o755, 2, 0));
    let root = open(&fs, "/", O_RDONLY).unwrap().stat();
    assert_eq!((root.st_ino, root.st_nlink), (1, 4), "/, ., bin/.., dev/..");
    let proc = File::snapshot_ino(b"MemTotal: 1 kB\n".to_vec(), 4026531842).stat();
    assert_eq!((proc.st_mode, proc.st_size, proc.st_nlink, proc.st_ino, proc.st_blksize), (S_IFREG | 0o444, 0, 1, 4026531842, 1024));
    let con = File::console(1, |_, b| b.len(), |_| 0).stat();
    assert_eq!((con.st_mode, con.st_rdev, con.st_nlink), (S_IFCHR | 0o600, makedev(5, 1), 1));
    assert_eq!(con.st_rdev, 0x501);
    let node = open(&fs, "/dev/console", O_PATH).unwrap().stat();
    assert_eq!(node.st_mode, S_IFCHR | 0o600);
}

#[test]
fn directories_open_only_for_reading() {
    let fs = fs();
    let d = open(&fs, "/bin", O_RDONLY).unwrap();
    assert!(matches!(d.kind(), FileKind::Directory(_)));
    assert_eq!(d.read(&mut [0; 8]), Err(EISDIR));
    assert_eq!(d.write(b"x"), Err(EBADF));
    assert_eq!(d.lseek(5, SEEK_SET), Ok(5));
    assert_eq!(d.lseek(0, SEEK_END), Err(EINVAL));
    assert_eq!(d.lseek(-6, SEEK_CUR), Err(EINVAL));
    assert!(d.inode().is_none(), "not mappable");
    assert!(d.ramfs_inode().unwrap().is_dir());
    assert!(open(&fs, "/dir-link", O_DIRECTORY).is_ok());
    assert!(open(&fs, "/bin/", O_RDONLY).is_ok());
    assert_eq!(open(&fs, "/bin", O_WRONLY).err(), Some(EISDIR));
    assert_eq!(open(&fs, "/bin", O_RDWR).err(), Some(EISDIR));
    assert_eq!(open(&fs, "/bin", O_RDONLY | O_TRUNC).err(), Some(EISDIR));
    assert_eq!(open(&fs, "/bin", O_RDONLY | O_CREAT).err(), Some(EISDIR));
}

#[test]
fn open_errors_are_linuxs() {
    let fs = fs();
    let e = |path: &str, flags: u32| open(&fs, path, flags).err();
    assert_eq!(e("/nope", O_RDONLY), Some(ENOENT));
    assert_eq!(e("/nope/x", O_RDONLY | O_CREAT), Some(ENOENT));
    assert_eq!(e("/bin/prog/x", O_RDONLY), Some(ENOTDIR));
    assert_eq!(e("/bin/prog/", O_RDONLY), Some(ENOTDIR));
    assert_eq!(e("/bin/prog", O_DIRECTORY), Some(ENOTDIR));
    assert_eq!(e(&format!("/{}", "n".repeat(256)), O_RDONLY), Some(ENAMETOOLONG));
    assert_eq!(e("", O_RDONLY), Some(ENOENT));
    assert_eq!(e("/new/", O_WRONLY | O_CREAT), Some(EISDIR));
    assert_eq!(e("/empty/x", O_WRONLY | O_CREAT), Some(ENOTDIR));
    assert_eq!(e("/nodir/x", O_WRONLY | O_CREAT), Some(ENOENT));
    // O_CREAT of an existing file for reading works, O_EXCL refuses it.
    assert!(open(&fs, "/bin/prog", O_RDONLY | O_CREAT).is_ok());
    assert_eq!(e("/bin/prog", O_RDONLY | O_CREAT | O_EXCL), Some(EEXIST));
    assert_eq!(e("/bin/link", O_RDONLY | O_CREAT | O_EXCL), Some(EEXIST));
    assert_eq!(e("/bin", O_RDONLY | O_CREAT | O_DIRECTORY), Some(EINVAL));
    // Symlinks.
    assert!(open(&fs, "/bin/link", O_RDONLY).is_ok());
    assert_eq!(e("/bin/link", O_RDONLY | O_NOFOLLOW), Some(ELOOP));
    assert!(open(&fs, "/dir-link/prog", O_RDONLY | O_NOFOLLOW).is_ok(), "only the last component");
    // Nodes without drivers.
    assert_eq!(e("/dev/console", O_RDWR), Some(ENXIO));
    // A FIFO opens; a writer that may not wait needs a reader.
    assert_eq!(e("/fifo", O_WRONLY | O_NONBLOCK), Some(ENXIO));
    let reader = open(&fs, "/fifo", O_RDONLY | O_NONBLOCK).expect("a FIFO's read end");
    let writer = open(&fs, "/fifo", O_WRONLY | O_NONBLOCK).expect("a writer, now that there is a reader");
    assert_eq!(writer.write(b"hi"), Ok(2));
    let mut buf = [0u8; 4];
    assert_eq!(reader.read(&mut buf), Ok(2));
    assert_eq!(reader.stat().st_mode & crate::fs::stat::S_IFMT, S_IFIFO);
    // O_TMPFILE.
    assert_eq!(e("/bin", O_TMPFILE | O_RDONLY), Some(EINVAL));
    assert_eq!(e("/bin/prog", O_TMPFILE | O_RDWR), Some(ENOTDIR));
    assert_eq!(e("/nope", O_TMPFILE | O_RDWR), Some(ENOENT));
}

#[test]
fn o_path_opens_anything_for_fstat_only() {
    let fs = fs();
    let link = open(&fs, "/bin/link", O_PATH | O_NOFOLLOW).unwrap();
    assert!(link.ramfs_inode().unwrap().is_symlink());
    assert_eq!(link.stat().st_size, 4);
    let prog = open(&fs, "/bin/link", O_PATH | O_WRONLY | O_TRUNC | O_CREAT).unwrap();
    assert!(prog.ramfs_inode().unwrap().is_regular());
    assert_eq!(prog.flags(), O_PATH | O_LARGEFILE);
    assert!(!prog.readable() && !prog.writable());
    assert_eq!(prog.read(&mut [0; 4]), Err(EBADF));
    assert_eq!(prog.pread(&mut [0; 4], 0), Err(EBADF));
    assert_eq!(prog.write(b"x"), Err(EBADF));
    assert_eq!(prog.lseek(0, SEEK_SET), Err(EBADF));
    assert!(prog.inode().is_none());
    assert!(open(&fs, "/fifo", O_PATH).is_ok());
    assert_eq!(open(&fs, "/bin/prog", O_PATH | O_DIRECTORY).err(), Some(ENOTDIR));
    assert_eq!(open(&fs, "/nope", O_PATH).err(), Some(ENOENT));
}

#[test]
fn snapshots_read_like_proc_files() {
    let f = File::snapshot(b"0123456789".to_vec());
    let mut buf = [0u8; 4];
    assert_eq!(f.read(&mut buf), Ok(4));
    assert_eq!(f.read(&mut buf), Ok(4));
    assert_eq!(&buf, b"4567");
    assert_eq!(f.read(&mut buf), Ok(2));
    assert_eq!(f.read(&mut buf), Ok(0));
    assert_eq!(f.lseek(1, SEEK_SET), Ok(1));
    assert_eq!(f.lseek(2, SEEK_CUR), Ok(3));
    assert_eq!(f.read(&mut buf[..1]), Ok(1));
    assert_eq!(buf[0], b'3');
    assert_eq!(f.lseek(0, SEEK_END), Err(EINVAL));
    assert_eq!(f.lseek(-5, SEEK_CUR), Err(EINVAL));
    assert_eq!(f.lseek(100, SEEK_SET), Ok(100));
    assert_eq!(f.read(&mut buf), Ok(0));
    assert_eq!(f.pread(&mut buf, 8), Ok(2));
    assert_eq!(f.write(b"x"), Err(EBADF));
    assert_eq!(f.stat().st_size, 0);
}

static CONSOLE_OUT: Mutex<Vec<(u32, Vec<u8>)>> = Mutex::new(Vec::new());

fn capture(stream: u32, bytes: &[u8]) -> usize {
    CONSOLE_OUT.lock().unwrap().push((stream, bytes.to_vec()));
    bytes.len()
}

#[test]
fn the_console_writes_to_its_sink_and_reads_eof() {
    let out = File::console(1, capture, |_| 0);
    let err = File::console(2, capture, |_| 0);
    assert_eq!(out.write(b"hello\n"), Ok(6));
    assert_eq!(err.write(b"oops\n"), Ok(5));
    let got = CONSOLE_OUT.lock().unwrap().clone();
    assert_eq!(got, [(1, b"hello\n".to_vec()), (2, b"oops\n".to_vec())]);
    assert_eq!(out.read(&mut [0; 8]), Ok(0));
    assert_eq!(out.lseek(0, SEEK_CUR), Err(ESPIPE));
    assert_eq!(out.lseek(0, 99), Err(EINVAL));
    assert_eq!(out.pread(&mut [0; 8], 0), Err(ESPIPE));
    assert!(out.is_console() && out.readable() && out.writable());
    assert!(out.inode().is_none() && out.ramfs_inode().is_none());
}

#[test]
fn fds_on_files_and_freeing_at_the_end() {
    let pa = ram(4);
    let free = free_pages(pa);
    let mut fs = Ramfs::new();
    let mut b = Builder::new();
    b.file("a", 0o644, &bytes(8192)).file("b", 0o644, &bytes(1));
    fs.unpack(&b.finish(), pa).unwrap();
    let mut t = FdTable::new();
    for s in 0..3 {
        t.install(File::console(s, capture, |_| 0), false).unwrap();
    }
    let flags = O_RDONLY | O_CLOEXEC;
    let fd = t.install(open(&fs, "/a", flags).unwrap(), flags & O_CLOEXEC != 0).unwrap();
    assert_eq!(fd, 3);
    assert_eq!(t.cloexec(fd), Ok(true));
    assert_eq!(t.get(fd).unwrap().flags() & O_CLOEXEC, 0, "a descriptor flag, not a status flag");
    // The file outlives the filesystem's tree while it is open.
    fs.clear();
    assert_eq!(free_pages(pa), free - 2);
    let mut buf = [0u8; 3];
    assert_eq!(t.get(fd).unwrap().pread(&mut buf, 8190), Ok(2));
    t.close(fd).unwrap();
    assert_eq!(free_pages(pa), free);
}

/// A filesystem with one directory, `/d`, and the file `/d/old` (10 000
/// bytes), over its own RAM.
fn writable_fs() -> (&'static crate::mm::page_alloc::PageAlloc<crate::mm::fake::FakeRam>, Ramfs) {
    let pa = ram(4);
    let mut b = Builder::new();
    b.dir("d", 0o755).file("d/old", 0o644, &bytes(10_000)).symlink("dangling", "d/target");
    let mut fs = Ramfs::new();
    fs.unpack(&b.finish(), pa).unwrap();
    (pa, fs)
}

fn read_all(f: &File) -> Vec<u8> {
    let mut out = vec![0u8; f.stat().st_size as usize + 100];
    let n = f.pread(&mut out, 0).unwrap();
    out.truncate(n);
    out
}

#[test]
fn o_creat_makes_files_with_linux_errors() {
    let (_, fs) = writable_fs();
    let d = fs.lookup("/d").unwrap();
    let (links, mtime) = (d.nlink(), d.mtime_ns());
    let f = super::open(&fs, "/d/new", O_WRONLY | O_CREAT | O_EXCL, 0o640).unwrap();
    let st = f.stat();
    assert_eq!((st.st_mode, st.st_size, st.st_nlink, st.st_uid, st.st_blocks), (S_IFREG | 0o640, 0, 1, 0, 0));
    assert_eq!(d.nlink(), links, "files do not link back");
    assert!(d.mtime_ns() > mtime, "the directory changed");
    assert!(f.writable() && !f.readable());
    assert_eq!(f.flags(), O_WRONLY | O_LARGEFILE, "creation flags are not kept");
    assert_eq!(fs.lookup("/d/new").unwrap().path(), "/d/new");
    let e = |path: &str, flags: u32| open(&fs, path, flags).err();
    assert_eq!(e("/d/new", O_RDWR | O_CREAT | O_EXCL), Some(EEXIST));
    assert!(open(&fs, "/d/new", O_RDWR | O_CREAT).is_ok(), "O_CREAT alone opens what exists");
    assert_eq!(e("/nope/new", O_RDWR | O_CREAT), Some(ENOENT));
    assert_eq!(e("/d/old/new", O_RDWR | O_CREAT), Some(ENOTDIR));
    assert_eq!(e("/d", O_RDWR | O_CREAT), Some(EISDIR));
    assert_eq!(e("/d/", O_RDONLY | O_CREAT), Some(EISDIR));
    assert_eq!(e("/d/x/", O_RDWR | O_CREAT), Some(EISDIR));
    assert_eq!(e("/dangling", O_RDWR | O_CREAT | O_EXCL), Some(EEXIST));
    assert_eq!(e("/dangling", O_RDWR | O_CREAT | O_NOFOLLOW), Some(ELOOP));
    assert_eq!(e(&format!("/d/{}", "n".repeat(256)), O_RDWR | O_CREAT), Some(ENAMETOOLONG));
    // Through a dangling symlink: its target is created.
    assert!(open(&fs, "/dangling", O_RDWR | O_CREAT).is_ok());
    assert!(fs.lookup("/d/target").unwrap().is_regular());
    // Without page frames the filesystem cannot hold files.
    let bare = Ramfs::new();
    assert_eq!(open(&bare, "/x", O_RDWR | O_CREAT).err(), Some(EROFS));
    // O_TMPFILE: an unnamed file.
    let t = super::open(&fs, "/d", O_TMPFILE | O_RDWR, 0o600).unwrap();
    assert_eq!(t.write(b"tmp"), Ok(3));
    assert_eq!((t.stat().st_nlink, t.stat().st_mode, read_all(&t)), (0, S_IFREG | 0o600, b"tmp".to_vec()));
    assert_eq!(e("/d/old", O_TMPFILE | O_RDWR), Some(ENOTDIR));
}

#[test]
fn writes_read_back_and_move_the_offset() {
    let (_, fs) = writable_fs();
    let f = open(&fs, "/d/f", O_RDWR | O_CREAT).unwrap();
    let data = bytes(9000);
    assert_eq!(f.write(&data[..5000]), Ok(5000));
    assert_eq!(f.write(&data[5000..]), Ok(4000));
    assert_eq!(f.pos(), 9000);
    assert_eq!(f.stat().st_size, 9000);
    assert_eq!(f.stat().st_blocks, 24);
    assert_eq!(f.read(&mut [0; 8]), Ok(0), "at the end");
    assert_eq!(f.lseek(0, SEEK_SET), Ok(0));
    let mut buf = vec![0u8; 9000];
    assert_eq!(f.read(&mut buf), Ok(9000));
    assert_eq!(buf, data);
    // Another description of the same file sees the bytes at once.
    let g = open(&fs, "/d/f", O_RDONLY).unwrap();
    assert_eq!(read_all(&g), data);
    // Overwrite in the middle, across a page boundary.
    assert_eq!(f.lseek(4090, SEEK_SET), Ok(4090));
    assert_eq!(f.write(b"ACROSS-THE-EDGE"), Ok(15));
    assert_eq!(f.pos(), 4105);
    assert_eq!(f.stat().st_size, 9000);
    let mut want = data.clone();
    want[4090..4105].copy_from_slice(b"ACROSS-THE-EDGE");
    assert_eq!(read_all(&g), want);
    // pwrite leaves the offset; a hole reads as zeroes and takes no page.
    assert_eq!(f.pwrite(b"far", 5 * 4096 + 10), Ok(3));
    assert_eq!(f.pos(), 4105);
    assert_eq!(f.stat().st_size, 5 * 4096 + 13);
    assert_eq!(f.stat().st_blocks, 4 * 8, "pages 0, 1, 2 and 5");
    let all = read_all(&g);
    assert_eq!(&all[..9000], &want[..]);
    assert!(all[9000..5 * 4096 + 10].iter().all(|&b| b == 0));
    assert_eq!(&all[5 * 4096 + 10..], b"far");
    // Errors.
    assert_eq!(f.pwrite(b"x", -1), Err(EINVAL));
    assert_eq!(f.pwrite(b"xy", i64::MAX - 1), Err(EINVAL), "offset + count overflows");
    assert_eq!(f.pwrite(b"x", i64::MAX), Err(EINVAL), "as Linux: EINVAL before EFBIG");
    assert_eq!(f.write(b""), Ok(0));
    assert_eq!(g.write(b"x"), Err(EBADF), "read-only");
    assert_eq!(g.pwrite(b"x", 0), Err(EBADF));
    let wo = open(&fs, "/d/f", O_WRONLY).unwrap();
    assert_eq!(wo.read(&mut [0; 4]), Err(EBADF));
    assert_eq!(wo.pread(&mut [0; 4], 0), Err(EBADF));
    let con = File::console(1, |_, b| b.len(), |_| 0);
    assert_eq!(con.pwrite(b"x", 0), Err(ESPIPE));
    let path = open(&fs, "/d/f", O_PATH).unwrap();
    assert_eq!((path.pwrite(b"x", 0), path.truncate(0)), (Err(EBADF), Err(EBADF)));
}

#[test]
fn writes_update_mtime_and_ctime() {
    let (_, fs) = writable_fs();
    let f = open(&fs, "/d/old", O_RDWR).unwrap();
    let st = f.stat();
    f.write(b"x").unwrap();
    let st2 = f.stat();
    assert!((st2.st_mtime, st2.st_mtime_nsec) > (st.st_mtime, st.st_mtime_nsec));
    assert!((st2.st_ctime, st2.st_ctime_nsec) > (st.st_ctime, st.st_ctime_nsec));
    f.write(b"").unwrap();
    assert_eq!(f.stat(), st2, "an empty write changes nothing");
    f.truncate(10_000).unwrap();
    assert!(f.stat().st_mtime > st2.st_mtime, "truncate to the same size still counts");
}

#[test]
fn o_append_writes_at_the_end_every_time() {
    let (_, fs) = writable_fs();
    let a = open(&fs, "/d/old", O_WRONLY | O_APPEND).unwrap();
    let other = open(&fs, "/d/old", O_RDWR).unwrap();
    assert_eq!(a.pos(), 0);
    assert_eq!(a.write(b"one"), Ok(3));
    assert_eq!(a.pos(), 10_003);
    // Someone else grows the file: the next append goes after that.
    other.pwrite(b"grown", 10_003).unwrap();
    assert_eq!(a.lseek(0, SEEK_SET), Ok(0));
    assert_eq!(a.write(b"two"), Ok(3));
    assert_eq!(a.pos(), 10_011);
    // pwrite with O_APPEND appends too (Linux).
    assert_eq!(a.pwrite(b"3", 0), Ok(1));
    assert_eq!(a.pos(), 10_011);
    let all = read_all(&other);
    assert_eq!(&all[..10_000], &bytes(10_000)[..]);
    assert_eq!(&all[10_000..], b"onegrowntwo3");
    // F_SETFL turns it off and on; the access mode stays.
    a.set_flags(O_RDWR).unwrap();
    assert_eq!(a.flags(), O_WRONLY | O_LARGEFILE);
    assert_eq!(a.pwrite(b"Z", 0), Ok(1));
    assert_eq!(read_all(&other)[0], b'Z');
    a.set_flags(O_APPEND | O_NONBLOCK | O_TRUNC).unwrap();
    assert_eq!(a.flags(), O_WRONLY | O_APPEND | O_NONBLOCK | O_LARGEFILE);
    assert_eq!(open(&fs, "/d/old", O_PATH).unwrap().set_flags(O_APPEND), Err(EBADF));
}

#[test]
fn truncation_down_and_up() {
    let (pa, fs) = writable_fs();
    let free = free_pages(pa);
    let f = open(&fs, "/d/old", O_RDWR).unwrap();
    let data = bytes(10_000);
    f.truncate(5000).unwrap();
    assert_eq!((f.stat().st_size, f.stat().st_blocks), (5000, 16));
    assert_eq!(free_pages(pa), free + 1, "the third page is freed");
    assert_eq!(read_all(&f), &data[..5000]);
    f.truncate(20_000).unwrap();
    assert_eq!((f.stat().st_size, f.stat().st_blocks), (20_000, 16), "growing allocates nothing");
    let all = read_all(&f);
    assert_eq!(&all[..5000], &data[..5000]);
    assert!(all[5000..].iter().all(|&b| b == 0), "the new part reads as zeroes");
    assert_eq!(f.truncate(-1), Err(EINVAL));
    assert_eq!(f.truncate(i64::MAX), Ok(()));
    assert_eq!(f.lseek(0, SEEK_END), Ok(i64::MAX));
    assert_eq!(f.write(b"x"), Err(EINVAL), "at offset i64::MAX");
    let app = open(&fs, "/d/old", O_WRONLY | O_APPEND).unwrap();
    assert_eq!(app.write(b"x"), Err(EFBIG), "appending to a file of the largest size");
    assert_eq!(f.pread(&mut [1; 4], 1 << 40), Ok(4));
    f.truncate(0).unwrap();
    assert_eq!(free_pages(pa), free + 3, "all three pages");
    // ftruncate needs a regular file open for writing.
    assert_eq!(open(&fs, "/d/old", O_RDONLY).unwrap().truncate(0), Err(EINVAL));
    assert_eq!(open(&fs, "/d", O_RDONLY).unwrap().truncate(0), Err(EINVAL));
    // O_TRUNC empties the file, even opened read-only (as Linux).
    f.lseek(0, SEEK_SET).unwrap();
    f.write(b"again").unwrap();
    let r = open(&fs, "/d/old", O_RDONLY | O_TRUNC).unwrap();
    assert_eq!(r.stat().st_size, 0);
    assert_eq!(f.lseek(0, SEEK_CUR), Ok(5), "other descriptions keep their offsets");
    assert_eq!(f.write(b"!"), Ok(1));
    assert_eq!(read_all(&r), b"\0\0\0\0\0!");
}

#[test]
fn unlinked_open_files_keep_their_data_until_closed() {
    let (pa, fs) = writable_fs();
    let baseline = free_pages(pa);
    let f = open(&fs, "/d/tmp", O_RDWR | O_CREAT).unwrap();
    f.write(&bytes(3 * 4096)).unwrap();
    assert_eq!(free_pages(pa), baseline - 3);
    fs.unlink("/d/tmp").unwrap();
    assert_eq!(open(&fs, "/d/tmp", O_RDONLY).err(), Some(ENOENT));
    assert_eq!(f.stat().st_nlink, 0);
    assert_eq!(read_all(&f), bytes(3 * 4096), "the data is still there");
    assert_eq!(f.write(b"more"), Ok(4), "and can still grow");
    assert_eq!(free_pages(pa), baseline - 4);
    // A new file of the same name is another file.
    let g = open(&fs, "/d/tmp", O_RDWR | O_CREAT | O_EXCL).unwrap();
    assert_ne!(g.stat().st_ino, f.stat().st_ino);
    assert_eq!(g.stat().st_size, 0);
    drop(g);
    fs.unlink("/d/tmp").unwrap();
    drop(f);
    assert_eq!(free_pages(pa), baseline, "closing the last descriptor frees the pages");
}

#[test]
fn everything_is_freed_after_a_mixed_workload() {
    let pa = ram(4);
    let baseline = free_pages(pa);
    let mut fs = Ramfs::with_frames(pa);
    let mut t = FdTable::new();
    fs.mkdir("/d", 0o755).unwrap();
    for i in 0..20u64 {
        let path = format!("/d/f{}", i % 7);
        let f = open(&fs, &path, O_RDWR | O_CREAT | if i % 3 == 0 { O_APPEND } else { 0 }).unwrap();
        f.pwrite(&bytes(1 + (i as usize * 1237) % 9000), (i * 3001) as i64).unwrap();
        if i % 4 == 0 {
            f.truncate((i * 517) as i64).unwrap();
        }
        let fd = t.install(f, false).unwrap();
        if i % 5 == 0 {
            fs.unlink(&path).unwrap();
        }
        if i % 2 == 0 {
            t.close(fd).unwrap();
        }
    }
    fs.rename("/d", "/e").unwrap();
    assert!(free_pages(pa) < baseline);
    fs.clear();
    drop(t);
    assert_eq!(free_pages(pa), baseline);
}

/// Parses `struct linux_dirent64` records: (name, d_type, d_off).
fn dirents(buf: &[u8]) -> Vec<(String, u8, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let off = i64::from_le_bytes(buf[at + 8..at + 16].try_into().unwrap());
        let reclen = u16::from_le_bytes(buf[at + 16..at + 18].try_into().unwrap()) as usize;
        assert_eq!(reclen % 8, 0, "records are 8-byte aligned");
        let name = &buf[at + 19..at + reclen];
        let name = String::from_utf8(name[..name.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap();
        out.push((name, buf[at + 18], off));
        at += reclen;
    }
    out
}

#[test]
fn getdents64_lists_dot_dotdot_and_entries_in_pieces() {
    let fs = fs();
    let root = open(&fs, "/", O_RDONLY | O_DIRECTORY).unwrap();
    let all = dirents(&root.getdents64(4096).unwrap());
    let names: Vec<&str> = all.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, [".", "..", "bin", "dev", "dir-link", "empty", "fifo"]);
    let types: Vec<u8> = all.iter().map(|e| e.1).collect();
    assert_eq!(types, [4, 4, 4, 4, 10, 8, 1], "DT_DIR, DT_LNK, DT_REG, DT_FIFO");
    assert_eq!(all.iter().map(|e| e.2).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(root.getdents64(4096), Ok(Vec::new()), "the end");
    // In pieces: a buffer with room for two records at a time.
    root.lseek(0, SEEK_SET).unwrap();
    let mut pieces = Vec::new();
    loop {
        let part = root.getdents64(48).unwrap();
        if part.is_empty() {
            break;
        }
        pieces.extend(dirents(&part).into_iter().map(|e| e.0));
    }
    assert_eq!(pieces, names);
    root.lseek(0, SEEK_SET).unwrap();
    assert_eq!(root.getdents64(8), Err(EINVAL), "no room for one record");
    let file = open(&fs, "/bin/prog", O_RDONLY).unwrap();
    assert_eq!(file.getdents64(4096), Err(ENOTDIR));
}

/// Every path checks permissions with the current credentials: search
/// on each directory, read and write on open, create and remove in a
/// directory, the sticky bit, the owner of new files.
#[test]
fn permissions_are_enforced_on_every_path() {
    use crate::cred::{testing::as_cred, Cred};
    let mut b = Builder::new();
    b.dir("root", 0o700).file("root/secret", 0o600, b"s").file("pub", 0o644, b"p").dir("tmp", 0o1777);
    b.file("tmp/roots", 0o666, b"r").dir("sgid", 0o2777).dir("ro", 0o755).file("ro/f", 0o644, b"");
    let mut fs = Ramfs::new();
    fs.unpack(&b.finish(), ram(4)).unwrap();
    fs.lookup("/sgid").unwrap().set_owner(crate::fs::perm::Owner { uid: 0, gid: 50, mode: 0o2777 });
    let nobody = Cred::user(65534, 65534).unwrap();
    as_cred(nobody, || {
        assert_eq!(open(&fs, "/root/secret", O_RDONLY).err(), Some(EACCES), "no search permission on /root");
        assert_eq!(open(&fs, "/root", O_RDONLY).err(), Some(EACCES), "no read permission on /root");
        assert!(open(&fs, "/root", O_PATH).is_ok(), "O_PATH needs no permission on the file itself");
        assert!(open(&fs, "/pub", O_RDONLY).is_ok());
        assert_eq!(open(&fs, "/pub", O_WRONLY).err(), Some(EACCES));
        assert_eq!(open(&fs, "/pub", O_RDONLY | O_TRUNC).err(), Some(EACCES));
        assert_eq!(open(&fs, "/pub", O_RDONLY | O_NOATIME).err(), Some(EPERM));
        assert_eq!(open(&fs, "/new", O_CREAT | O_WRONLY).err(), Some(EACCES), "/ is not writable");
        assert_eq!(fs.mkdir("/ro/d", 0o755).err(), Some(EACCES));
        assert_eq!(fs.unlink("/ro/f"), Err(EACCES));
        assert_eq!(fs.truncate("/pub", 0), Err(EACCES));
        // A new file with mode 0 is still open for writing: it was just created.
        let mine = super::open(&fs, "/tmp/mine", O_CREAT | O_RDWR, 0).unwrap();
        assert_eq!(mine.write(b"x"), Ok(1));
        let st = fs.lookup("/tmp/mine").unwrap().stat();
        assert_eq!((st.st_uid, st.st_gid, st.st_mode & 0o7777), (65534, 65534, 0));
        // The sticky /tmp: others' files stay, one's own go.
        assert_eq!(fs.unlink("/tmp/roots"), Err(EPERM));
        assert_eq!(fs.rename("/tmp/roots", "/tmp/x"), Err(EPERM));
        assert_eq!(fs.rename("/tmp/mine", "/tmp/ours"), Ok(()));
        assert_eq!(fs.unlink("/tmp/ours"), Ok(()));
        // A set-group-ID directory passes its group on.
        let d = fs.mkdir("/sgid/d", 0o755).unwrap();
        assert_eq!((d.uid(), d.gid(), d.mode() & 0o7777), (65534, 50, 0o2755));
        assert_eq!(fs.mknod("/tmp/null", crate::fs::stat::S_IFCHR | 0o666, makedev(1, 3)).err(), Some(EPERM));
    });
    // Root passes every check but executing a file without an x bit.
    assert!(open(&fs, "/root/secret", O_RDWR).is_ok());
    assert_eq!(fs.unlink("/tmp/roots"), Ok(()));
}
