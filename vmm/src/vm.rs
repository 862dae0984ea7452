//! One VM from start to finish: [`run_with_streams`], and
//! [`run_with_control`] to drive the guest through its stats channel
//! while it runs.

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kvm_ioctls::{Kvm, VmFd};
use shared::boot::{BootInfo, E820_MAX_ENTRIES};
use shared::layout::{BOOT_INFO_ADDR, BOOT_PGTABLE_END, BOOT_PGTABLE_START, CMDLINE_ADDR, HIGH_RAM_START, INIT_ARGV_ADDR, INIT_ARGV_MAX, MMIO_HOLE_START};
use shared::ports::SERIAL_COM1_IRQ;
use shared::stats::{STATS_IRQ, STATS_MMIO_BASE};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use vmm_sys_util::signal::{register_signal_handler, Killable, SIGRTMIN};

use crate::count::Counter;
use crate::devices::console::{Stream, StreamSender, VcpuEvent};
use crate::devices::stats::StatsDevice;
use crate::devices::{Console, HostIo, SerialDevice};
use crate::e820::{self, MemHole, Protected};
use crate::error::{Error, Result};
use crate::gdb::{self, GdbConfig};
use crate::initramfs::{self, InitImage};
use crate::loader;
use crate::report::RunReport;
use crate::stats::{Control, Hub, StatsMessage};
use crate::vcpu::{block_irq_control, Finished, StatsChannel, VcpuRunner};

/// Where KVM lives on Linux.
pub const KVM_DEVICE: &str = "/dev/kvm";

/// Output messages in flight from the vCPU thread; beyond this the guest
/// waits for the streams to drain.
const OUTPUT_QUEUE: usize = 256;

/// How often the thread that owns the streams looks up from them (for the
/// timeout and a failed control closure).
const PUMP_TICK: Duration = Duration::from_millis(50);

/// What to run.
#[derive(Clone, Debug)]
pub struct VmConfig {
    pub mem_size: u64,
    pub cmdline: String,
    pub kernel: PathBuf,
    pub timeout: Option<Duration>,
    pub mem_holes: Vec<MemHole>,
    /// Appended to the kernel command line after `--`. (An init program's
    /// arguments are in its [`InitImage`] instead.)
    pub init_args: Vec<String>,
    /// The user program to run as init, packed with its files and argv
    /// ([`InitImage::build`]); adds `init=PATH` to the command line.
    pub init: Option<InitImage>,
    /// The KVM device node.
    pub kvm_device: PathBuf,
    /// Single-step the regions the guest marks on `PORT_MARK` and count
    /// their instructions ([`crate::count`]); without it the marks are
    /// ignored.
    pub count_instructions: bool,
    /// With `count_instructions`: also record the address of every counted
    /// instruction ([`crate::count::InstructionCounts::trace`]).
    pub count_trace: bool,
    /// Serve gdb on this address while the guest runs ([`crate::gdb`]).
    pub gdb: Option<GdbConfig>,
    /// Swap areas: a virtio-blk device each, in this order
    /// ([`crate::devices::block`]).
    pub swap: Vec<SwapSpec>,
    /// A virtio-balloon device with free page reporting, after the swap
    /// areas' devices ([`crate::devices::balloon`]).
    pub balloon: bool,
    /// Ask the host for huge pages behind guest RAM (`MADV_HUGEPAGE`);
    /// not with a balloon, whose 4 KiB discards would split them.
    pub host_hugepages: bool,
}

/// `--swap FILE[:SIZE]`: the file backing a swap area, created with SIZE
/// bytes (and a swap header) if it does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapSpec {
    pub path: PathBuf,
    pub size: Option<u64>,
}

impl VmConfig {
    /// The default configuration: 128 MiB and the kernel built with this VMM.
    pub fn new() -> Self {
        Self {
            mem_size: 128 << 20,
            cmdline: String::new(),
            kernel: PathBuf::from(crate::DEFAULT_KERNEL),
            timeout: None,
            mem_holes: Vec::new(),
            init_args: Vec::new(),
            init: None,
            kvm_device: PathBuf::from(KVM_DEVICE),
            count_instructions: false,
            count_trace: false,
            gdb: None,
            swap: Vec::new(),
            balloon: false,
            host_hugepages: true,
        }
    }

    /// The virtio-mmio devices besides the stats channel: a block device
    /// per swap area, then the balloon.
    pub fn virtio_devices(&self) -> usize {
        self.swap.len() + usize::from(self.balloon)
    }

    /// The command line the kernel gets.
    pub fn full_cmdline(&self) -> String {
        let mut line = self.cmdline.trim().to_string();
        if let Some(init) = &self.init {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str("init=");
            line.push_str(&init.path);
        }
        // Linux's way of naming virtio-mmio devices without a device tree.
        for i in 0..self.virtio_devices().min(shared::layout::VIRTIO_MMIO_MAX) {
            let (base, irq) = (shared::layout::VIRTIO_MMIO_BASE + i as u64 * shared::layout::VIRTIO_MMIO_SIZE, shared::layout::VIRTIO_IRQ_BASE + i as u32);
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&format!("virtio_mmio.device=4K@{base:#x}:{irq}"));
        }
        if !self.init_args.is_empty() {
            line.push_str(" -- ");
            line.push_str(&self.init_args.join(" "));
        }
        line
    }
}

impl Default for VmConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The VMM's streams for one run. Only the thread that calls
/// [`run_with_streams`] writes the outputs, so they need not be `Send`;
/// the input goes to the vCPU thread.
pub struct Streams<'a> {
    /// A user program's stdout (`fd` 1 through [`PORT_HOSTIO`]).
    pub stdout: &'a mut dyn Write,
    /// A user program's stderr and the VMM's messages during the run.
    pub stderr: &'a mut dyn Write,
    /// Which of the two also carries the guest's serial console.
    pub console: Stream,
    /// Called with every message from the guest's stats channel, in order,
    /// on the thread that writes the streams (`--stats-out`, `--proc-out`).
    pub stats: Option<&'a mut dyn FnMut(&StatsMessage)>,
    /// What a user program reads from fd 0 (the console's input), through
    /// [`PORT_HOSTIO`]; `None`: an empty input.
    pub stdin: Option<Box<dyn std::io::BufRead + Send>>,
}

impl Streams<'_> {
    fn write(&mut self, stream: Stream, bytes: &[u8]) {
        let out = match stream {
            Stream::Stdout => &mut *self.stdout,
            Stream::Stderr => &mut *self.stderr,
        };
        // A failing host stream (say, a closed pipe) loses only its own
        // copy: the guest runs on and the report keeps everything.
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }
}

/// Boots the guest described by `config`, with its console and a user
/// program's stdout on `console_out` (a program's stderr is only kept in
/// the report), and runs it until it exits, fails or times out. See
/// [`run_with_streams`].
pub fn run(config: &VmConfig, mut console_out: Box<dyn Write + Send>) -> Result<RunReport> {
    let streams = Streams { stdout: &mut *console_out, stderr: &mut std::io::sink(), console: Stream::Stdout, stats: None, stdin: None };
    run_with_streams(config, streams)
}

/// Boots the guest described by `config` and runs it until it exits, fails
/// or times out, writing its output to `streams` as it comes. `Err` means
/// the VMM could not run the guest at all; everything the guest did,
/// however it ended, is an `Ok(RunReport)`.
pub fn run_with_streams(config: &VmConfig, streams: Streams) -> Result<RunReport> {
    run_with_control(config, streams, |_| ()).map(|(report, ())| report)
}

/// [`run_with_streams`], with `f` running on its own thread while the guest
/// runs, driving it through `Control` (see [`crate::stats::control`]).
/// Returns the report and what `f` returned once both the guest and `f` are
/// done. When `f` returns the guest runs on until it powers off (or the
/// timeout): call [`Control::shutdown`] for an orderly end. If `f` panics,
/// the guest is stopped at once and the panic goes on from here. When the
/// guest cannot be started at all (`Err`), `f` does not run.
pub fn run_with_control<F, R>(config: &VmConfig, mut streams: Streams, f: F) -> Result<(RunReport, R)>
where
    F: FnOnce(&Control) -> R + Send,
    R: Send,
{
    let start = Instant::now();

    // Everything the user gave us is checked before KVM is touched.
    let kernel_bytes = std::fs::read(&config.kernel).map_err(|source| Error::KernelRead { path: config.kernel.clone(), source })?;
    let image = loader::inspect_elf(&kernel_bytes).map_err(|reason| Error::KernelFormat { path: config.kernel.clone(), reason })?;
    let protected = [
        Protected { start: 0, end: HIGH_RAM_START, what: "the boot structures (boot info, page tables, command line, init's argv) and legacy area below 1M" },
        Protected { start: image.phys_start, end: image.phys_end, what: "the kernel image" },
    ];
    let e820 = e820::build(config.mem_size, &config.mem_holes, &protected)
        .map_err(|(hole, reason)| Error::MemHole { hole: format!("{:#x}:{:#x}", hole.start, hole.size), reason })?;
    let cmdline = config.full_cmdline();
    let init = match &config.init {
        Some(init) => Some((init, place_init(config.mem_size, &e820, image.phys_end, init)?)),
        None => None,
    };

    let gdb_listener = config.gdb.as_ref().map(|g| gdb::server::bind(g.addr)).transpose()?;

    let kvm = open_kvm(&config.kvm_device)?;
    let vm = kvm.create_vm().map_err(Error::kvm("KVM_CREATE_VM"))?;
    setup_platform(&vm)?;
    let mem = crate::memory::create_guest_memory(config.mem_size)?;
    // With a balloon, the guest gives 4 KiB pages back, which would only
    // split the host's huge pages (and khugepaged could fill them again).
    let host_huge_advised = config.host_hugepages && !config.balloon && crate::memory::advise_hugepages(&mem);
    crate::memory::register_with_kvm(&vm, &mem)?;

    let image = loader::load_kernel_bytes(&mem, &config.kernel, &kernel_bytes, config.mem_size.min(MMIO_HOLE_START))?;
    let mut info = BootInfo::empty();
    info.ram_size = config.mem_size;
    info.cmdline_addr = CMDLINE_ADDR;
    info.cmdline_len = loader::write_cmdline(&mem, &cmdline)?;
    info.boot_pgtable_start = BOOT_PGTABLE_START;
    info.boot_pgtable_end = BOOT_PGTABLE_END;
    info.stats_mmio_base = STATS_MMIO_BASE;
    info.stats_irq = STATS_IRQ;
    info.e820_nr = e820.len().min(E820_MAX_ENTRIES) as u32;
    info.e820[..e820.len()].copy_from_slice(&e820);
    if let Some((init, addr)) = init {
        write_guest(&mem, &init.archive, addr)?;
        (info.initramfs_addr, info.initramfs_len) = (addr, init.archive.len() as u64);
        // argv, then the environment, then the working directory.
        let envp_addr = INIT_ARGV_ADDR + init.argv.len() as u64;
        let cwd_addr = envp_addr + init.env.len() as u64;
        write_guest(&mem, &init.argv, INIT_ARGV_ADDR)?;
        write_guest(&mem, &init.env, envp_addr)?;
        write_guest(&mem, init.cwd.as_bytes(), cwd_addr)?;
        (info.init_argv_addr, info.init_argv_len) = (INIT_ARGV_ADDR, init.argv.len() as u64);
        (info.init_envp_addr, info.init_envp_len) = (envp_addr, init.env.len() as u64);
        (info.init_cwd_addr, info.init_cwd_len) = (cwd_addr, init.cwd.len() as u64);
        (info.init_uid, info.init_gid) = (init.uid, init.gid);
    }
    loader::write_boot_info(&mem, &info)?;
    let cr3 = crate::arch::write_boot_page_tables(&mem).map_err(|e| Error::GuestWrite { addr: BOOT_PGTABLE_START, reason: e.to_string() })?;

    let vcpu = vm.create_vcpu(0).map_err(Error::kvm("KVM_CREATE_VCPU"))?;
    let counter = config.count_instructions.then(|| if config.count_trace { Counter::with_trace() } else { Counter::new() });
    let block_irq = block_irq_control(&kvm);
    crate::arch::setup_cpuid(&kvm, &vcpu)?;
    crate::arch::setup_long_mode(&vcpu, &mem, image.entry, BOOT_INFO_ADDR, cr3)?;

    let (tx, rx) = mpsc::sync_channel(OUTPUT_QUEUE);
    let to = |stream| Box::new(StreamSender::new(stream, tx.clone()));
    let serial_irq = EventFd::new(EFD_NONBLOCK | libc::EFD_CLOEXEC).map_err(Error::EventFd)?;
    vm.register_irqfd(&serial_irq, SERIAL_COM1_IRQ).map_err(Error::kvm("KVM_IRQFD"))?;
    let serial = SerialDevice::new(serial_irq, Console::new(to(streams.console)));
    let hostio = HostIo::new(Console::new(to(Stream::Stdout)), Console::new(to(Stream::Stderr)), to(Stream::Stderr)).with_stdin(streams.stdin.take());
    let stats_irq = EventFd::new(EFD_NONBLOCK | libc::EFD_CLOEXEC).map_err(Error::EventFd)?;
    vm.register_irqfd(&stats_irq, STATS_IRQ).map_err(Error::kvm("KVM_IRQFD"))?;
    let hub = Arc::new(Hub::default());
    let (command_tx, command_rx) = mpsc::channel();
    let stats = StatsChannel {
        device: StatsDevice::new(Some(stats_irq), to(Stream::Stderr)),
        commands: command_rx,
        hub: hub.clone(),
        events: streams.stats.is_some().then(|| tx.clone()),
    };

    if config.virtio_devices() > shared::layout::VIRTIO_MMIO_MAX {
        return Err(Error::TooManySwaps { given: config.swap.len(), max: shared::layout::VIRTIO_MMIO_MAX - usize::from(config.balloon) });
    }
    let mut blocks = Vec::new();
    for (i, spec) in config.swap.iter().enumerate() {
        let file = crate::devices::block::open_swap_file(&spec.path, spec.size)?;
        let irq = EventFd::new(EFD_NONBLOCK | libc::EFD_CLOEXEC).map_err(Error::EventFd)?;
        vm.register_irqfd(&irq, shared::layout::VIRTIO_IRQ_BASE + i as u32).map_err(Error::kvm("KVM_IRQFD"))?;
        let name = format!("swap{i}");
        let device = crate::devices::block::BlockDevice::new(file, &name, Some(irq), to(Stream::Stderr))
            .map_err(|source| Error::Swap(crate::devices::block::SwapError::Io { path: spec.path.clone(), source }))?;
        blocks.push(device);
    }
    let balloon = if config.balloon {
        let irq = EventFd::new(EFD_NONBLOCK | libc::EFD_CLOEXEC).map_err(Error::EventFd)?;
        vm.register_irqfd(&irq, shared::layout::VIRTIO_IRQ_BASE + blocks.len() as u32).map_err(Error::kvm("KVM_IRQFD"))?;
        Some(crate::devices::balloon::BalloonDevice::new(Some(irq), to(Stream::Stderr)))
    } else {
        None
    };

    let balloon_config = balloon.as_ref().map(|b| b.device.config.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let (gdb_link, gdb_server_link) = match &config.gdb {
        Some(g) => {
            let (vcpu_end, server_end) = gdb::link(g.wait);
            (Some(vcpu_end), Some((server_end, gdb::server::Log::new(to(Stream::Stderr)))))
        }
        None => (None, None),
    };
    let runner = VcpuRunner {
        vcpu,
        mem,
        serial,
        rtc: crate::devices::Rtc::default(),
        hostio,
        pageops: crate::devices::PageOps::new(to(Stream::Stderr)),
        stats,
        blocks,
        balloon,
        start,
        boot_time: None,
        stop: stop.clone(),
        counter,
        gdb: gdb_link,
        block_irq,
        gdb_step_pending: false,
    };
    install_kick_handler();
    let handle = std::thread::Builder::new()
        .name("vcpu0".into())
        .spawn(move || {
            let result = runner.run();
            // Every output message went before this one.
            let _ = tx.send(VcpuEvent::Done);
            result
        })
        .map_err(Error::Thread)?;
    // Kicks go to the thread only while it is not joined: `join` takes the
    // handle out under the lock.
    let vcpu_thread: Arc<Mutex<Option<JoinHandle<Result<Finished>>>>> = Arc::new(Mutex::new(Some(handle)));
    let kick: Arc<dyn Fn() + Send + Sync> = {
        let thread = vcpu_thread.clone();
        Arc::new(move || {
            let _ = kick_vcpu(&thread);
        })
    };
    let gdb_server = match (gdb_listener, gdb_server_link, &config.gdb) {
        (Some(listener), Some((link, log)), Some(g)) => Some(gdb::server::start(listener, g.wait, &config.kernel, link, kick.clone(), hub.clone(), log)?),
        _ => None,
    };
    let control = Control::new(command_tx, hub.clone(), kick, balloon_config);
    let abort = AtomicBool::new(false);

    std::thread::scope(|scope| {
        // However this closure is left, control calls stop waiting before
        // the scope waits for the control thread.
        let _finish = FinishOnDrop(&hub);
        let user = std::thread::Builder::new()
            .name("vmm-control".into())
            .spawn_scoped(scope, || {
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&control)));
                if result.is_err() {
                    abort.store(true, Ordering::SeqCst);
                }
                result
            })
            .map_err(Error::Thread)?;

        // This thread owns the streams: it writes what the vCPU sends until
        // the vCPU is done (or its thread died, dropping the sender), time
        // is up, or the control closure failed.
        let deadline = config.timeout.map(|t| Instant::now() + t);
        let finished = loop {
            let now = Instant::now();
            if abort.load(Ordering::SeqCst) || deadline.is_some_and(|d| now >= d) {
                break false;
            }
            let wait = deadline.map_or(PUMP_TICK, |d| (d - now).min(PUMP_TICK));
            match rx.recv_timeout(wait) {
                Ok(event) => {
                    if !streams.handle(event) {
                        break true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break true,
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        if !finished {
            // Kick the vCPU out of KVM_RUN until it notices `stop`;
            // repeated, because a kick that lands between the check and
            // KVM_RUN is lost. Output keeps flowing meanwhile: the vCPU may
            // be waiting to send.
            stop.store(true, Ordering::SeqCst);
            let mut kick = true;
            loop {
                if kick && !kick_vcpu(&vcpu_thread) {
                    break;
                }
                match rx.recv_timeout(Duration::from_millis(10)) {
                    Ok(event) => {
                        if !streams.handle(event) {
                            break;
                        }
                        kick = false;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => kick = true,
                }
            }
        }
        // Anything sent after this fails at once instead of waiting for room.
        drop(rx);
        let handle = vcpu_thread.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or(Error::VcpuThread)?;
        let done = handle.join().map_err(|_| Error::VcpuThread)?;
        if let Some(server) = gdb_server {
            server.stop();
        }
        if let Err(e) = &done {
            hub.finish(format!("the VMM failed: {e}"), false);
        }
        let done = done?;
        let result = match user.join() {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) | Err(panic) => std::panic::resume_unwind(panic),
        };
        let stats = hub.report(done.stats_rejected, done.stats_driver_errors);
        let report = RunReport {
            outcome: done.outcome,
            boot_time: done.boot_time,
            run_time: start.elapsed(),
            console: done.console,
            program_stdout: done.hostio.stdout,
            program_stderr: done.hostio.stderr,
            hostio_rejected: done.hostio.rejected,
            counts: done.counts,
            stats,
            balloon: done.balloon,
            host_hugepages: crate::report::HostHugePages { advised: host_huge_advised, bytes: done.host_huge_bytes },
        };
        Ok((report, result))
    })
}

/// Ends the control API's waits when dropped.
struct FinishOnDrop<'a>(&'a Hub);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish("the VMM stopped running the guest".into(), false);
    }
}

/// Signals the vCPU thread out of `KVM_RUN`; false once it is gone.
fn kick_vcpu<T>(thread: &Mutex<Option<JoinHandle<T>>>) -> bool {
    let guard = thread.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().is_some_and(|h| h.kill(kick_signal()).is_ok())
}

impl Streams<'_> {
    /// Handles one event from the vCPU thread; false for `Done`.
    fn handle(&mut self, event: VcpuEvent) -> bool {
        match event {
            VcpuEvent::Output(stream, bytes) => self.write(stream, &bytes),
            VcpuEvent::Stats(message) => {
                if let Some(hook) = self.stats.as_mut() {
                    hook(&message);
                }
            }
            VcpuEvent::Done => return false,
        }
        true
    }
}

/// Where the initramfs goes ([`initramfs::place`]); checks the argv too,
/// since `InitImage`'s fields are public.
fn place_init(mem_size: u64, e820: &[shared::boot::E820Entry], kernel_end: u64, init: &InitImage) -> Result<u64> {
    if init.argv.len() > INIT_ARGV_MAX {
        return Err(Error::GuestWrite { addr: INIT_ARGV_ADDR, reason: format!("init's argv is {} bytes, the limit is {INIT_ARGV_MAX}", init.argv.len()) });
    }
    let len = init.archive.len() as u64;
    initramfs::place(e820, kernel_end, len).ok_or_else(|| {
        Error::MemSize(format!(
            "{} MiB of guest RAM has no room for the {} KiB initramfs, which needs that much usable RAM in one piece above the kernel image (which ends at {kernel_end:#x}): give a larger --mem",
            mem_size >> 20,
            len.div_ceil(1024),
        ))
    })
}

fn write_guest(mem: &GuestMemoryMmap, bytes: &[u8], addr: u64) -> Result<()> {
    mem.write_slice(bytes, GuestAddress(addr)).map_err(|e| Error::GuestWrite { addr, reason: e.to_string() })
}

fn open_kvm(device: &std::path::Path) -> Result<Kvm> {
    let path = std::ffi::CString::new(device.as_os_str().as_encoded_bytes()).map_err(|_| Error::KvmMissing(device.to_owned()))?;
    let kvm = Kvm::new_with_path(&path).map_err(|e| {
        let io = std::io::Error::from_raw_os_error(e.errno());
        match e.errno() {
            libc::ENOENT => Error::KvmMissing(device.to_owned()),
            libc::EACCES | libc::EPERM => Error::KvmAccess(device.to_owned(), io),
            _ => Error::KvmOpen(device.to_owned(), io),
        }
    })?;
    let version = kvm.get_api_version();
    if version != kvm_bindings::KVM_API_VERSION as i32 {
        return Err(Error::KvmApiVersion(version));
    }
    Ok(kvm)
}

/// The PC platform pieces KVM provides: the TSS area Intel VMX needs, and
/// the in-kernel interrupt controllers (PIC, IOAPIC, LAPIC).
fn setup_platform(vm: &VmFd) -> Result<()> {
    const KVM_TSS_ADDRESS: usize = 0xfffb_d000;
    vm.set_tss_address(KVM_TSS_ADDRESS).map_err(Error::kvm("KVM_SET_TSS_ADDR"))?;
    vm.create_irq_chip().map_err(Error::kvm("KVM_CREATE_IRQCHIP"))
}

fn kick_signal() -> i32 {
    SIGRTMIN()
}

extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Nothing to do: the signal only makes KVM_RUN return EINTR.
}

fn install_kick_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Without a handler the kick would kill the process. If installing
        // it fails, timeouts cannot interrupt a spinning guest, which is
        // the only loss.
        let _ = register_signal_handler(kick_signal(), kick_handler);
    });
}
