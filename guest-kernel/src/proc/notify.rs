//! What the process layer tells the layers above it, through hooks they
//! register (Linux's notifier chains and `console_drivers`, in miniature):
//! the process layer imports nothing from `drivers`.
//!
//! - the stats driver, the balloon driver and kswapd observe ticks, safe
//!   points and exits ([`register_observer`]);
//! - the console device writes what processes write to fds 0..2, and
//!   gives what they read ([`register_console`]);
//! - a memory balloon gives pages back before the OOM killer chooses a
//!   victim ([`register_oom_notifier`], Linux's `oom_notify_list`).

use crate::sync::Once;

/// Hooks of a layer that watches processes (the stats channel's driver).
pub struct Observer {
    /// A timer tick, in the interrupt handler: only flag work.
    pub tick: fn(),
    /// A safe point before a task returns to user mode.
    pub poll: fn(),
    /// Whether flagged work waits (the idle loop runs it instead of halting).
    pub pending: fn() -> bool,
    /// Runs the flagged work (from the idle loop).
    pub run_pending: fn(),
    /// A task exited with this wait status.
    pub task_exit: fn(u32, i32),
}

/// The observers: the stats driver, the balloon driver, kswapd.
static OBSERVERS: [Once<Observer>; 3] = [Once::new(), Once::new(), Once::new()];

/// Registers an observer (at boot; a fourth is refused).
pub fn register_observer(o: Observer) {
    let mut o = Some(o);
    for slot in &OBSERVERS {
        match o.take() {
            Some(obs) => o = slot.set(obs).err(),
            None => return,
        }
    }
    if o.is_some() {
        printk!("notify: no room for another observer");
    }
}

fn observers() -> impl Iterator<Item = &'static Observer> {
    OBSERVERS.iter().filter_map(Once::get)
}

pub(crate) fn tick() {
    observers().for_each(|o| (o.tick)());
}

pub(crate) fn poll() {
    observers().for_each(|o| (o.poll)());
}

pub(crate) fn pending() -> bool {
    observers().any(|o| (o.pending)())
}

pub(crate) fn run_pending() {
    observers().for_each(|o| (o.run_pending)());
}

pub(crate) fn task_exit(pid: u32, status: i32) {
    observers().for_each(|o| (o.task_exit)(pid, status));
}

/// Writes bytes to the console's stream 1 (stdout) or 2 (stderr); returns
/// how many were taken.
pub type ConsoleWrite = fn(u32, &[u8]) -> usize;

/// Reads the console's input into a buffer; 0 at its end.
pub type ConsoleRead = fn(&mut [u8]) -> usize;

static CONSOLE: Once<(ConsoleWrite, ConsoleRead)> = Once::new();

/// Registers the console device (once, at boot).
pub fn register_console(write: ConsoleWrite, read: ConsoleRead) {
    let _ = CONSOLE.set((write, read));
}

/// The console's write: the registered device, or nowhere (every byte
/// taken) before one is registered.
pub(crate) fn console_write(stream: u32, bytes: &[u8]) -> usize {
    match CONSOLE.get() {
        Some((write, _)) => write(stream, bytes),
        None => bytes.len(),
    }
}

/// The console's read: the registered device's input, or end of file
/// before one is registered.
pub(crate) fn console_read(buf: &mut [u8]) -> usize {
    match CONSOLE.get() {
        Some((_, read)) => read(buf),
        None => 0,
    }
}

/// Frees memory for the OOM path; returns the pages it freed.
pub type OomNotifier = fn() -> u64;

static OOM_NOTIFIER: Once<OomNotifier> = Once::new();

/// Registers the OOM notifier (once, at boot: the balloon's deflate on
/// OOM).
pub fn register_oom_notifier(f: OomNotifier) {
    let _ = OOM_NOTIFIER.set(f);
}

/// Runs the OOM notifier, if any: the pages it freed.
pub(crate) fn oom_notify() -> u64 {
    OOM_NOTIFIER.get().map_or(0, |f| f())
}
