//! The control socket of `vmm run --control-socket PATH`: a Unix stream
//! socket on which other programs drive the running guest, one request
//! line and one answer line per connection (as Firecracker's API socket,
//! in miniature and in plain text). `vmm balloon PATH [SIZE]` is its
//! client.
//!
//! Requests:
//! - `balloon`: the balloon's size, `ok target <pages> actual <pages>`;
//! - `balloon <SIZE>`: asks the guest's balloon to hold SIZE (bytes, with
//!   an optional K, M or G suffix; whole pages), answers at once;
//! - `balloon <SIZE> wait`: the same, answering once the driver has got
//!   there (or with the reason it did not).
//!
//! An answer starts with `ok ` or `error: `. A connection that sends
//! nothing within [`REQUEST_TIMEOUT`] is closed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Control;

/// How long a client has to send its whole request line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request line read.
const REQUEST_MAX: usize = 4096;
/// How often the server looks for a client or for the guest's end.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// The balloon's page size.
const PAGE: u64 = 4096;

/// A bound control socket; the path is removed when it is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path`, which must not exist yet (a stale socket of another
    /// run is not taken over silently).
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener, path: path.to_path_buf() })
    }

    /// Serves requests until the guest has stopped.
    pub fn serve(&self, control: &Control) {
        while !control.stopped() {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let _ = serve_one(stream, control);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
                Err(_) => std::thread::sleep(ACCEPT_POLL),
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_one(stream: UnixStream, control: &Control) -> std::io::Result<()> {
    let line = read_request(&stream)?;
    let answer = match answer(line.trim(), control) {
        Ok(text) => format!("ok {text}"),
        Err(why) => format!("error: {why}"),
    };
    (&stream).write_all(format!("{answer}\n").as_bytes())
}

/// The request line: up to a newline or [`REQUEST_MAX`] bytes, all of it
/// within [`REQUEST_TIMEOUT`] (a client that trickles bytes gets no more
/// time than one that sends nothing).
fn read_request(mut stream: &UnixStream) -> std::io::Result<String> {
    use std::io::Read;
    stream.set_nonblocking(false)?;
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 256];
    while !bytes.contains(&b'\n') && bytes.len() < REQUEST_MAX {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no whole request in time"));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            // The read's own timeout: the deadline decides above.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len()).min(REQUEST_MAX);
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

/// The answer to one request line, without its `ok `/`error: ` prefix.
fn answer(request: &str, control: &Control) -> Result<String, String> {
    let words: Vec<&str> = request.split_whitespace().collect();
    match words.as_slice() {
        ["balloon"] => balloon_state(control),
        ["balloon", size, rest @ ..] => {
            let wait = match rest {
                [] => false,
                ["wait"] => true,
                _ => return Err(format!("unexpected {:?} after the size (`balloon SIZE [wait]`)", rest.join(" "))),
            };
            let pages = balloon_pages(size)?;
            control.set_balloon(pages).map_err(|e| e.to_string())?;
            if wait {
                control.wait_balloon().map_err(|e| e.to_string())?;
            }
            balloon_state(control)
        }
        [] => Err("empty request; try `balloon` or `balloon SIZE [wait]`".into()),
        [other, ..] => Err(format!("unknown request {other:?}; try `balloon` or `balloon SIZE [wait]`")),
    }
}

fn balloon_state(control: &Control) -> Result<String, String> {
    let (target, actual) = control.balloon().ok_or("the guest has no balloon (run with --balloon)")?;
    Ok(format!("target {target} actual {actual}"))
}

/// SIZE as whole 4 KiB pages the balloon's 32-bit field can hold.
pub fn balloon_pages(size: &str) -> Result<u32, String> {
    let bytes = crate::size::parse_size(size)?;
    if !bytes.is_multiple_of(PAGE) {
        return Err(format!("{size}: the balloon takes whole 4 KiB pages"));
    }
    u32::try_from(bytes / PAGE).map_err(|_| format!("{size}: more pages than the balloon can count"))
}

/// The client: sends `request` to the socket at `path` and returns the
/// answer line.
pub fn request(path: &Path, request: &str, timeout: Duration) -> std::io::Result<String> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    (&stream).write_all(format!("{request}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the VMM closed the connection without an answer"));
    }
    Ok(line.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that sends its request a byte at a time, slower than the
    /// deadline, gets no more than the deadline in all.
    #[test]
    fn a_trickling_client_gets_the_deadline_in_all() {
        let (server, client) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            for b in b"balloon 64M\n" {
                if (&client).write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        });
        let start = std::time::Instant::now();
        let err = read_request(&server).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(start.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(2), "{:?}", start.elapsed());
        drop(server);
        writer.join().unwrap();
    }

    #[test]
    fn a_request_line_is_read_whole() {
        let (server, client) = UnixStream::pair().unwrap();
        (&client).write_all(b"balloon 4M wait\nmore").unwrap();
        assert_eq!(read_request(&server).unwrap(), "balloon 4M wait");
    }

    #[test]
    fn sizes_become_whole_pages() {
        assert_eq!(balloon_pages("64M"), Ok(16384));
        assert_eq!(balloon_pages("0"), Ok(0));
        assert!(balloon_pages("4097").unwrap_err().contains("whole 4 KiB pages"));
        assert!(balloon_pages("64T").unwrap_err().contains("more pages"));
        assert!(balloon_pages("lots").is_err());
    }
}
