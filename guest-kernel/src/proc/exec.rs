//! `execve` for ELF programs (Linux `fs/binfmt_elf.c`, `load_elf_binary`):
//! map the PT_LOAD segments from the file (private, copied on write), the
//! bss as anonymous memory, set up the heap start and a stack holding
//! argv, envp and the auxiliary vector. PIE programs (ET_DYN) load at
//! `ELF_ET_DYN_BASE`. A dynamically linked program (PT_INTERP) gets its
//! interpreter (`ld-linux-x86-64.so.2`, `ld-musl-x86_64.so.1`) loaded too,
//! where mmap would put it, and starts there, with `AT_BASE` and
//! `AT_ENTRY` telling the interpreter where it and the program are.
//!
//! Also the boot-time probe of how `syscall` behaves, which needs a user
//! address space to run in.

use alloc::string::String;
use alloc::vec::Vec;

use crate::arch::user::{self, SyscallPath, UserRegs};
use crate::fs::errno::{EFAULT, EINVAL, ENOEXEC, ENOMEM};
use crate::mm::addr::{page_align_down, page_align_up, UserAddr, PAGE_SIZE};
use crate::mm::mmap::{MAP_ANONYMOUS, MAP_FIXED, MAP_GROWSDOWN, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE};

use crate::fs::binfmt_elf::{check_elf, parse_elf, Elf, ELF_ET_DYN_BASE, ET_DYN, PF_R, PF_W, PF_X, PT_LOAD};

use super::mm::{FileRef, Mm};
use super::uaccess::{clear_user, copy_to_user, TASK_SIZE};
use super::Task;

/// The top of the initial stack (Linux `STACK_TOP` without randomisation).
pub const STACK_TOP: u64 = TASK_SIZE;
/// The initial stack VMA (Linux expands it to 128 KiB at exec).
const STACK_INITIAL: u64 = 128 << 10;

// Auxiliary vector keys.
const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

/// The interpreter a program names, checked as an ELF file of its own
/// (its inode and parsed headers). Linux's errors: the lookup's (ENOENT
/// for a missing interpreter), ENOEXEC for an interpreter that is not a
/// loadable ELF file or that wants an interpreter itself (ELIBBAD).
fn open_interp(path: &str) -> Result<(alloc::sync::Arc<crate::fs::ramfs::Inode>, Elf), i32> {
    let inode = super::lookup(path)?;
    may_exec(&inode)?;
    let elf = parse_elf(&|off, buf| inode.read_at(off, buf), inode.size())?;
    if elf.interp.is_some() {
        return Err(ELIBBAD);
    }
    Ok((inode, elf))
}

/// Whether the current task may execute `inode` (Linux `open_exec`):
/// `EACCES` for anything but a regular file, and for a file without
/// execute permission, which for root means without any execute bit.
fn may_exec(inode: &crate::fs::ramfs::Inode) -> Result<(), i32> {
    if !inode.is_regular() {
        return Err(crate::fs::errno::EACCES);
    }
    crate::fs::perm::generic_permission(&crate::cred::current(), inode.owner(), crate::fs::perm::MAY_EXEC)
}

/// Linux's "accessing a corrupted shared library".
const ELIBBAD: i32 = 80;

/// Why the file at `path` cannot be executed, for a console message (the
/// errno alone says little: `ENOEXEC` covers every malformed file).
pub fn why_not_executable(path: &str, errno: i32) -> String {
    let detail = match super::lookup(path) {
        Err(e) => alloc::format!("{} ({})", crate::fs::errno::name(e), if e == crate::fs::errno::ENOENT { "no such file" } else { "lookup failed" }),
        Ok(inode) if !inode.is_regular() => String::from("not a regular file"),
        Ok(inode) => match check_elf(&|off, buf| inode.read_at(off, buf), inode.size()) {
            Err(why) => why,
            Ok(Elf { interp: Some(interp), .. }) if super::lookup(&interp).is_err() => {
                alloc::format!("dynamically linked, and its program interpreter {interp} is not in the root filesystem")
            }
            Ok(Elf { interp: Some(interp), .. }) => alloc::format!("loading it or its program interpreter {interp} failed"),
            Ok(_) => String::from("loading it failed"),
        },
    };
    alloc::format!("{}: {detail}", crate::fs::errno::name(errno))
}

/// Replaces `task`'s program with the file at `path` (the part of
/// `execve` after the arguments were copied in).
pub fn exec(task: &mut Task, path: &str, argv: &[String], envp: &[String]) -> Result<(), i32> {
    exec_file(task, path, path, argv, envp, 0)
}

/// How deep `#!` scripts may name scripts (Linux allows 5 interpreter
/// levels, then ELOOP).
const MAX_SCRIPT_DEPTH: u32 = 5;
/// Bytes of a `#!` line looked at (Linux `BINPRM_BUF_SIZE`).
const BINPRM_BUF_SIZE: usize = 256;

/// The interpreter and its optional argument from a `#!` line (Linux
/// `binfmt_script`): after `#!`, blanks, the interpreter up to a blank,
/// then the rest of the line, trimmed, as one argument. ENOEXEC for no
/// interpreter or one cut by the end of the buffer.
fn parse_shebang(head: &[u8]) -> Result<(String, Option<String>), i32> {
    let line_end = head.iter().position(|&c| c == b'\n');
    let line = &head[2..line_end.unwrap_or(head.len())];
    let text = core::str::from_utf8(line).map_err(|_| ENOEXEC)?;
    let text = text.trim_start_matches([' ', '\t']);
    let (interp, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    if interp.is_empty() || (line_end.is_none() && rest.is_empty() && head.len() == BINPRM_BUF_SIZE) {
        return Err(ENOEXEC);
    }
    let arg = rest.trim_matches([' ', '\t', '\0']);
    Ok((String::from(interp), (!arg.is_empty()).then(|| String::from(arg))))
}

/// [`exec`] of `path`, which `comm_path` (the file `execve` named) led to
/// through `depth` `#!` scripts: a script runs its interpreter with the
/// script's path after the interpreter's argument (Linux `binfmt_script`;
/// `comm` stays the script's name, `/proc/PID/exe` is the interpreter).
fn exec_file(task: &mut Task, path: &str, comm_path: &str, argv: &[String], envp: &[String], depth: u32) -> Result<(), i32> {
    if argv.is_empty() {
        return Err(EINVAL);
    }
    let inode = super::lookup(path)?;
    may_exec(&inode)?;
    let mut head = [0u8; BINPRM_BUF_SIZE];
    let n = inode.read_at(0, &mut head);
    if head[..n].starts_with(b"#!") {
        if depth >= MAX_SCRIPT_DEPTH {
            return Err(crate::fs::errno::ELOOP);
        }
        let (interp, arg) = parse_shebang(&head[..n])?;
        let mut args = alloc::vec![interp.clone()];
        args.extend(arg);
        args.push(String::from(path));
        args.extend(argv[1..].iter().cloned());
        let interp = if interp.starts_with('/') { interp } else { alloc::format!("{}/{interp}", task.fs.cwd.trim_end_matches('/')) };
        return exec_file(task, &interp, comm_path, &args, envp, depth + 1);
    }
    let size = inode.size();
    let read = |off: u64, buf: &mut [u8]| inode.read_at(off, buf);
    let elf = parse_elf(&read, size)?;
    let interp = match &elf.interp {
        Some(p) => Some(open_interp(p)?),
        None => None,
    };
    // The new credentials: the program's set-ID bits (those of a script
    // are not looked at, as in Linux: only the ELF file's).
    let creds = task.cred.exec(Some((inode.uid(), inode.gid(), inode.mode())));
    // A program its user may not read leaves no core and no /proc view
    // (Linux `would_dump`).
    let readable = crate::fs::perm::generic_permission(&task.cred, inode.owner(), crate::fs::perm::MAY_READ).is_ok();
    let file = FileRef::File(inode.clone());
    let mut mm = super::new_mm(super::mm::mm_alloc().ok_or(ENOMEM)?).ok_or(ENOMEM)?;
    if let Some(old) = task.mm.as_deref() {
        mm.flags = old.flags.for_exec();
    }
    super::rlimit::apply_to_mm(&task.signals.group_ref().rlim, &mut mm.vm);
    let bias = if elf.e_type == ET_DYN { ELF_ET_DYN_BASE } else { 0 };

    // The point of no return (Linux `begin_new_exec`): the other threads
    // go, what is shared with other processes becomes this one's own, and
    // the old image's robust futexes and tid word are released.
    if let Err(e) = de_thread(task) {
        super::put_mm(mm);
        return Err(e);
    }
    if !task.files.unshare() || !task.signals.unshare_handlers() {
        super::put_mm(mm);
        return Err(ENOMEM);
    }
    super::futex::exit_release(task);
    // POSIX timers do not survive an execve (Linux `exit_itimers`).
    task.signals.group().timers = alloc::vec::Vec::new();
    // The new address space must be live for the copies below; the old
    // one is let go of only after we leave its tables.
    let old_mm = task.mm.take();
    mm.pt.activate();
    task.mm = Some(mm);
    if let Some(old) = old_mm {
        // The old image's RSS peak still counts (Linux `setmax_mm_hiwater_rss`).
        let own = &mut task.signals.group().usage.own;
        own.maxrss = own.maxrss.max(old.hiwater_rss.max(old.rss.total()));
        super::put_mm(old);
    }
    // Close O_CLOEXEC files (Linux `do_close_on_exec`); pipe ends closed
    // wake their other ends.
    task.files.close_on_exec();
    super::sched::wake_events();
    // On failure the old program is gone (Linux sends SIGKILL past the
    // point of no return): the half-built image goes too, and the caller
    // ends the task, which has no memory left.
    if let Err(e) = load(task, &elf, &file, bias, interp, path, argv, envp, &creds) {
        if let Some(mm) = task.mm.take() {
            super::put_mm(mm);
        }
        return Err(e);
    }
    if let Some(mm) = task.mm.as_mut() {
        mm.flags.dumpable = u8::from(creds.dumpable && readable);
    }
    if creds.secure {
        task.pdeath_signal = 0;
    }
    task.cred = alloc::sync::Arc::new(creds.cred);
    task.comm = super::Comm::from_path(comm_path);
    task.exe = alloc::string::String::from(path);
    task.cmdline.clear();
    for a in argv {
        if task.cmdline.len() + a.len() + 1 > 4096 {
            break;
        }
        task.cmdline.extend_from_slice(a.as_bytes());
        task.cmdline.push(0);
    }
    task.signals.exec();
    let vfork_parent = core::mem::take(&mut task.vfork_parent);
    if vfork_parent != 0 {
        // The vfork parent goes on now.
        super::sched::wake(vfork_parent);
    }
    Ok(())
}

/// Ends every other thread of the process and waits until they are gone
/// (Linux `de_thread`); a thread other than the leader then becomes the
/// leader, with the process's pid. EINTR if the process is killed
/// meanwhile.
fn de_thread(task: &mut Task) -> Result<(), i32> {
    use super::sched::{self, TaskState};
    let (tid, tgid) = (task.pid, task.tgid);
    if sched::all_threads(tgid).len() <= 1 {
        return Ok(());
    }
    task.signals.group().group_exec_task = tid;
    for other in sched::threads(tgid).into_iter().filter(|&t| t != tid) {
        if let Some(t) = sched::task(other) {
            t.pending_kill = Some(super::SIGKILL);
            sched::wake(other);
        }
    }
    while sched::threads(tgid).len() > 1 {
        let me = super::current().ok_or(crate::fs::errno::EINTR)?;
        if me.pending_kill.is_some() {
            me.signals.group().group_exec_task = 0;
            return Err(crate::fs::errno::EINTR);
        }
        me.state = TaskState::WaitChild;
        sched::schedule();
    }
    let me = super::current().ok_or(crate::fs::errno::EINTR)?;
    me.signals.group().group_exec_task = 0;
    if tid != tgid {
        sched::exec_become_leader(tid, tgid, super::signal::SIGCHLD as u32);
    }
    Ok(())
}

/// Where a loaded image's parts landed.
struct Loaded {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    /// The end of the file-backed part of the writable segment with a bss
    /// (0: none), and the end of the image.
    elf_bss: u64,
    elf_brk: u64,
    /// Where the program headers are in memory (0: not in a segment).
    phdr_addr: u64,
}

/// Maps `elf`'s PT_LOAD segments from `file` at `bias` (Linux
/// `elf_map`, `elf_load`): the file part private, the rest anonymous, the
/// bss part of the last file page zeroed (`padzero`).
fn map_segments(mm: &mut Mm, elf: &Elf, file: &FileRef, bias: u64) -> Result<Loaded, i32> {
    let mut l = Loaded { start_code: u64::MAX, end_code: 0, start_data: 0, end_data: 0, elf_bss: 0, elf_brk: 0, phdr_addr: 0 };
    for ph in elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        let prot = if ph.p_flags & PF_R != 0 { PROT_READ } else { 0 }
            | if ph.p_flags & PF_W != 0 { PROT_WRITE } else { 0 }
            | if ph.p_flags & PF_X != 0 { PROT_EXEC } else { 0 };
        let vaddr = bias + ph.p_vaddr;
        let map_start = page_align_down(vaddr);
        let file_end = vaddr + ph.p_filesz;
        let mem_end = vaddr + ph.p_memsz;
        if ph.p_filesz > 0 {
            let len = page_align_up(file_end) - map_start;
            let pgoff = page_align_down(ph.p_offset) / PAGE_SIZE;
            super::mm::charge_mapping(len, prot, MAP_PRIVATE)?;
            let (vm, mut ptes) = mm.split();
            vm.mmap(UserAddr::new(map_start), len, prot, MAP_PRIVATE | MAP_FIXED, Some(file.clone()), pgoff, false, &mut ptes).map_err(|e| e.0)?;
        }
        let anon_start = page_align_up(file_end).max(map_start);
        if mem_end > anon_start {
            let (vm, mut ptes) = mm.split();
            let len = page_align_up(mem_end) - anon_start;
            // The bss is charged as Linux's vm_brk_flags charges it: one
            // larger than the overcommit policy allows fails the exec.
            super::mm::charge_mapping(len, prot, MAP_PRIVATE)?;
            vm.mmap(UserAddr::new(anon_start), len, prot, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, None, 0, false, &mut ptes).map_err(|e| e.0)?;
        }
        if ph.p_offset <= elf.phoff && elf.phoff < ph.p_offset + ph.p_filesz {
            l.phdr_addr = vaddr + (elf.phoff - ph.p_offset);
        }
        if ph.p_flags & PF_X != 0 {
            l.start_code = l.start_code.min(vaddr);
            l.end_code = l.end_code.max(file_end);
        } else {
            if l.start_data == 0 {
                l.start_data = vaddr;
            }
            l.end_data = l.end_data.max(file_end);
        }
        if ph.p_memsz > ph.p_filesz && ph.p_flags & PF_W != 0 {
            l.elf_bss = l.elf_bss.max(file_end);
        }
        l.elf_brk = l.elf_brk.max(mem_end);
    }
    if l.start_code == u64::MAX {
        l.start_code = 0;
    }
    // Linux's padzero: the bss part of the last file page reads as zero.
    if l.elf_bss != 0 && !l.elf_bss.is_multiple_of(PAGE_SIZE) {
        clear_user(l.elf_bss, (PAGE_SIZE - l.elf_bss % PAGE_SIZE) as usize)?;
    }
    Ok(l)
}

/// The program interpreter's bias: an ET_DYN interpreter goes where
/// `mmap` would put a mapping of its whole span (top-down below the
/// mmap base, as Linux's `load_elf_interp` places it).
fn interp_bias(mm: &Mm, elf: &Elf) -> Result<u64, i32> {
    if elf.e_type != ET_DYN {
        return Ok(0);
    }
    let loads = elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD);
    let lo = loads.clone().map(|p| page_align_down(p.p_vaddr)).min().unwrap_or(0);
    let hi = loads.map(|p| page_align_up(p.p_vaddr.saturating_add(p.p_memsz))).max().unwrap_or(0);
    let base = mm.vm.get_unmapped_area(UserAddr::new(0), hi.saturating_sub(lo).max(PAGE_SIZE), 0).map_err(|e| e.0)?;
    Ok(base.as_u64() - lo)
}

#[allow(clippy::too_many_arguments)]
fn load(
    task: &mut Task,
    elf: &Elf,
    file: &FileRef,
    bias: u64,
    interp: Option<(alloc::sync::Arc<crate::fs::ramfs::Inode>, Elf)>,
    path: &str,
    argv: &[String],
    envp: &[String],
    creds: &crate::cred::ExecCreds,
) -> Result<(), i32> {
    let mm = task.mm.as_mut().ok_or(EFAULT)?;
    let main = map_segments(mm, elf, file, bias)?;
    {
        let vm = &mut mm.vm;
        vm.start_code = UserAddr::new(main.start_code);
        vm.end_code = UserAddr::new(main.end_code);
        vm.start_data = UserAddr::new(main.start_data);
        vm.end_data = UserAddr::new(main.end_data);
        vm.start_brk = UserAddr::new(page_align_up(main.elf_brk));
        vm.brk = vm.start_brk;
    }
    let phdr_addr = main.phdr_addr;
    // The interpreter, where the program starts instead (AT_BASE: where
    // it is; AT_ENTRY: the program's own entry).
    let (interp_base, start) = match interp {
        Some((inode, ielf)) => {
            let ibias = interp_bias(mm, &ielf)?;
            map_segments(mm, &ielf, &FileRef::File(inode), ibias)?;
            (ibias, ibias.wrapping_add(ielf.entry))
        }
        None => (0, bias.wrapping_add(elf.entry)),
    };
    // The stack VMA, grown on demand below its initial size.
    let stack_start = STACK_TOP - STACK_INITIAL;
    {
        let (vm, mut ptes) = mm.split();
        vm.mmap(
            UserAddr::new(stack_start),
            STACK_INITIAL,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_GROWSDOWN,
            None,
            0,
            false,
            &mut ptes,
        )
        .map_err(|e| e.0)?;
        vm.mark_stack(UserAddr::new(stack_start));
    }

    // The stack (Linux create_elf_tables): strings at the top, then
    // AT_RANDOM bytes, then auxv, envp, argv, argc (16-byte aligned).
    let mut sp = STACK_TOP - 8;
    let push_bytes = |sp: &mut u64, bytes: &[u8]| -> Result<u64, i32> {
        *sp -= bytes.len() as u64;
        copy_to_user(*sp, bytes)?;
        Ok(*sp)
    };
    let execfn = push_bytes(&mut sp, &[path.as_bytes(), b"\0"].concat())?;
    let mut env_ptrs = Vec::new();
    for e in envp.iter().rev() {
        env_ptrs.push(push_bytes(&mut sp, &[e.as_bytes(), b"\0"].concat())?);
    }
    env_ptrs.reverse();
    let env_end = STACK_TOP - 8 - (path.len() as u64 + 1);
    let env_start = env_ptrs.first().copied().unwrap_or(env_end);
    let mut arg_ptrs = Vec::new();
    for a in argv.iter().rev() {
        arg_ptrs.push(push_bytes(&mut sp, &[a.as_bytes(), b"\0"].concat())?);
    }
    arg_ptrs.reverse();
    let arg_start = arg_ptrs.first().copied().unwrap_or(sp);
    let platform = push_bytes(&mut sp, b"x86_64\0")?;
    let random = push_bytes(&mut sp, &random_bytes())?;
    sp &= !15;
    let auxv: [(u64, u64); 17] = [
        (AT_HWCAP, 0x178b_fbff),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, 100),
        (AT_PHDR, phdr_addr),
        (AT_PHENT, 56),
        (AT_PHNUM, elf.phnum as u64),
        (AT_BASE, interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, bias.wrapping_add(elf.entry)),
        (AT_UID, u64::from(creds.cred.uid)),
        (AT_EUID, u64::from(creds.cred.euid)),
        (AT_GID, u64::from(creds.cred.gid)),
        (AT_EGID, u64::from(creds.cred.egid)),
        (AT_SECURE, u64::from(creds.secure)),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
    ];
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&arg_ptrs);
    words.push(0);
    words.extend(&env_ptrs);
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    words.push(AT_NULL);
    words.push(0);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    sp -= bytes.len() as u64;
    sp &= !15;
    copy_to_user(sp, &bytes)?;

    let mm = task.mm.as_mut().ok_or(EFAULT)?;
    mm.saved_auxv = auxv.iter().flat_map(|&(k, v)| [k, v]).chain([AT_NULL, 0]).collect();
    let vm = &mut mm.vm;
    vm.start_stack = UserAddr::new(sp);
    vm.arg_start = UserAddr::new(arg_start);
    vm.arg_end = UserAddr::new(env_start);
    vm.env_start = UserAddr::new(env_start);
    vm.env_end = UserAddr::new(env_end);
    mm.update_hiwater();

    task.regs = UserRegs { rip: start, rsp: sp, rflags: 0x202, ..UserRegs::default() };
    super::fpu::set(task, user::FpuState::new());
    task.fs_base = 0;
    user::write_fs_base(0);
    Ok(())
}

/// 16 bytes for AT_RANDOM (from the TSC: not secret, but different per run).
fn random_bytes() -> [u8; 16] {
    let a = crate::arch::cpu::rdtsc();
    let b = a.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    out[8..].copy_from_slice(&b.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    out
}

/// Runs `syscall; ud2` at ring 3 in a throwaway address space to learn
/// how system calls arrive here (see `arch::user::probe_syscall`).
pub fn probe_syscall_path() -> SyscallPath {
    const CODE_VA: u64 = 0x40_0000;
    const CODE: [u8; 4] = [0x0f, 0x05, 0x0f, 0x0b]; // syscall; ud2
    let mut mm = super::mm::mm_alloc().expect("no memory for the syscall probe");
    let page = crate::mm::buddy::alloc_page(crate::mm::gfp::GFP_KERNEL | crate::mm::gfp::__GFP_ZERO).expect("no memory for the syscall probe");
    {
        crate::mm::highmem::KmapLocal::new(page).write(0, &CODE);
    }
    page.set(crate::mm::page::pg::ANON);
    page._mapcount.store(0, core::sync::atomic::Ordering::Relaxed);
    let mut slot = mm.pt.pte_slot(UserAddr::new(CODE_VA), true).expect("no memory for the syscall probe");
    slot.set(&crate::mm::user_mem::KernelUserMem, crate::mm::uvm::Pte::new(crate::mm::buddy::page_to_pfn(page), false, true));
    mm.rss.anon += 1;
    mm.pt.activate();
    let mut regs = UserRegs { rip: CODE_VA, rflags: 0x202, ..UserRegs::default() };
    let result = user::probe_syscall(|| user::enter_user(&mut regs));
    crate::mm::user_mem::activate_kernel_tables();
    // The code page is in no VMA: unmap it by hand.
    mm.pt.zap_page_range(UserAddr::new(CODE_VA), UserAddr::new(CODE_VA + PAGE_SIZE), &mut mm.rss);
    drop(mm);
    match result {
        Ok(path) => path,
        Err(exit) => panic!("syscall probe: unexpected {exit:?} at {:#x}", regs.rip),
    }
}
