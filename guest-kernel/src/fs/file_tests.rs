//! Tests of `open` and open files over an unpacked archive.

use std::sync::Mutex;

use super::*;
use crate::fs::cpio::Builder;
use crate::fs::stat::{makedev, S_IFDIR, S_IFIFO};
use crate::fs::testing::{free_pages, ram};

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
    let con = File::console(1, |_, b| b.len()).stat();
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
    // Read-only filesystem.
    for flags in [O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_WRONLY | O_APPEND, O_ACCMODE] {
        assert_eq!(e("/bin/prog", flags), Some(EROFS), "{flags:#o}");
    }
    assert_eq!(e("/new", O_WRONLY | O_CREAT), Some(EROFS));
    assert_eq!(e("/new/", O_WRONLY | O_CREAT), Some(EISDIR));
    assert_eq!(e("/bin/link-to-nowhere", O_RDONLY | O_CREAT), Some(EROFS));
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
    assert_eq!(e("/fifo", O_RDONLY), Some(ENXIO));
    // O_TMPFILE.
    assert_eq!(e("/bin", O_TMPFILE | O_RDONLY), Some(EINVAL));
    assert_eq!(e("/bin", O_TMPFILE | O_RDWR), Some(EROFS));
    assert_eq!(e("/bin/prog", O_TMPFILE | O_RDWR), Some(ENOTDIR));
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
    let out = File::console(1, capture);
    let err = File::console(2, capture);
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
        t.install(File::console(s, capture), false).unwrap();
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
