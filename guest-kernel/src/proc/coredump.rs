//! Core dumps (Linux `fs/coredump.c`, `fs/binfmt_elf.c` `elf_core_dump`):
//! a process killed by a signal whose default action dumps core writes
//! an ELF core file `core` in its working directory, when `RLIMIT_CORE`
//! allows at least a page and the process is dumpable; the wait status
//! then has the core bit (`WCOREDUMP`, 0x80).
//!
//! The file: the ELF header, a `PT_NOTE` segment (`NT_PRSTATUS` with the
//! registers of the thread that took the signal, `NT_PRPSINFO`,
//! `NT_AUXV`, `NT_PRFPREG`), then a `PT_LOAD` per VMA. What is dumped
//! follows Linux's default `coredump_filter` (0x33): anonymous memory,
//! private and shared, and what a private file mapping has written; the
//! first page of a file mapping that holds an ELF header; nothing of
//! `MADV_DONTDUMP` memory. Pages never touched read as zeroes. `gdb PROG
//! core` reads it.

use alloc::vec::Vec;

use super::signal::siginfo::SigInfo;
use super::Task;
use crate::mm::addr::PAGE_SIZE;
use crate::mm::vma::{VM_DONTDUMP, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE};

/// Signals whose default action dumps core (Linux
/// `SIG_KERNEL_COREDUMP_MASK`): QUIT, ILL, TRAP, ABRT, BUS, FPE, SEGV,
/// XCPU, XFSZ, SYS.
pub fn dumps_core(sig: usize) -> bool {
    matches!(sig, 3..=8 | 11 | 24 | 25 | 31)
}

const NT_PRSTATUS: u32 = 1;
const NT_PRFPREG: u32 = 2;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;

/// One ELF note: namesz, descsz, type, "CORE\0" padded, the description
/// padded to 4 bytes.
fn note(out: &mut Vec<u8>, ty: u32, desc: &[u8]) {
    for v in [5u32, desc.len() as u32, ty] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"CORE\0\0\0\0");
    out.extend_from_slice(desc);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// `struct elf_prstatus` (x86-64, 336 bytes).
fn prstatus(task: &Task, sig: usize, info: &SigInfo) -> Vec<u8> {
    let mut d = Vec::with_capacity(336);
    d.extend_from_slice(&(sig as i32).to_le_bytes());
    d.extend_from_slice(&info.code.to_le_bytes());
    d.extend_from_slice(&0i32.to_le_bytes()); // si_errno
    d.extend_from_slice(&(sig as u16).to_le_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(&task.signals.pending().to_le_bytes());
    d.extend_from_slice(&task.signals.blocked.to_le_bytes());
    for v in [task.pid, task.ppid, task.pgid, task.sid] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    d.extend_from_slice(&[0u8; 64]); // utime, stime, cutime, cstime
    let r = &task.regs;
    // user_regs_struct's order.
    for v in [
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        r.rax,
        r.rip,
        r.cs,
        r.rflags,
        r.rsp,
        r.ss,
        task.fs_base,
        0,
        0,
        0,
        0,
        0,
    ] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    d.extend_from_slice(&1i32.to_le_bytes()); // pr_fpvalid
    d.extend_from_slice(&[0u8; 4]);
    d
}

/// `struct elf_prpsinfo` (x86-64, 136 bytes).
fn prpsinfo(task: &Task) -> Vec<u8> {
    let mut d = Vec::with_capacity(136);
    d.extend_from_slice(&[0, b'R', 0, task.nice as i8 as u8]);
    d.extend_from_slice(&[0u8; 4]);
    d.extend_from_slice(&0u64.to_le_bytes()); // pr_flag
    d.extend_from_slice(&[0u8; 8]); // uid, gid
    for v in [task.tgid, task.ppid, task.pgid, task.sid] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    let mut fname = [0u8; 16];
    let comm = task.comm.as_str().as_bytes();
    fname[..comm.len()].copy_from_slice(comm);
    d.extend_from_slice(&fname);
    let mut args = [0u8; 80];
    let n = task.cmdline.len().min(79);
    args[..n].copy_from_slice(&task.cmdline[..n]);
    for b in args.iter_mut().take(n) {
        if *b == 0 {
            *b = b' ';
        }
    }
    d.extend_from_slice(&args);
    d
}

/// What of a VMA goes into the core (Linux `vma_dump_size` under filter
/// 0x33), bytes from its start.
fn dump_size(mm: &super::mm::Mm, v: &crate::mm::vma::Vma<super::mm::FileRef>) -> u64 {
    let size = v.end - v.start;
    if v.flags & VM_DONTDUMP != 0 || v.flags & VM_READ == 0 {
        return 0;
    }
    match &v.file {
        None => size,
        Some(f) if f.is_shmem() => size,
        // Written private file memory (a data segment) is the process's own.
        Some(_) if v.flags & (VM_WRITE | VM_SHARED) == VM_WRITE => size,
        Some(_) => {
            // An ELF header at the start of a mapping from offset 0.
            let mut magic = [0u8; 4];
            if v.pgoff == 0 && mm.access_remote_vm(v.start, &mut magic) == 4 && magic == *b"\x7fELF" {
                PAGE_SIZE
            } else {
                0
            }
        }
    }
}

/// Writes `core` for `task`, killed by `sig`; whether it was written.
pub fn do_coredump(task: &Task, sig: usize, info: &SigInfo) -> bool {
    let limit = task.signals.group_ref().rlim[super::rlimit::RLIMIT_CORE][0];
    let Some(mm) = task.mm.as_deref() else { return false };
    if limit < PAGE_SIZE || mm.flags.dumpable == 0 {
        return false;
    }
    let vmas: Vec<_> = mm.vm.iter().map(|v| (v.start, v.end, v.flags, dump_size(mm, v))).collect();
    let mut notes = Vec::new();
    note(&mut notes, NT_PRSTATUS, &prstatus(task, sig, info));
    note(&mut notes, NT_PRPSINFO, &prpsinfo(task));
    note(&mut notes, NT_AUXV, &mm.saved_auxv.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    note(&mut notes, NT_PRFPREG, &super::fpu::snapshot(task).0);

    // ELF header and program headers.
    let phnum = 1 + vmas.len();
    let headers = 64 + 56 * phnum as u64;
    let notes_at = headers;
    let mut data_at = (notes_at + notes.len() as u64).next_multiple_of(PAGE_SIZE);
    let mut head = Vec::with_capacity(headers as usize);
    head.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    head.extend_from_slice(&4u16.to_le_bytes()); // ET_CORE
    head.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    head.extend_from_slice(&1u32.to_le_bytes());
    for v in [0u64, 64, 0] {
        head.extend_from_slice(&v.to_le_bytes()); // entry, phoff, shoff
    }
    head.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, phnum as u16, 64, 0, 0] {
        head.extend_from_slice(&v.to_le_bytes());
    }
    let phdr = |out: &mut Vec<u8>, ty: u32, flags: u32, off: u64, vaddr: u64, filesz: u64, memsz: u64, align: u64| {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        for v in [off, vaddr, 0, filesz, memsz, align] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    };
    phdr(&mut head, 4, 0, notes_at, 0, notes.len() as u64, 0, 4); // PT_NOTE
    for &(start, end, flags, dump) in &vmas {
        let pf = (if flags & VM_READ != 0 { 4 } else { 0 }) | (if flags & VM_WRITE != 0 { 2 } else { 0 }) | u32::from(flags & VM_EXEC != 0);
        phdr(&mut head, 1, pf, data_at, start.as_u64(), dump, end - start, PAGE_SIZE); // PT_LOAD
        data_at += dump;
    }

    // The file: the old one goes (Linux unlinks it first), a new one, 0600.
    let path = if task.fs.cwd.ends_with('/') { alloc::format!("{}core", task.fs.cwd) } else { alloc::format!("{}/core", task.fs.cwd) };
    let Some(fs) = super::ROOTFS.get() else { return false };
    let file = {
        let fs = fs.lock();
        let _ = fs.unlink(&path);
        use crate::fs::file::{O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY};
        match crate::fs::file::open(&fs, &path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600) {
            Ok(f) => f,
            Err(_) => return false,
        }
    };
    let mut written = 0u64;
    let mut put = |bytes: &[u8]| -> bool {
        let room = limit.saturating_sub(written) as usize;
        let part = &bytes[..bytes.len().min(room)];
        if file.write(part).map_or(true, |n| n < part.len()) {
            return false;
        }
        written += part.len() as u64;
        part.len() == bytes.len()
    };
    let mut ok = put(&head) && put(&notes);
    let pad = (notes_at + notes.len() as u64).next_multiple_of(PAGE_SIZE) - (notes_at + notes.len() as u64);
    ok = ok && put(&alloc::vec![0u8; pad as usize]);
    let mut page = alloc::vec![0u8; PAGE_SIZE as usize];
    for &(start, _, _, dump) in &vmas {
        let mut at = start;
        while ok && at < start + dump {
            page.fill(0);
            // Pages never touched stay zeroes.
            mm.access_remote_vm(at, &mut page);
            ok = put(&page);
            at += PAGE_SIZE;
        }
    }
    // A core cut short by RLIMIT_CORE is still a core (Linux keeps it).
    written >= PAGE_SIZE
}
