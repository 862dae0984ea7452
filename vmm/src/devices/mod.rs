//! Emulated devices.
pub mod balloon;
pub mod block;
pub mod console;
pub mod hostio;
pub mod pageop;
pub mod rtc;
pub mod serial;
pub mod stats;
pub mod virtio_chain;
pub mod virtio_mmio;

pub use console::Console;

/// The VMM's log of a device's refusals: each of `N` kinds of mistake is
/// written the first time it happens, so that a guest repeating one cannot
/// flood it (the device counts them all).
pub struct LogOnce<const N: usize> {
    log: Box<dyn std::io::Write + Send>,
    logged: [bool; N],
}

impl<const N: usize> LogOnce<N> {
    pub fn new(log: Box<dyn std::io::Write + Send>) -> Self {
        Self { log, logged: [false; N] }
    }

    /// Writes `line()` if mistake `kind` (below `N`) was not logged yet.
    pub fn report(&mut self, kind: usize, line: impl FnOnce() -> String) {
        if !std::mem::replace(&mut self.logged[kind], true) {
            // One write, so the line travels as one message.
            let _ = self.log.write_all(line().as_bytes());
        }
    }
}

/// A `Write` that keeps what it is given, for tests of what devices log.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct TestLog(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for TestLog {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl TestLog {
    pub(crate) fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap().lines().map(str::to_string).collect()
    }
}
pub use hostio::HostIo;
pub use pageop::PageOps;
pub use rtc::Rtc;
pub use serial::SerialDevice;
pub use stats::StatsDevice;
