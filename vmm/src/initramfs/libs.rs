//! What a dynamically linked program needs beside it: its program
//! interpreter (`PT_INTERP`) and the shared libraries it and they name
//! (`DT_NEEDED`), found on the host the way the interpreter would find
//! them (`ldd`'s answer): `DT_RPATH` (when there is no `DT_RUNPATH`),
//! `LD_LIBRARY_PATH`, `DT_RUNPATH` (`$ORIGIN` expanded), then the
//! system's directories (glibc: `/etc/ld.so.conf` and its includes, then
//! the trusted directories; musl: `/etc/ld-musl-x86_64.path`, else
//! `/lib:/usr/local/lib:/usr/lib`). Each file goes to the guest at the path
//! it was found at, which is where the interpreter will look.
//!
//! Only the ELF headers and the dynamic section are read; nothing is run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::GuestFile;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const DT_STRTAB: i64 = 5;
const DT_RPATH: i64 = 15;
const DT_RUNPATH: i64 = 29;

/// What the dynamic linker needs to know of one ELF file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DynamicInfo {
    pub interp: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

/// `N` bytes at `o`, if the file has them (offsets come from the file:
/// anything may be out of range).
fn bytes_at<const N: usize>(b: &[u8], o: usize) -> Option<[u8; N]> {
    b.get(o..o.checked_add(N)?)?.try_into().ok()
}
fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    bytes_at(b, o).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    bytes_at(b, o).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    bytes_at(b, o).map(u64::from_le_bytes)
}

/// A NUL-terminated string at `off`.
fn c_str(b: &[u8], off: usize) -> Option<String> {
    let rest = b.get(off..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    String::from_utf8(rest[..end].to_vec()).ok()
}

/// Reads the interpreter and the dynamic section of a 64-bit
/// little-endian ELF file; `None` for anything else or a malformed one.
pub fn dynamic_info(b: &[u8]) -> Option<DynamicInfo> {
    if b.get(0..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(b, 32)? as usize, u16_at(b, 54)? as usize, u16_at(b, 56)? as usize);
    if phentsize < 56 {
        return None;
    }
    let mut info = DynamicInfo::default();
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let p = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let field = |at: usize| u64_at(b, p.checked_add(at)?);
        let (ty, off, vaddr, filesz) = (u32_at(b, p)?, field(8)?, field(16)?, field(32)?);
        match ty {
            PT_INTERP => info.interp = c_str(b, usize::try_from(off).ok()?),
            PT_LOAD => loads.push((vaddr, off, filesz)),
            PT_DYNAMIC => dynamic = Some((usize::try_from(off).ok()?, usize::try_from(filesz).ok()?)),
            _ => {}
        }
    }
    let Some((off, size)) = dynamic else { return Some(info) };
    let entry = |i: usize| {
        let at = off.checked_add(i.checked_mul(16)?)?;
        Some((u64_at(b, at)? as i64, u64_at(b, at.checked_add(8)?)?))
    };
    let entries: Vec<(i64, u64)> = (0..size / 16).map_while(entry).take_while(|&(tag, _)| tag != DT_NULL).collect();
    // DT_STRTAB is an address: the file offset is where a PT_LOAD puts it.
    let strtab_addr = entries.iter().find(|(t, _)| *t == DT_STRTAB)?.1;
    let (vaddr, foff, _) = loads.iter().find(|(v, _, sz)| (*v..v.saturating_add(*sz)).contains(&strtab_addr))?;
    let strtab = usize::try_from((strtab_addr - vaddr).checked_add(*foff)?).ok()?;
    let string = |v: u64| c_str(b, strtab.checked_add(usize::try_from(v).ok()?)?);
    let paths = |v: u64| string(v).map(|s| s.split(':').filter(|p| !p.is_empty()).map(String::from).collect::<Vec<_>>()).unwrap_or_default();
    for &(tag, val) in &entries {
        match tag {
            DT_NEEDED => info.needed.extend(string(val)),
            DT_RPATH => info.rpath.extend(paths(val)),
            DT_RUNPATH => info.runpath.extend(paths(val)),
            _ => {}
        }
    }
    Some(info)
}

/// The system's library directories for the interpreter at `interp`.
fn system_dirs(interp: &str) -> Vec<PathBuf> {
    if interp.contains("ld-musl") {
        let listed = std::fs::read_to_string("/etc/ld-musl-x86_64.path").ok();
        let text = listed.unwrap_or_else(|| "/lib:/usr/local/lib:/usr/lib".into());
        return text.split([':', '\n']).filter(|p| !p.is_empty()).map(PathBuf::from).collect();
    }
    let mut dirs = Vec::new();
    ld_so_conf(Path::new("/etc/ld.so.conf"), &mut dirs, 0);
    for d in ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The directories an `ld.so.conf` lists, with its `include`s (a glob of
/// the form `DIR/*SUFFIX` or a plain path).
fn ld_so_conf(file: &Path, dirs: &mut Vec<PathBuf>, depth: u32) {
    let Ok(text) = std::fs::read_to_string(file) else { return };
    for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
        match line.strip_prefix("include") {
            Some(pattern) if depth < 4 => {
                let pattern = pattern.trim();
                let (dir, file_glob) = pattern.rsplit_once('/').unwrap_or((".", pattern));
                let suffix = file_glob.strip_prefix('*');
                let mut files: Vec<PathBuf> = match suffix {
                    Some(suffix) => std::fs::read_dir(dir)
                        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(suffix)).collect())
                        .unwrap_or_default(),
                    None => vec![PathBuf::from(pattern)],
                };
                files.sort();
                for f in files {
                    ld_so_conf(&f, dirs, depth + 1);
                }
            }
            _ => dirs.push(PathBuf::from(line)),
        }
    }
}

/// Where `name` is found for an object in `origin` with `info`'s paths.
fn find(name: &str, info: &DynamicInfo, origin: &Path, system: &[PathBuf]) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let expand = |p: &String| PathBuf::from(p.replace("$ORIGIN", &origin.to_string_lossy()).replace("${ORIGIN}", &origin.to_string_lossy()));
    let env: Vec<PathBuf> = std::env::var("LD_LIBRARY_PATH").unwrap_or_default().split(':').filter(|p| !p.is_empty()).map(PathBuf::from).collect();
    let rpath: Vec<PathBuf> = if info.runpath.is_empty() { info.rpath.iter().map(expand).collect() } else { Vec::new() };
    let runpath: Vec<PathBuf> = info.runpath.iter().map(expand).collect();
    rpath.iter().chain(&env).chain(&runpath).chain(system).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The interpreter and libraries `program` needs, as files for the guest
/// (each at the path it was found at); empty for a static program, and
/// for one that cannot be read (packing it says why). An interpreter or a
/// library that cannot be found is an error naming it (musl's `libc.so`,
/// which is its interpreter, excepted).
pub fn needed_files(program: &Path) -> Result<Vec<GuestFile>, String> {
    let Ok(bytes) = std::fs::read(program) else { return Ok(Vec::new()) };
    let Some(info) = dynamic_info(&bytes) else { return Ok(Vec::new()) };
    let Some(interp) = info.interp.clone() else { return Ok(Vec::new()) };
    if !Path::new(&interp).is_file() {
        return Err(format!("{} needs the program interpreter {interp}, which is not on this host", program.display()));
    }
    let musl = interp.contains("ld-musl");
    let system = system_dirs(&interp);
    let mut out = vec![GuestFile { host: PathBuf::from(&interp), guest: interp.clone() }];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue = vec![(program.to_path_buf(), info)];
    while let Some((path, info)) = queue.pop() {
        let origin = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for name in &info.needed {
            if !seen.insert(name.clone()) {
                continue;
            }
            // musl's libc is its interpreter.
            if musl && name.starts_with("libc.so") {
                continue;
            }
            let found = find(name, &info, &origin, &system)
                .ok_or_else(|| format!("{} needs {name}, which is not found on this host (pass it with --file, or use --no-libs)", program.display()))?;
            let guest = found.to_string_lossy().into_owned();
            if guest != interp && !out.iter().any(|f| f.guest == guest) {
                let lib_info = std::fs::read(&found).ok().and_then(|b| dynamic_info(&b)).unwrap_or_default();
                out.push(GuestFile { host: found.clone(), guest });
                queue.push((found, lib_info));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_needs_glibc_and_its_loader() {
        let exe = std::env::current_exe().unwrap();
        // The test binary itself is dynamically linked against glibc.
        let files = needed_files(&exe).unwrap();
        assert!(files.iter().any(|f| f.guest.contains("ld-linux")), "{files:?}");
        assert!(files.iter().any(|f| f.guest.ends_with("/libc.so.6")), "{files:?}");
        assert!(files.iter().all(|f| f.host.is_file() && f.guest.starts_with('/')), "{files:?}");
    }

    #[test]
    fn malformed_files_are_not_dynamic() {
        assert_eq!(dynamic_info(b"not an elf"), None);
        assert_eq!(dynamic_info(b"\x7fELF"), None, "shorter than the identification");
        assert_eq!(dynamic_info(b"\x7fELF\x02\x01\x01"), None);
        // Program headers claimed at the very end of the address space.
        let mut h = vec![0u8; 64];
        h[..6].copy_from_slice(b"\x7fELF\x02\x01");
        h[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(dynamic_info(&h), None);
        let mut truncated = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        truncated.truncate(200);
        // Headers that point past the end: no panic, whatever is found.
        let _ = dynamic_info(&truncated);
    }
}
