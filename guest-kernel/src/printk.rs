//! printk: timestamped lines on the serial console, Linux style
//! (`[    0.001234] message`).

use core::fmt::{self, Write};

use crate::drivers::serial::Serial;
use crate::sync::SpinLock;

static CONSOLE: SpinLock<Serial> = SpinLock::new(Serial::com1());

pub fn console_init() {
    CONSOLE.lock().init();
}

/// Writes to the serial port, starting each line with the time since boot.
pub struct LineWriter<'a> {
    serial: &'a mut Serial,
    at_line_start: bool,
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.at_line_start {
                let ns = crate::time::uptime_ns();
                let mut stamp = StackString::<24>::new();
                let _ = write!(stamp, "[{:5}.{:06}] ", ns / 1_000_000_000, (ns / 1000) % 1_000_000);
                self.serial.write_bytes(stamp.as_bytes());
            }
            self.serial.write_bytes(piece.as_bytes());
            self.at_line_start = piece.ends_with('\n');
        }
        Ok(())
    }
}

/// Formats `args` as one or more console lines.
pub fn _printk(args: fmt::Arguments) {
    let mut serial = CONSOLE.lock();
    let mut w = LineWriter { serial: &mut serial, at_line_start: true };
    let _ = w.write_fmt(args);
    if !w.at_line_start {
        let _ = w.write_str("\n");
    }
}

/// Prints a line (a trailing newline is added when missing).
#[macro_export]
macro_rules! printk {
    ($($arg:tt)*) => {
        $crate::printk::_printk(format_args!($($arg)*))
    };
}

/// Runs `f` with a console writer while holding the console lock, for
/// multi-line reports (memory maps, dumps) that must not interleave.
pub fn with_console(f: impl FnOnce(&mut dyn Write)) {
    let mut serial = CONSOLE.lock();
    let mut w = LineWriter { serial: &mut serial, at_line_start: true };
    f(&mut w);
}

/// A console writer for the panic path: ignores the lock, which the code
/// that just failed may hold.
pub fn emergency_console() -> LineWriter<'static> {
    // SAFETY: called only on the way to stopping the machine; one CPU runs
    // the kernel, and the interrupted holder never resumes.
    let serial = unsafe { CONSOLE.force_get() };
    LineWriter { serial, at_line_start: true }
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
