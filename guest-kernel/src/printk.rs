//! printk: timestamped lines on the serial console, Linux style
//! (`[    0.001234] message`).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::drivers::hostio::{console_write, CONSOLE_LINE};
use crate::drivers::serial::Serial;
use crate::sync::SpinLock;

/// Linux's log levels: a message reaches the console when its level is
/// below the console's (`console_loglevel`).
pub const KERN_EMERG: u8 = 0;
pub const KERN_ERR: u8 = 3;
pub const KERN_WARNING: u8 = 4;
pub const KERN_INFO: u8 = 6;

/// Linux's `console_loglevel`: 7 by default (everything but debug), 4
/// with `quiet` (errors and worse), `loglevel=N` as given.
static CONSOLE_LOGLEVEL: AtomicU8 = AtomicU8::new(7);

/// Applies `quiet` and `loglevel=` from the kernel command line.
pub fn set_console_loglevel(cmdline: &crate::cmdline::Cmdline) {
    if cmdline.has("quiet") {
        CONSOLE_LOGLEVEL.store(KERN_WARNING, Relaxed);
    }
    if let Some(level) = cmdline.get("loglevel").and_then(|v| v.parse::<u8>().ok()) {
        CONSOLE_LOGLEVEL.store(level.min(15), Relaxed);
    }
}

/// Where console lines go: the VMM's console port, a line per exit, or
/// (a VMM without it) the serial port, a byte per exit.
struct Console {
    serial: Serial,
    /// The console port answered (false once it did not).
    port: bool,
}

impl Console {
    fn emit(&mut self, bytes: &[u8]) {
        if self.port && console_write(bytes) {
            return;
        }
        self.port = false;
        self.serial.write_bytes(bytes);
    }
}

static CONSOLE: SpinLock<Console> = SpinLock::new(Console { serial: Serial::com1(), port: true });

pub fn console_init() {
    CONSOLE.lock().serial.init();
}

/// Writes console lines, each started with the time since boot, gathered
/// and sent a line at a time; lines at or above the console's level are
/// dropped.
pub struct LineWriter<'a> {
    console: &'a mut Console,
    line: StackString<CONSOLE_LINE>,
    at_line_start: bool,
    shown: bool,
}

impl<'a> LineWriter<'a> {
    fn new(console: &'a mut Console, level: u8) -> Self {
        Self { console, line: StackString::new(), at_line_start: true, shown: level < CONSOLE_LOGLEVEL.load(Relaxed) }
    }

    /// Sends what is gathered.
    fn flush(&mut self) {
        if self.line.len > 0 {
            self.console.emit(self.line.as_bytes());
            self.line.len = 0;
        }
    }
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !self.shown {
            return Ok(());
        }
        for piece in s.split_inclusive('\n') {
            if self.at_line_start {
                let ns = crate::time::uptime_ns();
                let _ = write!(self.line, "[{:5}.{:06}] ", ns / 1_000_000_000, (ns / 1000) % 1_000_000);
            }
            let mut rest = piece.as_bytes();
            while !rest.is_empty() {
                let room = CONSOLE_LINE - self.line.len;
                if room == 0 {
                    self.flush();
                    continue;
                }
                let n = rest.len().min(room);
                self.line.buf[self.line.len..self.line.len + n].copy_from_slice(&rest[..n]);
                self.line.len += n;
                rest = &rest[n..];
            }
            self.at_line_start = piece.ends_with('\n');
            if self.at_line_start {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` as one or more console lines at `level`.
pub fn _printk(level: u8, args: fmt::Arguments) {
    let mut console = CONSOLE.lock();
    let mut w = LineWriter::new(&mut console, level);
    let _ = w.write_fmt(args);
    if !w.at_line_start {
        let _ = w.write_str("\n");
    }
}

/// Prints a line (a trailing newline is added when missing) at
/// `KERN_INFO`, the level of the kernel's routine messages.
#[macro_export]
macro_rules! printk {
    ($($arg:tt)*) => {
        $crate::printk::_printk($crate::printk::KERN_INFO, format_args!($($arg)*))
    };
}

/// Prints an emergency line (`KERN_EMERG`, as Linux's reboot messages).
#[macro_export]
macro_rules! pr_emerg {
    ($($arg:tt)*) => {
        $crate::printk::_printk($crate::printk::KERN_EMERG, format_args!($($arg)*))
    };
}

/// Prints an error line (`KERN_ERR`: shown even with `quiet`).
#[macro_export]
macro_rules! pr_err {
    ($($arg:tt)*) => {
        $crate::printk::_printk($crate::printk::KERN_ERR, format_args!($($arg)*))
    };
}

/// Runs `f` with a console writer while holding the console lock, for
/// multi-line reports (memory maps, dumps) that must not interleave, at
/// `KERN_INFO`.
pub fn with_console(f: impl FnOnce(&mut dyn Write)) {
    with_console_level(KERN_INFO, f);
}

/// [`with_console`] at `level` (bug reports: `KERN_ERR`).
pub fn with_console_level(level: u8, f: impl FnOnce(&mut dyn Write)) {
    let mut console = CONSOLE.lock();
    let mut w = LineWriter::new(&mut console, level);
    f(&mut w);
}

/// A console writer for the panic path (`KERN_EMERG`): ignores the lock,
/// which the code that just failed may hold.
pub fn emergency_console() -> LineWriter<'static> {
    // SAFETY: called only on the way to stopping the machine; one CPU runs the kernel, and the interrupted holder never resumes.
    let console = unsafe { CONSOLE.force_get() };
    LineWriter::new(console, KERN_EMERG)
}

/// A fixed-capacity string for formatting without allocation; output past
/// the capacity is dropped.
pub struct StackString<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackString<N> {
    pub const fn new() -> Self {
        Self { buf: [0; N], len: 0 }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for StackString<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for StackString<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
