//! The init program and its initial ramdisk: what `--init` and `--file`
//! put into the guest.
//!
//! [`InitImage::build`] reads and checks the host files, packs them into a
//! cpio "newc" archive (the format of Linux's initramfs, see
//! `Documentation/driver-api/early-userspace/buffer-format.rst`) and lays out
//! init's argument vector. [`place`] finds the archive's guest-physical home:
//!
//! ```text
//! kernel image end ──round up to 2 MiB──▶ first page-aligned address at or above it
//!                                         whose [addr, addr + len) lies wholly inside
//!                                         one E820 RAM range (so it steps over
//!                                         --mem-holes and the MMIO hole)
//! ```
//!
//! Archive layout: the parent directories of every file first (`040755`,
//! each once, parents before children), then the files in command line
//! order (init `0100755`, `--file`s with their host permission bits), then
//! `TRAILER!!!`. Names are stored without the leading `/`, as Linux's
//! `gen_init_cpio` does: `bin/hello`. Every entry has mtime 0 and uid/gid 0,
//! so the same inputs give the same bytes.

mod cpio;
pub mod libs;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use shared::boot::{E820Entry, E820_RAM};
use shared::layout::{INIT_ARGV_MAX, PAGE_SIZE};

use cpio::parents;
pub use cpio::{build_archive, ArchiveFile, DIR_MODE};

/// The archive's search starts at the kernel end rounded up to this, so the
/// kernel's last 2 MiB page of its image mapping never covers it.
const SEARCH_ALIGN: u64 = 2 << 20;

/// Mode of the init program in the archive: a regular file, `rwxr-xr-x`.
pub const INIT_MODE: u32 = 0o100_755;
const S_IFREG: u32 = 0o100_000;

/// A host file and where it goes in the guest's root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestFile {
    pub host: PathBuf,
    /// Absolute path in the guest, `/` separated.
    pub guest: String,
}

impl GuestFile {
    /// Parses `HOST_PATH[:GUEST_PATH]`; without a guest path the file goes
    /// to `default_dir` + its host file name. The split is at the last `:`,
    /// so a host path with a `:` in it needs an explicit guest path.
    pub fn parse(spec: &str, default_dir: &str) -> Result<Self, String> {
        let (host, guest) = match spec.rsplit_once(':') {
            Some((host, guest)) => (host, Some(guest.to_string())),
            None => (spec, None),
        };
        if host.is_empty() {
            return Err(format!("'{spec}' names no host file"));
        }
        let guest = match guest {
            Some(guest) => guest,
            None => {
                let name = Path::new(host)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| format!("cannot name '{host}' in the guest: give a path as HOST_PATH:GUEST_PATH"))?;
                format!("{}/{name}", default_dir.trim_end_matches('/'))
            }
        };
        check_guest_path(&guest)?;
        Ok(Self { host: PathBuf::from(host), guest })
    }
}

/// What to run as init and what to put beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitSpec {
    /// The program; it must be an x86-64 ELF executable.
    pub program: GuestFile,
    /// Further files (data, scripts, other programs).
    pub files: Vec<GuestFile>,
    /// `argv[1..]`.
    pub args: Vec<String>,
    /// Who init runs as, where, with what environment.
    pub identity: Identity,
}

/// Init's environment, user and working directory (`--env`,
/// `--env-file`, `--user`, `--cwd`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `KEY=VALUE` variables on top of the kernel's defaults
    /// (`PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    /// `HOME=/`, `TERM=linux`); a later one replaces an earlier one of the
    /// same name.
    pub env: Vec<String>,
    /// User and group ids: 0 and 0 is root with every capability; anyone
    /// else starts without capabilities.
    pub uid: u32,
    pub gid: u32,
    /// The working directory (absolute); `/` when `None`.
    pub cwd: Option<String>,
}

/// Checks one `KEY=VALUE` environment entry: a non-empty name without
/// `=`, and no NUL byte anywhere.
pub fn check_env(entry: &str) -> Result<(), String> {
    let Some((key, _)) = entry.split_once('=') else {
        return Err(format!("{entry:?} is not KEY=VALUE"));
    };
    if key.is_empty() {
        return Err(format!("{entry:?} has an empty name"));
    }
    if entry.contains('\0') {
        return Err(format!("{entry:?} contains a NUL byte"));
    }
    Ok(())
}

/// Parses an env file (`--env-file`): one `KEY=VALUE` per line; blank
/// lines and lines starting with `#` are skipped; a line that is not
/// `KEY=VALUE` is an error naming it.
pub fn parse_env_file(text: &str) -> Result<Vec<String>, String> {
    let mut env = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        check_env(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        env.push(line.to_string());
    }
    Ok(env)
}

/// Why an init program and its files cannot go into the guest. All of these
/// are mistakes on the command line.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot read {what} {path}: {source}", path = .path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} {path} is not a regular file", path = .path.display())]
    NotRegular { what: &'static str, path: PathBuf },
    #[error("init program {path} is not an x86-64 ELF executable: {reason}", path = .path.display())]
    NotElf { path: PathBuf, reason: String },
    #[error("invalid guest path for {what} {path}: {reason}", path = .path.display())]
    GuestPath { what: &'static str, path: PathBuf, reason: String },
    #[error("guest path '{0}' is given twice")]
    Duplicate(String),
    #[error("guest path '{file}' is a file, but '{under}' needs it to be a directory")]
    FileIsDirectory { file: String, under: String },
    #[error("init's arguments, environment and working directory take {len} bytes, the limit is {INIT_ARGV_MAX}")]
    ArgvTooLong { len: usize },
    #[error("init's environment: {0}")]
    Env(String),
    #[error("init's working directory {0:?} is not an absolute path without NUL bytes")]
    Cwd(String),
    #[error("init argument {0:?} contains a NUL byte")]
    ArgNul(String),
    #[error("the files for the initramfs take {size} bytes, more than the {ram} bytes of guest RAM: give a larger --mem")]
    TooBig { size: u64, ram: u64 },
    #[error("{0}")]
    Libraries(String),
    #[error("{what} {path} is {size} bytes, larger than the 4 GiB a cpio newc entry can hold", path = .path.display())]
    FileTooLarge { what: &'static str, path: PathBuf, size: u64 },
}

/// The init program packed for the guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitImage {
    /// Init's path in the guest (`argv[0]`, `init=` on the command line).
    pub path: String,
    /// The cpio newc archive.
    pub archive: Vec<u8>,
    /// The argument vector for [`shared::layout::INIT_ARGV_ADDR`].
    pub argv: Vec<u8>,
    /// The environment on top of the kernel's defaults (`KEY=VALUE\0`
    /// ...), placed right after `argv`.
    pub env: Vec<u8>,
    /// The working directory (empty for `/`), placed after `env`.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
}

impl InitImage {
    /// Reads and checks everything `spec` names and packs it. `ram_size`
    /// bounds what is read: files that together exceed guest RAM are
    /// refused before they are read.
    pub fn build(spec: &InitSpec, ram_size: u64) -> Result<Self, InitError> {
        let program = (&spec.program, "init program");
        let entries: Vec<(&GuestFile, &'static str)> = std::iter::once(program).chain(spec.files.iter().map(|f| (f, "file"))).collect();

        // Paths first: they cost nothing to check.
        check_init_path(&spec.program).map_err(|reason| InitError::GuestPath { what: "init program", path: spec.program.host.clone(), reason })?;
        for &(file, what) in &entries {
            check_guest_path(&file.guest).map_err(|reason| InitError::GuestPath { what, path: file.host.clone(), reason })?;
        }
        check_tree(entries.iter().map(|(f, _)| f.guest.as_str()))?;
        let argv = argv_blob(&spec.program.guest, &spec.args)?;
        let id = &spec.identity;
        let mut env = Vec::new();
        for entry in &id.env {
            check_env(entry).map_err(InitError::Env)?;
            env.extend_from_slice(entry.as_bytes());
            env.push(0);
        }
        let cwd = id.cwd.clone().unwrap_or_default();
        if !cwd.is_empty() && (!cwd.starts_with('/') || cwd.contains('\0')) {
            return Err(InitError::Cwd(cwd));
        }
        let len = argv.len() + env.len() + cwd.len();
        if len > INIT_ARGV_MAX {
            return Err(InitError::ArgvTooLong { len });
        }

        // Then the host files: stat all of them before reading any.
        let mut modes = Vec::with_capacity(entries.len());
        let mut total = 0u64;
        for &(file, what) in &entries {
            let meta = std::fs::metadata(&file.host).map_err(|source| InitError::Read { what, path: file.host.clone(), source })?;
            if !meta.is_file() {
                return Err(InitError::NotRegular { what, path: file.host.clone() });
            }
            if meta.len() > u32::MAX as u64 {
                return Err(InitError::FileTooLarge { what, path: file.host.clone(), size: meta.len() });
            }
            total = total.saturating_add(meta.len());
            modes.push(S_IFREG | (meta.permissions().mode() & 0o7777));
        }
        if total > ram_size {
            return Err(InitError::TooBig { size: total, ram: ram_size });
        }
        modes[0] = INIT_MODE;

        let mut contents = Vec::with_capacity(entries.len());
        for &(file, what) in &entries {
            let data = std::fs::read(&file.host).map_err(|source| InitError::Read { what, path: file.host.clone(), source })?;
            // The file may have grown since it was stat'ed.
            if data.len() as u64 > u32::MAX as u64 {
                return Err(InitError::FileTooLarge { what, path: file.host.clone(), size: data.len() as u64 });
            }
            contents.push(data);
        }
        check_executable(&contents[0]).map_err(|reason| InitError::NotElf { path: spec.program.host.clone(), reason })?;

        let files: Vec<ArchiveFile> =
            entries.iter().zip(&modes).zip(&contents).map(|((&(file, _), &mode), data)| ArchiveFile { path: &file.guest, mode, data }).collect();
        Ok(Self { path: spec.program.guest.clone(), archive: build_archive(&files), argv, env, cwd, uid: id.uid, gid: id.gid })
    }
}

/// `--file DIR[:GUEST_DIR]`: every regular file under a host directory
/// (symlinks followed, to files only, so that no loop can form), in name
/// order, at the same relative path under the guest directory; other
/// entries stay as they are. Names that cannot be guest paths (not UTF-8)
/// are an error naming them.
pub fn expand_directories(files: Vec<GuestFile>) -> Result<Vec<GuestFile>, InitError> {
    let mut out = Vec::new();
    for f in files {
        if !f.host.is_dir() {
            out.push(f);
            continue;
        }
        walk(&f.host, &f.guest, &mut out)?;
    }
    Ok(out)
}

fn walk(dir: &Path, guest: &str, out: &mut Vec<GuestFile>) -> Result<(), InitError> {
    let read = |source| InitError::Read { what: "directory", path: dir.to_path_buf(), source };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(read)?.collect::<Result<_, _>>().map_err(read)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name =
            e.file_name().into_string().map_err(|_| InitError::GuestPath { what: "file", path: path.clone(), reason: "the name is not UTF-8".into() })?;
        let guest = format!("{}/{name}", guest.trim_end_matches('/'));
        let is_link = e.file_type().map(|t| t.is_symlink()).unwrap_or(false);
        if path.is_dir() {
            if !is_link {
                walk(&path, &guest, out)?;
            }
        } else if path.is_file() {
            out.push(GuestFile { host: path, guest });
        }
    }
    Ok(())
}

/// A guest path must be absolute and plain: no empty, `.` or `..`
/// components (nothing for the kernel to resolve), no NUL.
pub fn check_guest_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("'{path}' is not absolute"));
    };
    if path.contains('\0') {
        return Err(format!("'{path}' contains a NUL byte"));
    }
    for component in rest.split('/') {
        match component {
            "" => return Err(format!("'{path}' has an empty component")),
            "." | ".." => return Err(format!("'{path}' contains '{component}'")),
            _ => {}
        }
    }
    Ok(())
}

/// Init's path also goes on the kernel command line as `init=PATH`, which is
/// split at whitespace.
fn check_init_path(program: &GuestFile) -> Result<(), String> {
    if program.guest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("'{}' contains whitespace, which the kernel command line cannot carry", program.guest));
    }
    Ok(())
}

/// No guest path twice, and no file where another path needs a directory.
fn check_tree<'a>(paths: impl Iterator<Item = &'a str> + Clone) -> Result<(), InitError> {
    let mut seen = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for path in paths.clone() {
        if !seen.insert(path) {
            return Err(InitError::Duplicate(path.to_string()));
        }
        dirs.extend(parents(path));
    }
    for path in paths {
        if let Some(dir) = dirs.get(path) {
            let under = seen.iter().find(|p| p.starts_with(dir) && p.as_bytes().get(dir.len()) == Some(&b'/'));
            return Err(InitError::FileIsDirectory { file: path.to_string(), under: under.copied().unwrap_or(dir).to_string() });
        }
    }
    Ok(())
}

/// `argv[0]` (init's guest path) and `args`, each NUL-terminated.
fn argv_blob(path: &str, args: &[String]) -> Result<Vec<u8>, InitError> {
    let mut blob = Vec::new();
    for arg in std::iter::once(path).chain(args.iter().map(String::as_str)) {
        if arg.contains('\0') {
            return Err(InitError::ArgNul(arg.to_string()));
        }
        blob.extend_from_slice(arg.as_bytes());
        blob.push(0);
    }
    if blob.len() > INIT_ARGV_MAX {
        return Err(InitError::ArgvTooLong { len: blob.len() });
    }
    Ok(blob)
}

/// Checks the ELF header (ELF-64 spec offsets): 64-bit, little-endian,
/// x86-64, and an executable (`ET_EXEC`) or position-independent one
/// (`ET_DYN`). Whether the kernel can load it is the kernel's business.
pub fn check_executable(b: &[u8]) -> Result<(), String> {
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    const EM_X86_64: u16 = 62;
    if b.len() < 64 {
        return Err(if b.starts_with(b"\x7fELF") { "truncated ELF header".into() } else { "no ELF magic".into() });
    }
    if &b[..4] != b"\x7fELF" {
        return Err("no ELF magic".into());
    }
    if b[4] != 2 {
        return Err("not a 64-bit ELF".into());
    }
    if b[5] != 1 {
        return Err("not little-endian".into());
    }
    let half = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    match half(16) {
        ET_EXEC | ET_DYN => {}
        1 => return Err("a relocatable object (ET_REL), not an executable".into()),
        4 => return Err("a core dump, not an executable".into()),
        t => return Err(format!("ELF type {t} is not an executable")),
    }
    match half(18) {
        EM_X86_64 => Ok(()),
        m => Err(format!("machine {m} is not x86-64")),
    }
}

/// Where the archive of `len` bytes goes: the first page-aligned address at
/// or above `kernel_end` rounded up to 2 MiB such that the whole archive
/// lies inside one E820 RAM entry of `e820`; `None` when there is none.
pub fn place(e820: &[E820Entry], kernel_end: u64, len: u64) -> Option<u64> {
    let floor = kernel_end.checked_next_multiple_of(SEARCH_ALIGN)?;
    e820.iter().filter(|e| e.typ == E820_RAM).find_map(|e| {
        let start = e.addr.max(floor).checked_next_multiple_of(PAGE_SIZE)?;
        (start.checked_add(len)? <= e.end()).then_some(start)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::boot::E820_RESERVED;

    use cpio::tests::parse;

    const M: u64 = 1 << 20;

    #[test]
    fn guest_paths() {
        for good in ["/a", "/bin/hello", "/a/b/c.txt", "/.hidden", "/with space"] {
            assert_eq!(check_guest_path(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "not absolute"),
            ("bin/x", "not absolute"),
            ("/", "empty component"),
            ("/a//b", "empty component"),
            ("/a/", "empty component"),
            ("/a/../b", "'..'"),
            ("/./b", "'.'"),
            ("/a\0b", "NUL"),
        ] {
            let err = check_guest_path(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn file_specs() {
        let f = GuestFile::parse("/tmp/hello", "/bin").unwrap();
        assert_eq!((f.host, f.guest), (PathBuf::from("/tmp/hello"), "/bin/hello".into()));
        let f = GuestFile::parse("data.txt", "/").unwrap();
        assert_eq!((f.host, f.guest), (PathBuf::from("data.txt"), "/data.txt".into()));
        let f = GuestFile::parse("./a:b:/etc/x", "/").unwrap();
        assert_eq!((f.host, f.guest), (PathBuf::from("./a:b"), "/etc/x".into()));
        assert!(GuestFile::parse("x:etc/x", "/").unwrap_err().contains("not absolute"));
        assert!(GuestFile::parse(":/x", "/").unwrap_err().contains("no host file"));
        assert!(GuestFile::parse("/", "/").unwrap_err().contains("HOST_PATH:GUEST_PATH"));
        assert!(GuestFile::parse("x:/a/../b", "/").unwrap_err().contains("'..'"));
    }

    #[test]
    fn trees_without_conflicts() {
        assert!(check_tree(["/bin/a", "/bin/b", "/c"].into_iter()).is_ok());
        assert!(matches!(check_tree(["/bin/a", "/c", "/bin/a"].into_iter()), Err(InitError::Duplicate(p)) if p == "/bin/a"));
        let err = check_tree(["/bin/a", "/bin"].into_iter()).unwrap_err().to_string();
        assert_eq!(err, "guest path '/bin' is a file, but '/bin/a' needs it to be a directory");
        // A prefix that is not a parent is no conflict.
        assert!(check_tree(["/bin", "/binx/a"].into_iter()).is_ok());
    }

    #[test]
    fn argv_layout() {
        let blob = argv_blob("/bin/x", &["a b".into(), "".into(), "c".into()]).unwrap();
        assert_eq!(blob, b"/bin/x\0a b\0\0c\0");
        assert!(matches!(argv_blob("/x", &["a\0b".into()]), Err(InitError::ArgNul(_))));
        let long = vec!["y".repeat(1000); 62];
        assert!(matches!(argv_blob("/x", &long), Err(InitError::ArgvTooLong { .. })));
    }

    fn elf_header(class: u8, data: u8, typ: u16, machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = class;
        b[5] = data;
        b[16..18].copy_from_slice(&typ.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b
    }

    #[test]
    fn executables() {
        assert_eq!(check_executable(&elf_header(2, 1, 2, 62)), Ok(()));
        assert_eq!(check_executable(&elf_header(2, 1, 3, 62)), Ok(()));
        let cases = [
            (b"#!/bin/sh\necho hi\n".to_vec(), "no ELF magic"),
            (b"\x7fELF\x02\x01".to_vec(), "truncated"),
            (elf_header(1, 1, 2, 3), "64-bit"),
            (elf_header(2, 2, 2, 62), "little-endian"),
            (elf_header(2, 1, 1, 62), "ET_REL"),
            (elf_header(2, 1, 4, 62), "core dump"),
            (elf_header(2, 1, 2, 183), "machine 183 is not x86-64"),
        ];
        for (bytes, why) in cases {
            let err = check_executable(&bytes).unwrap_err();
            assert!(err.contains(why), "{err} does not mention {why}");
        }
    }

    #[test]
    fn placement() {
        let ram = |addr, size| E820Entry::new(addr, size, E820_RAM);
        let reserved = |addr, size| E820Entry::new(addr, size, E820_RESERVED);
        let low = [ram(0, 0xa_0000), reserved(0xa_0000, 0x6_0000), ram(M, 127 * M)];
        // Right after the kernel, rounded up to 2 MiB.
        assert_eq!(place(&low, 16 * M + 0x1234, 4096), Some(18 * M));
        assert_eq!(place(&low, 18 * M, 4096), Some(18 * M));
        // Exactly fills the rest of RAM; one byte more does not fit.
        assert_eq!(place(&low, 18 * M, 110 * M), Some(18 * M));
        assert_eq!(place(&low, 18 * M, 110 * M + 1), None);
        // A --mem-hole right above the kernel: skipped, and the next range
        // starts page aligned even when the hole's end is not 2M aligned.
        let holed = [ram(M, 17 * M), reserved(18 * M, 0x3000), ram(18 * M + 0x3000, 64 * M)];
        assert_eq!(place(&holed, 17 * M, 8192), Some(18 * M + 0x3000));
        // Too big for the piece below the hole, so it goes above it.
        let split = [ram(M, 31 * M), reserved(32 * M, 32 * M), ram(64 * M, 64 * M)];
        assert_eq!(place(&split, 17 * M, 20 * M), Some(64 * M));
        // Across the MMIO hole: RAM above 4 GiB takes what does not fit below 3 GiB.
        let big = [ram(M, 3072 * M - M), reserved(3072 * M, 1024 * M), ram(4096 * M, 1024 * M)];
        assert_eq!(place(&big, 17 * M, 2000 * M), Some(18 * M));
        assert_eq!(place(&big, 3060 * M, 100 * M), Some(4096 * M));
        assert_eq!(place(&big, 17 * M, 3100 * M), None);
        assert_eq!(place(&big, u64::MAX - 5, 1), None);
    }

    /// A scratch directory removed at drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("vmm-initramfs-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, data: &[u8], mode: u32) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, data).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn guest(host: &Path, guest: &str) -> GuestFile {
        GuestFile { host: host.to_owned(), guest: guest.into() }
    }

    #[test]
    fn builds_the_image_from_host_files() {
        let dir = Scratch::new("build");
        let elf = elf_header(2, 1, 2, 62);
        let prog = dir.write("prog", &elf, 0o700);
        let data = dir.write("data", b"some data", 0o640);
        let identity = Identity { env: vec!["A=1".into(), "B=x=y".into()], uid: 7, gid: 8, cwd: Some("/tmp".into()) };
        let spec = InitSpec { program: guest(&prog, "/bin/prog"), files: vec![guest(&data, "/etc/conf/data")], args: vec!["-v".into(), "x".into()], identity };
        let image = InitImage::build(&spec, 64 * M).unwrap();
        assert_eq!(image.path, "/bin/prog");
        assert_eq!(image.argv, b"/bin/prog\0-v\0x\0");
        assert_eq!((image.env.as_slice(), image.cwd.as_str(), image.uid, image.gid), (&b"A=1\0B=x=y\0"[..], "/tmp", 7, 8));
        let entries = parse(&image.archive);
        let summary: Vec<(&str, u32)> = entries.iter().map(|e| (e.name.as_str(), e.mode)).collect();
        assert_eq!(summary, [("bin", DIR_MODE), ("etc", DIR_MODE), ("etc/conf", DIR_MODE), ("bin/prog", INIT_MODE), ("etc/conf/data", 0o100_640)]);
        assert_eq!(entries[3].data, elf);
        assert_eq!(entries[4].data, b"some data");
    }

    #[test]
    fn refuses_bad_inputs() {
        let dir = Scratch::new("refuse");
        let prog = dir.write("prog", &elf_header(2, 1, 3, 62), 0o755);
        let text = dir.write("text", b"hello\n", 0o644);
        let spec = |program: GuestFile, files: Vec<GuestFile>| InitSpec { program, files, args: vec![], identity: Identity::default() };
        let cases = [
            (spec(guest(&dir.0.join("missing"), "/bin/m"), vec![]), "cannot read init program"),
            (spec(guest(&dir.0, "/bin/d"), vec![]), "is not a regular file"),
            (spec(guest(&text, "/bin/t"), vec![]), "is not an x86-64 ELF executable: no ELF magic"),
            (spec(guest(&prog, "/bin/p"), vec![guest(&dir.0.join("nope"), "/nope")]), "cannot read file"),
            (spec(guest(&prog, "/bin/p"), vec![guest(Path::new("/dev/null"), "/null")]), "file /dev/null is not a regular file"),
            (spec(guest(&prog, "/bin/p"), vec![guest(&text, "/bin/p")]), "guest path '/bin/p' is given twice"),
            (spec(guest(&prog, "/bin/p"), vec![guest(&text, "rel")]), "invalid guest path for file"),
            (spec(guest(&prog, "/bin/my prog"), vec![]), "whitespace"),
        ];
        for (spec, why) in cases {
            let err = InitImage::build(&spec, 64 * M).unwrap_err().to_string();
            assert!(err.contains(why), "{err} does not mention {why}");
        }
        let err = InitImage::build(&spec(guest(&prog, "/bin/p"), vec![guest(&text, "/t")]), 64).unwrap_err();
        assert!(matches!(err, InitError::TooBig { ram: 64, .. }), "{err}");
        let with = |identity: Identity| InitSpec { identity, ..spec(guest(&prog, "/bin/p"), vec![]) };
        for (identity, why) in [
            (Identity { env: vec!["NOEQUALS".into()], ..Identity::default() }, "is not KEY=VALUE"),
            (Identity { env: vec!["=v".into()], ..Identity::default() }, "empty name"),
            (Identity { env: vec!["A=\0".into()], ..Identity::default() }, "NUL"),
            (Identity { cwd: Some("rel/dir".into()), ..Identity::default() }, "not an absolute path"),
            (Identity { env: vec![format!("X={}", "x".repeat(INIT_ARGV_MAX))], ..Identity::default() }, "the limit is"),
        ] {
            let err = InitImage::build(&with(identity), 64 * M).unwrap_err().to_string();
            assert!(err.contains(why), "{err} does not mention {why}");
        }
    }

    #[test]
    fn env_files_hold_one_variable_per_line() {
        assert_eq!(parse_env_file("# comment\nA=1\r\n\n  \nB=two words\nC=\n").unwrap(), ["A=1", "B=two words", "C="]);
        assert_eq!(parse_env_file("A=1\nbad line\n").unwrap_err(), "line 2: \"bad line\" is not KEY=VALUE");
    }
}

#[cfg(test)]
mod directory_tests {
    use super::*;

    #[test]
    fn a_directory_becomes_its_files() {
        let dir = std::env::temp_dir().join(format!("rvmm-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("top.txt"), b"1").unwrap();
        std::fs::write(dir.join("a/b/deep.py"), b"2").unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(dir.join("top.txt"), dir.join("a/link.txt")).unwrap();
        let files = expand_directories(vec![GuestFile { host: dir.clone(), guest: "/lib/x".into() }]).unwrap();
        let guests: Vec<&str> = files.iter().map(|f| f.guest.as_str()).collect();
        assert_eq!(guests, ["/lib/x/a/b/deep.py", "/lib/x/a/link.txt", "/lib/x/top.txt"], "a link to a directory is not followed");
        let plain = GuestFile { host: dir.join("top.txt"), guest: "/t".into() };
        assert_eq!(expand_directories(vec![plain.clone()]).unwrap(), [plain]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
