//! The host I/O port ([`PORT_HOSTIO`]): how a user program's `write(1, ...)`
//! and `write(2, ...)` leave the guest, one exit per write, and how its
//! reads of fd 0 get the VMM's stdin (a request for `fd` 0).
//!
//! The guest `outl`s the guest-physical address of a [`HostWrite`]; the VMM
//! reads it and the bytes it names from guest memory, hands the bytes to
//! its own stdout or stderr, and stores the count in `written`. Everything
//! in the request is guest-controlled: a request that is misaligned, not in
//! guest RAM, too long or for another fd is refused with `written = 0`,
//! counted, and reported on the VMM's stderr the first time each kind of
//! mistake happens (a guest looping on a bad request cannot flood the log).

use std::io::{BufRead, Write};
use std::mem::offset_of;

use shared::ports::{HostWrite, HOSTIO_MAX_LEN, PORT_CONSOLE, PORT_HOSTIO};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
use zerocopy::IntoBytes;

use super::Console;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("request at {0:#x} is not 8-byte aligned")]
    Unaligned(u64),
    #[error("request at {0:#x} is not inside guest RAM")]
    RequestOutsideRam(u64),
    #[error("fd {0} is neither stdin (0), stdout (1) nor stderr (2)")]
    BadFd(u32),
    #[error("length {0} is above the limit of {HOSTIO_MAX_LEN} bytes")]
    TooLong(u64),
    #[error("bytes [{addr:#x}, +{len:#x}) are not inside guest RAM")]
    DataOutsideRam { addr: u64, len: u64 },
}

impl Rejected {
    const KINDS: usize = 5;

    fn kind(&self) -> usize {
        match self {
            Self::Unaligned(_) => 0,
            Self::RequestOutsideRam(_) => 1,
            Self::BadFd(_) => 2,
            Self::TooLong(_) => 3,
            Self::DataOutsideRam { .. } => 4,
        }
    }
}

/// A valid request: where the bytes go and what they are.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub fd: u32,
    pub bytes: Vec<u8>,
}

/// Reads and checks the request at guest-physical `addr`.
pub fn read_request(mem: &GuestMemoryMmap, addr: u64) -> Result<Request, Rejected> {
    if !addr.is_multiple_of(8) {
        return Err(Rejected::Unaligned(addr));
    }
    let mut req = HostWrite::default();
    mem.read_slice(req.as_mut_bytes(), GuestAddress(addr)).map_err(|_| Rejected::RequestOutsideRam(addr))?;
    if req.fd != 1 && req.fd != 2 {
        return Err(Rejected::BadFd(req.fd));
    }
    if req.len > HOSTIO_MAX_LEN {
        return Err(Rejected::TooLong(req.len));
    }
    let outside = Rejected::DataOutsideRam { addr: req.addr, len: req.len };
    // Checked before the read so that a wrapping range is refused, not
    // truncated; `len` is at most HOSTIO_MAX_LEN, so the buffer is small.
    req.addr.checked_add(req.len).ok_or(outside)?;
    let mut bytes = vec![0u8; req.len as usize];
    mem.read_slice(&mut bytes, GuestAddress(req.addr)).map_err(|_| outside)?;
    Ok(Request { fd: req.fd, bytes })
}

/// What the port collected over a run.
pub struct HostIoOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Requests refused as invalid.
    pub rejected: u64,
}

/// The device: a program's stdin, stdout and stderr, and the VMM's own
/// log.
pub struct HostIo {
    stdout: Console,
    stderr: Console,
    /// Where reads of fd 0 come from (`None`: an empty input).
    stdin: Option<Box<dyn BufRead + Send>>,
    /// Where the VMM reports refused requests (its stderr).
    log: super::LogOnce<{ Rejected::KINDS }>,
    rejected: u64,
}

impl HostIo {
    pub fn new(stdout: Console, stderr: Console, log: Box<dyn Write + Send>) -> Self {
        Self { stdout, stderr, stdin: None, log: super::LogOnce::new(log), rejected: 0 }
    }

    /// Reads of fd 0 get `input` (until its end) instead of an empty input.
    pub fn with_stdin(mut self, input: Option<Box<dyn BufRead + Send>>) -> Self {
        self.stdin = input;
        self
    }

    /// A read request (`fd` 0): up to `len` bytes of the input into guest
    /// memory at `addr`, at most one line, as a terminal in canonical mode
    /// gives them (so a shell's `read` takes its line and leaves the rest
    /// to the next reader, as with a pipe); `None` when `addr` holds
    /// another kind of request.
    fn read_input(&mut self, mem: &GuestMemoryMmap, addr: u64) -> Option<Result<u64, Rejected>> {
        let mut req = HostWrite::default();
        if !addr.is_multiple_of(8) || mem.read_slice(req.as_mut_bytes(), GuestAddress(addr)).is_err() || req.fd != 0 {
            return None;
        }
        if req.len > HOSTIO_MAX_LEN {
            return Some(Err(Rejected::TooLong(req.len)));
        }
        let outside = Rejected::DataOutsideRam { addr: req.addr, len: req.len };
        if req.addr.checked_add(req.len).is_none() || !mem.check_range(GuestAddress(req.addr), req.len as usize) {
            return Some(Err(outside));
        }
        let mut line = Vec::new();
        if let Some(input) = self.stdin.as_mut() {
            // A failed read ends the input, as EOF would.
            let avail = loop {
                match input.fill_buf() {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r.unwrap_or(&[]),
                }
            };
            let want = avail.len().min(req.len as usize);
            let n = avail[..want].iter().position(|&b| b == b'\n').map_or(want, |i| i + 1);
            line.extend_from_slice(&avail[..n]);
            input.consume(n);
        }
        Some(mem.write_slice(&line, GuestAddress(req.addr)).map(|()| line.len() as u64).map_err(|_| outside))
    }

    /// Serves a guest write of `addr` to [`PORT_HOSTIO`].
    pub fn request(&mut self, mem: &GuestMemoryMmap, addr: u64) {
        let result = match self.read_input(mem, addr) {
            Some(r) => r,
            None => read_request(mem, addr).map(|req| {
                let out = if req.fd == 1 { &mut self.stdout } else { &mut self.stderr };
                // The consoles never fail (a dead host stream only stops
                // forwarding), and one write leaves as one message.
                let _ = out.write_all(&req.bytes);
                let _ = out.flush();
                req.bytes.len() as u64
            }),
        };
        self.answer(mem, addr, PORT_HOSTIO, result);
    }

    /// Serves a guest write of `addr` to [`PORT_CONSOLE`]: the request's
    /// bytes go to `console` (the serial console's), checked as
    /// [`PORT_HOSTIO`]'s are.
    pub fn console_request(&mut self, mem: &GuestMemoryMmap, addr: u64, console: &mut Console) {
        let result = read_request(mem, addr).map(|req| {
            let _ = console.write_all(&req.bytes);
            req.bytes.len() as u64
        });
        self.answer(mem, addr, PORT_CONSOLE, result);
    }

    /// Stores the count in the request, or reports why it was refused.
    fn answer(&mut self, mem: &GuestMemoryMmap, addr: u64, port: u16, result: Result<u64, Rejected>) {
        let written = match result {
            Ok(n) => n,
            Err(why) => {
                self.rejected += 1;
                self.log.report(why.kind(), || {
                    let name = if port == PORT_CONSOLE { "PORT_CONSOLE" } else { "PORT_HOSTIO" };
                    format!("vmm: {name} ({port:#x}): {why}; request ignored (later requests refused for this reason are only counted)\n")
                });
                if let Rejected::RequestOutsideRam(_) = why {
                    return;
                }
                0
            }
        };
        let field = addr + offset_of!(HostWrite, written) as u64;
        // The request was readable, so this lands inside it; a failure
        // (the guest cannot make one) would only leave `written` stale.
        let _ = mem.write_slice(&written.to_le_bytes(), GuestAddress(field));
    }

    /// Forwards unfinished lines.
    pub fn flush(&mut self) {
        let _ = self.stdout.flush();
        let _ = self.stderr.flush();
    }

    pub fn finish(mut self) -> HostIoOutput {
        self.flush();
        HostIoOutput { stdout: self.stdout.into_captured(), stderr: self.stderr.into_captured(), rejected: self.rejected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::console::{Stream, StreamSender, VcpuEvent};
    use std::sync::mpsc::{sync_channel, Receiver};

    const RAM: u64 = 0x10000;
    const HIGH: u64 = 0x10_0000;

    /// Two separate 64 KiB RAM ranges, like RAM below and above a hole.
    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM as usize), (GuestAddress(HIGH), RAM as usize)]).unwrap()
    }

    fn put(mem: &GuestMemoryMmap, at: u64, req: HostWrite) {
        mem.write_slice(req.as_bytes(), GuestAddress(at)).unwrap();
    }

    fn written(mem: &GuestMemoryMmap, at: u64) -> u64 {
        let mut b = [0u8; 8];
        mem.read_slice(&mut b, GuestAddress(at + 24)).unwrap();
        u64::from_le_bytes(b)
    }

    fn req(fd: u32, addr: u64, len: u64) -> HostWrite {
        HostWrite { fd, _pad: 0, addr, len, written: 0xdead }
    }

    fn device() -> (HostIo, Receiver<VcpuEvent>) {
        let (tx, rx) = sync_channel(64);
        let console = |s| Console::new(Box::new(StreamSender::new(s, tx.clone())));
        let dev = HostIo::new(console(Stream::Stdout), console(Stream::Stderr), Box::new(StreamSender::new(Stream::Stderr, tx.clone())));
        (dev, rx)
    }

    fn sent(rx: &Receiver<VcpuEvent>) -> Vec<(Stream, String)> {
        rx.try_iter()
            .map(|e| match e {
                VcpuEvent::Output(s, b) => (s, String::from_utf8(b).unwrap()),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn reads_of_fd_0_give_the_input_a_line_at_a_time_then_end() {
        let mem = mem();
        let (dev, _rx) = device();
        let mut dev = dev.with_stdin(Some(Box::new(std::io::Cursor::new(b"ab\ncdef".to_vec()))));
        let mut got = Vec::new();
        for _ in 0..4 {
            put(&mem, 0x1000, req(0, 0x2000, 3));
            dev.request(&mem, 0x1000);
            let n = written(&mem, 0x1000) as usize;
            let mut b = vec![0u8; n];
            mem.read_slice(&mut b, GuestAddress(0x2000)).unwrap();
            got.push(String::from_utf8(b).unwrap());
        }
        assert_eq!(got, ["ab\n", "cde", "f", ""], "a line, at most len bytes, then the end");
        // Without an input: the end at once. Outside RAM: refused.
        let (mut bare, _rx) = device();
        put(&mem, 0x1000, req(0, 0x2000, 3));
        bare.request(&mem, 0x1000);
        assert_eq!(written(&mem, 0x1000), 0);
        put(&mem, 0x1000, req(0, RAM - 1, 3));
        dev.request(&mem, 0x1000);
        assert_eq!(written(&mem, 0x1000), 0, "a buffer that leaves RAM");
    }

    #[test]
    fn valid_requests() {
        let mem = mem();
        mem.write_slice(b"hello", GuestAddress(0x2000)).unwrap();
        put(&mem, 0x1000, req(1, 0x2000, 5));
        assert_eq!(read_request(&mem, 0x1000), Ok(Request { fd: 1, bytes: b"hello".to_vec() }));
        // Data exactly at the end of a RAM range, and an empty write
        // anywhere: both fine.
        put(&mem, 0x1000, req(2, RAM - 5, 5));
        assert_eq!(read_request(&mem, 0x1000).map(|r| r.bytes.len()), Ok(5));
        put(&mem, 0x1000, req(2, u64::MAX, 0));
        assert_eq!(read_request(&mem, 0x1000), Ok(Request { fd: 2, bytes: vec![] }));
        // The largest write, in the upper range.
        put(&mem, HIGH, req(1, HIGH, HOSTIO_MAX_LEN));
        assert_eq!(read_request(&mem, HIGH).map(|r| r.bytes.len() as u64), Ok(HOSTIO_MAX_LEN));
    }

    #[test]
    fn invalid_requests() {
        let mem = mem();
        let cases = [
            (0x1004, req(1, 0x2000, 5), Rejected::Unaligned(0x1004)),
            // The struct straddles the end of RAM, or is outside it.
            (RAM - 16, req(1, 0x2000, 5), Rejected::RequestOutsideRam(RAM - 16)),
            (RAM, req(1, 0x2000, 5), Rejected::RequestOutsideRam(RAM)),
            (0x1000, req(0, 0x2000, 5), Rejected::BadFd(0)),
            (0x1000, req(3, 0x2000, 5), Rejected::BadFd(3)),
            (0x1000, req(1, 0x2000, HOSTIO_MAX_LEN + 1), Rejected::TooLong(HOSTIO_MAX_LEN + 1)),
            (0x1000, req(1, u64::MAX, u64::MAX), Rejected::TooLong(u64::MAX)),
            // Bytes that run past the end of a range, sit in the gap
            // between ranges, or wrap around.
            (0x1000, req(1, RAM - 4, 5), Rejected::DataOutsideRam { addr: RAM - 4, len: 5 }),
            (0x1000, req(1, RAM + 0x1000, 1), Rejected::DataOutsideRam { addr: RAM + 0x1000, len: 1 }),
            (0x1000, req(1, u64::MAX - 2, 8), Rejected::DataOutsideRam { addr: u64::MAX - 2, len: 8 }),
        ];
        for (at, request, why) in cases {
            if at + 32 <= RAM {
                put(&mem, at, request);
            } else if at < RAM {
                // Write what fits of the straddling struct.
                mem.write_slice(&request.as_bytes()[..(RAM - at) as usize], GuestAddress(at)).unwrap();
            }
            assert_eq!(read_request(&mem, at), Err(why), "{request:?} at {at:#x}");
        }
    }

    /// The kernel's console port: a line goes to the console it is given,
    /// checked as the user output is (a bad request writes nothing there
    /// and answers 0).
    #[test]
    fn console_requests_reach_the_console_and_bad_ones_are_refused() {
        let mem = mem();
        let (mut dev, rx) = device();
        let (tx, console_rx) = sync_channel(64);
        let mut console = Console::new(Box::new(StreamSender::new(Stream::Stdout, tx)));
        mem.write_slice(b"[    0.000001] a line\n", GuestAddress(0x2000)).unwrap();
        put(&mem, 0x1000, req(1, 0x2000, 22));
        dev.console_request(&mem, 0x1000, &mut console);
        assert_eq!(written(&mem, 0x1000), 22);
        put(&mem, 0x1000, req(1, 0x2000, HOSTIO_MAX_LEN + 1));
        dev.console_request(&mem, 0x1000, &mut console);
        assert_eq!(written(&mem, 0x1000), 0);
        put(&mem, 0x1000, req(1, u64::MAX - 4, 22));
        dev.console_request(&mem, 0x1000, &mut console);
        assert_eq!(written(&mem, 0x1000), 0);
        drop(console);
        let lines: Vec<String> = console_rx
            .try_iter()
            .map(|e| match e {
                VcpuEvent::Output(_, b) => String::from_utf8(b).unwrap(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(lines.concat(), "[    0.000001] a line\n");
        let log: String = sent(&rx).into_iter().map(|(_, t)| t).collect();
        assert!(log.contains("vmm: PORT_CONSOLE (0x518): length"), "{log}");
        assert!(log.contains("vmm: PORT_CONSOLE (0x518): bytes"), "{log}");
    }

    #[test]
    fn the_device_writes_streams_and_reports_once_per_reason() {
        let mem = mem();
        let (mut dev, rx) = device();
        mem.write_slice(b"out\nerr", GuestAddress(0x2000)).unwrap();
        put(&mem, 0x1000, req(1, 0x2000, 4));
        dev.request(&mem, 0x1000);
        assert_eq!(written(&mem, 0x1000), 4);
        put(&mem, 0x1000, req(2, 0x2004, 3));
        dev.request(&mem, 0x1000);
        assert_eq!(written(&mem, 0x1000), 3);
        assert_eq!(sent(&rx), [(Stream::Stdout, "out\n".into()), (Stream::Stderr, "err".into())]);

        for _ in 0..3 {
            put(&mem, 0x1000, req(7, 0x2000, 4));
            dev.request(&mem, 0x1000);
            assert_eq!(written(&mem, 0x1000), 0);
        }
        dev.request(&mem, RAM + 0x100); // nothing there to write back to
        let log = sent(&rx);
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log[0].1.contains("fd 7 is neither stdin (0), stdout (1) nor stderr (2)"), "{log:?}");
        assert!(log[1].1.contains("not inside guest RAM"), "{log:?}");

        let out = dev.finish();
        assert_eq!((out.stdout, out.stderr, out.rejected), (b"out\n".to_vec(), b"err".to_vec(), 4));
    }
}
