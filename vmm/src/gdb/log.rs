//! The gdb thread's messages, on the run's stderr stream.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// VMM messages from the gdb thread (to the run's stderr stream).
#[derive(Clone)]
pub struct Log(Arc<Mutex<Box<dyn Write + Send>>>);

impl Log {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Log(Arc::new(Mutex::new(out)))
    }

    pub fn say(&self, message: impl AsRef<str>) {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "vmm: gdb: {}", message.as_ref()).and_then(|()| out.flush());
    }
}
