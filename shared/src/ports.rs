//! I/O ports of the VMM's devices.

/// 16550 UART, COM1 (8 registers).
pub const SERIAL_COM1: u16 = 0x3f8;
pub const SERIAL_COM1_IRQ: u32 = 4;

/// `outl` the guest's exit code here: the VMM stops and exits with it.
pub const PORT_EXIT: u16 = 0x500;

/// The exit code the kernel powers off with when init cannot be executed
/// at all (not an ELF file, dynamically linked, malformed, not
/// executable): what a shell reports for a command it found but cannot
/// execute. The console says why.
pub const EXIT_INIT_NOT_EXECUTABLE: u32 = 126;

/// `outl` [`BOOT_TIMER_MM_READY`] here once memory management is up: the VMM
/// records the time since it started.
pub const PORT_BOOT_TIMER: u16 = 0x504;
pub const BOOT_TIMER_MM_READY: u32 = 0x6d6d_7264; // "mmrd"

/// `outl` the guest-physical address (< 4 GiB) of a
/// [`crate::boot::PanicReport`] here when the kernel panics.
pub const PORT_PANIC: u16 = 0x508;

/// `outl` the guest-physical address (< 4 GiB, 8-byte aligned) of a
/// [`HostWrite`] here: the VMM copies the bytes it describes to its own
/// stdout (`fd` 1) or stderr (`fd` 2), or (`fd` 0) fills them from its
/// stdin, as much as one read gives (0: the end of the input). This is how
/// a user program's output leaves the guest and its input comes in: one
/// exit per call, not one per byte.
pub const PORT_HOSTIO: u16 = 0x50c;

/// `outl` the guest-physical address (< 4 GiB, 8-byte aligned) of a
/// [`HostWrite`] with `fd` 1 here: its bytes go to the guest console, the
/// same stream (and capture) as COM1's, and `written` says how many. The
/// kernel's log leaves this way a line per exit instead of a byte per
/// exit; a VMM without the port leaves `written` alone, and the kernel
/// falls back to COM1.
pub const PORT_CONSOLE: u16 = 0x518;

/// Most bytes one [`HostWrite`] may carry.
pub const HOSTIO_MAX_LEN: u64 = 64 << 10;

/// A write request for [`PORT_HOSTIO`]. The VMM validates everything: a
/// request outside guest RAM, longer than [`HOSTIO_MAX_LEN`] or for another
/// `fd` is ignored (and logged once) and `written` is set to 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
pub struct HostWrite {
    /// 0: stdin (a read), 1: stdout, 2: stderr.
    pub fd: u32,
    pub _pad: u32,
    /// Guest-physical address of the bytes.
    pub addr: u64,
    pub len: u64,
    /// Set by the VMM: the bytes written (or read).
    pub written: u64,
}

/// `outl` the guest-physical address (< 4 GiB, 8-byte aligned) of a
/// [`PageOp`] here: the VMM zeroes ([`PAGEOP_ZERO`]) or copies
/// ([`PAGEOP_COPY`]) whole pages of guest RAM for the guest and stores in
/// `done` how many it did. Where guest ring 0 is emulated one exit costs a
/// fraction of clearing a page in the guest; the kernel measures both at
/// boot and uses the cheaper (`clear_page=` and `copy_page=` override).
pub const PORT_PAGEOP: u16 = 0x514;
pub const PAGEOP_ZERO: u32 = 1;
pub const PAGEOP_COPY: u32 = 2;
/// Most pages one [`PageOp`] names.
pub const PAGEOP_MAX_PAGES: usize = 16;

/// A request for [`PORT_PAGEOP`]. Everything is guest-controlled and
/// checked: an unknown `op`, a `count` above [`PAGEOP_MAX_PAGES`], or a
/// page not wholly inside guest RAM stops the request there (`done` says
/// how far it got) and is logged once.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
pub struct PageOp {
    pub op: u32,
    pub count: u32,
    /// Set by the VMM: the pages done, in order.
    pub done: u32,
    pub _pad: u32,
    /// The pages zeroed, or copied to: page frame numbers.
    pub dst: [u64; PAGEOP_MAX_PAGES],
    /// For [`PAGEOP_COPY`]: the page each `dst` gets its contents from.
    pub src: [u64; PAGEOP_MAX_PAGES],
}

/// `outl` here to mark a region of guest code for instruction counting
/// (`vmm run --count-instructions`): [`MARK_BEGIN`] | id before it,
/// [`MARK_END`] | id after it. The VMM single-steps the guest between the
/// two and reports the count for `id` (see [`mark_name`]).
pub const PORT_MARK: u16 = 0x510;
pub const MARK_BEGIN: u32 = 0x1_0000;
pub const MARK_END: u32 = 0x2_0000;
/// `MARK_RELABEL | id` inside a region: from now on it is region `id` (a
/// fault's kind is known only once the handler has decided).
pub const MARK_RELABEL: u32 = 0x4_0000;
/// Region ids.
pub const MARK_ANON_WRITE_FAULT: u32 = 1;
pub const MARK_ALLOC_PAGE: u32 = 2;
pub const MARK_KMALLOC64: u32 = 3;
pub const MARK_FILE_READ_FAULT: u32 = 4;
pub const MARK_SIGNAL_DELIVERY: u32 = 5;
pub const MARK_SIGRETURN: u32 = 6;
pub const MARK_FUTEX_WAIT_WAKE: u32 = 7;
pub const MARK_THREAD_CREATE: u32 = 8;
pub const MARK_THREAD_EXIT: u32 = 9;
/// Histogram regions (`count=syscalls,faults,switches,irqs`): the VMM sums
/// them by id (calls, total, mean, max) instead of listing each one.
pub const MARK_FAULT_ANON: u32 = 20;
pub const MARK_FAULT_ZERO: u32 = 21;
pub const MARK_FAULT_COW: u32 = 22;
pub const MARK_FAULT_FILE_READ: u32 = 23;
pub const MARK_FAULT_SHARED_WRITE: u32 = 24;
pub const MARK_FAULT_STACK: u32 = 25;
pub const MARK_FAULT_OTHER: u32 = 26;
pub const MARK_FAULT_FAILED: u32 = 27;
pub const MARK_FAULT_SWAP_IN: u32 = 28;
pub const MARK_CONTEXT_SWITCH: u32 = 30;
pub const MARK_INTERRUPT: u32 = 31;
pub const MARK_RECLAIM: u32 = 32;
/// `MARK_SYSCALL_BASE + nr`: system call `nr` (below 0x1000).
pub const MARK_SYSCALL_BASE: u32 = 0x1000;
pub const MARK_SYSCALL_END: u32 = 0x2000;

/// Whether the VMM sums region `id` into its histogram.
pub const fn mark_is_histogram(id: u32) -> bool {
    id >= MARK_FAULT_ANON && id < MARK_SYSCALL_END
}

/// The name of a marked region, as reports print it.
pub const fn mark_name(id: u32) -> &'static str {
    match id {
        MARK_ANON_WRITE_FAULT => "anonymous write fault (do_anonymous_page, page from the allocator, PTE set)",
        MARK_ALLOC_PAGE => "alloc_page(GFP_KERNEL) + __free_page",
        MARK_KMALLOC64 => "kmalloc(64, GFP_KERNEL) + kfree",
        MARK_FILE_READ_FAULT => "file read fault (page-cache page mapped read-only)",
        MARK_SIGNAL_DELIVERY => "signal delivery to a handler (dequeue, rt_sigframe written, registers set)",
        MARK_SIGRETURN => "rt_sigreturn (frame read and checked, registers and FPU state restored)",
        MARK_FUTEX_WAIT_WAKE => "futex wait/wake pair (FUTEX_WAIT sleeps, the other thread runs and FUTEX_WAKEs it, the waiter returns)",
        MARK_THREAD_CREATE => "thread creation (clone with CLONE_THREAD: task, stack, shared parts)",
        MARK_THREAD_EXIT => "thread exit and join (exit, clear_child_tid woken, switch, the task freed)",
        MARK_FAULT_ANON => "page fault: anonymous page (write, new zeroed page)",
        MARK_FAULT_ZERO => "page fault: zero page (read of anonymous memory)",
        MARK_FAULT_COW => "page fault: copy on write (a private copy, of a page or of a file's page)",
        MARK_FAULT_FILE_READ => "page fault: file or shmem page mapped read-only (with fault-around)",
        MARK_FAULT_SHARED_WRITE => "page fault: shared mapping made writable (the object's page)",
        MARK_FAULT_STACK => "page fault: stack growth",
        MARK_FAULT_OTHER => "page fault: PTE already right, write permission restored, or PROT_NONE undone",
        MARK_FAULT_FAILED => "page fault: SIGSEGV or SIGBUS",
        MARK_FAULT_SWAP_IN => "page fault: swap-in (the page read back from its swap slot)",
        MARK_CONTEXT_SWITCH => "context switch (switch_to to the next task's first instruction back)",
        MARK_INTERRUPT => "timer interrupt from user mode",
        MARK_RECLAIM => "reclaim pass outside a fault (kswapd or an allocation: up to 32 pages freed)",
        _ => "unnamed region",
    }
}
