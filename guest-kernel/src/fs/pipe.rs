//! Pipes (Linux `fs/pipe.c`, reduced): a bounded byte queue with a read
//! end and a write end. Reading an empty pipe whose write end is still
//! open, or writing a full one, would block: the operations here return
//! `EAGAIN` and the system-call layer sleeps and retries (unless the
//! descriptor is `O_NONBLOCK`). Reading an empty pipe with no writers is
//! end of file; writing with no readers is `EPIPE` (and SIGPIPE).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::fs::errno::{Errno, EAGAIN, EPIPE};
use crate::sync::SpinLock;

/// Linux's default pipe capacity (16 pages).
pub const PIPE_CAPACITY: usize = 64 * 1024;

pub struct Pipe {
    buf: SpinLock<VecDeque<u8>>,
    readers: AtomicU32,
    writers: AtomicU32,
    /// Opens of each end ever made (Linux `r_counter`, `w_counter`): a
    /// FIFO opener waiting for the other side waits for these to move.
    read_opens: AtomicU32,
    write_opens: AtomicU32,
}

/// One end of a pipe; dropping it closes that end.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

impl Pipe {
    /// A new pipe's read and write ends.
    pub fn pair() -> (PipeEnd, PipeEnd) {
        let pipe = Self::fifo();
        (pipe.open_end(false), pipe.open_end(true))
    }

    /// A pipe with no ends yet: a FIFO's, opened by name.
    pub fn fifo() -> Arc<Self> {
        Arc::new(Pipe {
            buf: SpinLock::new(VecDeque::new()),
            readers: AtomicU32::new(0),
            writers: AtomicU32::new(0),
            read_opens: AtomicU32::new(0),
            write_opens: AtomicU32::new(0),
        })
    }

    /// A new read or write end. The first end opened after all were
    /// closed finds the pipe empty (Linux frees a FIFO's buffer with its
    /// last end).
    pub fn open_end(self: &Arc<Self>, write: bool) -> PipeEnd {
        if self.readers.load(Relaxed) == 0 && self.writers.load(Relaxed) == 0 {
            self.buf.lock().clear();
        }
        let (count, opens) = if write { (&self.writers, &self.write_opens) } else { (&self.readers, &self.read_opens) };
        count.fetch_add(1, Relaxed);
        opens.fetch_add(1, Relaxed);
        PipeEnd { pipe: self.clone(), write }
    }

    /// Open ends: (readers, writers).
    pub fn ends(&self) -> (u32, u32) {
        (self.readers.load(Relaxed), self.writers.load(Relaxed))
    }

    /// Opens ever made: (read ends, write ends).
    pub fn opens(&self) -> (u32, u32) {
        (self.read_opens.load(Relaxed), self.write_opens.load(Relaxed))
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.buf.lock().len()
    }
}

impl PipeEnd {
    pub fn is_write_end(&self) -> bool {
        self.write
    }

    /// The pipe this end belongs to.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    /// A number naming the pipe (both ends): what `/proc/PID/fd` shows as
    /// `pipe:[N]`.
    pub fn id(&self) -> u64 {
        // The allocation's address, folded to look like an inode number.
        (Arc::as_ptr(&self.pipe) as u64 >> 4) & 0xff_ffff
    }

    /// Bytes read; 0 at end of file; `EAGAIN` when empty with writers.
    pub fn read(&self, out: &mut [u8]) -> Result<usize, Errno> {
        let mut buf = self.pipe.buf.lock();
        if buf.is_empty() {
            return if self.pipe.writers.load(Relaxed) == 0 || out.is_empty() { Ok(0) } else { Err(EAGAIN) };
        }
        let n = out.len().min(buf.len());
        for (o, b) in out.iter_mut().zip(buf.drain(..n)) {
            *o = b;
        }
        Ok(n)
    }

    /// Bytes written (as many as fit); `EAGAIN` when full; `EPIPE` with no
    /// readers.
    pub fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        if self.pipe.readers.load(Relaxed) == 0 {
            return Err(EPIPE);
        }
        let mut buf = self.pipe.buf.lock();
        let room = PIPE_CAPACITY - buf.len();
        if room == 0 && !data.is_empty() {
            return Err(EAGAIN);
        }
        let n = room.min(data.len());
        buf.extend(&data[..n]);
        Ok(n)
    }
}

impl PipeEnd {
    /// What `poll` reports for this end (Linux `pipe_poll`): the read end
    /// is readable with data, and hung up with no writers; the write end
    /// is writable with room, and in error with no readers.
    pub fn poll(&self) -> u16 {
        use crate::fs::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
        let len = self.pipe.buf.lock().len();
        if self.write {
            let mut ev = if len < PIPE_CAPACITY { POLLOUT | POLLWRNORM } else { 0 };
            if self.pipe.readers.load(Relaxed) == 0 {
                ev |= POLLERR;
            }
            ev
        } else {
            let mut ev = if len > 0 { POLLIN | POLLRDNORM } else { 0 };
            if self.pipe.writers.load(Relaxed) == 0 {
                ev |= POLLHUP;
            }
            ev
        }
    }
}

impl Drop for PipeEnd {
    /// A closed end changes what the other side sees (end of file,
    /// `EPIPE`): its waiters look again.
    fn drop(&mut self) {
        if self.write {
            self.pipe.writers.fetch_sub(1, Relaxed);
        } else {
            self.pipe.readers.fetch_sub(1, Relaxed);
        }
        crate::fs::wake_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_and_ends_close() {
        let (r, w) = Pipe::pair();
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), Err(EAGAIN));
        assert_eq!(w.write(b"hello"), Ok(5));
        assert_eq!(r.read(&mut out[..3]), Ok(3));
        assert_eq!(&out[..3], b"hel");
        assert_eq!(r.read(&mut out), Ok(2));
        let big = alloc::vec![7u8; PIPE_CAPACITY + 10];
        assert_eq!(w.write(&big), Ok(PIPE_CAPACITY));
        assert_eq!(w.write(b"x"), Err(EAGAIN));
        drop(w);
        let mut sink = alloc::vec![0u8; PIPE_CAPACITY];
        assert_eq!(r.read(&mut sink), Ok(PIPE_CAPACITY));
        assert_eq!(r.read(&mut out), Ok(0), "no writers and empty: end of file");
        let (r, w) = Pipe::pair();
        drop(r);
        assert_eq!(w.write(b"x"), Err(EPIPE));
    }

    #[test]
    fn poll_follows_the_contents_and_the_other_end() {
        use crate::fs::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
        let (r, w) = Pipe::pair();
        assert_eq!(r.poll(), 0, "empty, with a writer: nothing yet");
        assert_eq!(w.poll(), POLLOUT | POLLWRNORM);
        w.write(b"x").unwrap();
        assert_eq!(r.poll(), POLLIN | POLLRDNORM);
        w.write(&alloc::vec![0u8; PIPE_CAPACITY]).unwrap();
        assert_eq!(w.poll(), 0, "full");
        drop(w);
        assert_eq!(r.poll(), POLLIN | POLLRDNORM | POLLHUP, "data left and no writer");
        let (r, w) = Pipe::pair();
        drop(r);
        assert_eq!(w.poll(), POLLOUT | POLLWRNORM | POLLERR);
    }
}
