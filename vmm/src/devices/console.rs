//! Where guest output goes: the serial console and a user program's stdout
//! and stderr each keep a bounded copy for the [`crate::RunReport`] and send
//! their bytes on to one of the VMM's two output streams.
//!
//! The streams belong to the caller of [`crate::vm::run_with_streams`] and
//! need not be `Send`, so the vCPU thread never writes them itself: it sends
//! [`VcpuEvent::Output`] messages over a bounded channel to the calling
//! thread, which writes them out while it waits for the guest. The bound
//! makes a guest that writes faster than the streams drain wait, as a
//! direct write would.

use std::io::{self, Write};
use std::sync::mpsc::SyncSender;

/// How much output a run keeps in memory per source; beyond it the oldest
/// half is dropped (a crash dump needs only the tail).
const CAPTURE_LIMIT: usize = 32 << 20;

/// Output is forwarded at each newline, or once this much is pending
/// without one (the UART hands over one byte per exit; one message per line
/// keeps the channel traffic small).
const FORWARD_CHUNK: usize = 4096;

/// One of the VMM's output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What the vCPU thread tells the thread that owns the output streams.
#[derive(Debug)]
pub enum VcpuEvent {
    /// Bytes for a stream.
    Output(Stream, Vec<u8>),
    /// A message from the guest's stats channel.
    Stats(std::sync::Arc<crate::stats::StatsMessage>),
    /// The vCPU thread is done; nothing follows.
    Done,
}

/// A `Write` that sends its bytes to `stream` through the channel.
#[derive(Clone)]
pub struct StreamSender {
    stream: Stream,
    tx: SyncSender<VcpuEvent>,
}

impl StreamSender {
    pub fn new(stream: Stream, tx: SyncSender<VcpuEvent>) -> Self {
        Self { stream, tx }
    }
}

impl Write for StreamSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !buf.is_empty() {
            self.tx.send(VcpuEvent::Output(self.stream, buf.to_vec())).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the output thread is gone"))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A source of guest output: a host stream plus a bounded copy.
pub struct Console {
    out: Box<dyn Write + Send>,
    /// Set once writing to `out` failed: the guest keeps running and the
    /// capture keeps working.
    out_failed: bool,
    /// Written but not yet forwarded to `out`.
    pending: Vec<u8>,
    captured: Vec<u8>,
}

impl Console {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out, out_failed: false, pending: Vec::new(), captured: Vec::new() }
    }

    /// Everything written (its tail, past 32 MiB). Call [`Write::flush`]
    /// first to forward a last unfinished line.
    pub fn into_captured(self) -> Vec<u8> {
        self.captured
    }

    fn forward(&mut self) {
        if !self.out_failed && !self.pending.is_empty() && (self.out.write_all(&self.pending).is_err() || self.out.flush().is_err()) {
            self.out_failed = true;
        }
        self.pending.clear();
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.captured.len() + buf.len() > CAPTURE_LIMIT {
            let drop = (CAPTURE_LIMIT / 2).min(self.captured.len());
            self.captured.drain(..drop);
        }
        self.captured.extend_from_slice(buf);
        self.pending.extend_from_slice(buf);
        if buf.contains(&b'\n') || self.pending.len() >= FORWARD_CHUNK {
            self.forward();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.forward();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    fn drain(rx: &std::sync::mpsc::Receiver<VcpuEvent>) -> Vec<(Stream, Vec<u8>)> {
        rx.try_iter()
            .map(|e| match e {
                VcpuEvent::Output(s, b) => (s, b),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn forwards_whole_lines_and_captures_everything() {
        let (tx, rx) = sync_channel(16);
        let mut console = Console::new(Box::new(StreamSender::new(Stream::Stderr, tx)));
        for &b in b"hello\nwor" {
            console.write_all(&[b]).unwrap();
        }
        assert_eq!(drain(&rx), [(Stream::Stderr, b"hello\n".to_vec())]);
        console.flush().unwrap();
        assert_eq!(drain(&rx), [(Stream::Stderr, b"wor".to_vec())]);
        console.flush().unwrap();
        assert!(drain(&rx).is_empty(), "an empty flush sends nothing");
        assert_eq!(console.into_captured(), b"hello\nwor");
    }

    #[test]
    fn a_long_line_is_forwarded_in_chunks() {
        let (tx, rx) = sync_channel(16);
        let mut console = Console::new(Box::new(StreamSender::new(Stream::Stdout, tx)));
        for _ in 0..FORWARD_CHUNK + 10 {
            console.write_all(b"x").unwrap();
        }
        let sent = drain(&rx);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.len(), FORWARD_CHUNK);
    }

    #[test]
    fn a_dead_stream_does_not_stop_the_capture() {
        let (tx, rx) = sync_channel(16);
        drop(rx);
        let mut console = Console::new(Box::new(StreamSender::new(Stream::Stdout, tx)));
        console.write_all(b"a\nb\n").unwrap();
        assert!(console.out_failed);
        assert_eq!(console.into_captured(), b"a\nb\n");
    }
}
