//! Where the guest's console output goes: a host stream, plus a bounded
//! copy for tests and crash dumps.

use std::io::{self, Write};

/// How much console output a run keeps in memory; beyond it the oldest half
/// is dropped (a crash dump needs only the tail).
const CAPTURE_LIMIT: usize = 32 << 20;

pub struct Console {
    out: Box<dyn Write + Send>,
    /// Set once writing to `out` failed (say, a closed pipe): the guest
    /// keeps running and the capture keeps working.
    out_failed: bool,
    captured: Vec<u8>,
}

impl Console {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out, out_failed: false, captured: Vec::new() }
    }

    pub fn into_captured(mut self) -> Vec<u8> {
        let _ = self.out.flush();
        self.captured
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.out_failed && self.out.write_all(buf).is_err() {
            self.out_failed = true;
        }
        if self.captured.len() + buf.len() > CAPTURE_LIMIT {
            self.captured.drain(..CAPTURE_LIMIT / 2);
        }
        self.captured.extend_from_slice(buf);
        if buf.contains(&b'\n') && !self.out_failed && self.out.flush().is_err() {
            self.out_failed = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out_failed {
            let _ = self.out.flush();
        }
        Ok(())
    }
}
