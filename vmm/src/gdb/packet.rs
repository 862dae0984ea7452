//! What sits between the socket and `gdbstub`: a filter that checks the
//! framing of what gdb sends, and a connection that writes a packet at a
//! time.

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;

use gdbstub::conn::Connection;

/// The largest packet accepted, `$`, body, `#` and checksum included (the
/// size of `gdbstub`'s packet buffer, which it advertises to gdb).
pub const MAX_PACKET: usize = 4096;

/// The connection as `gdbstub` writes it: bytes gather until a flush (one
/// per packet), instead of one system call (and TCP segment) per byte.
pub struct BufferedConn {
    pub stream: TcpStream,
    pub out: Vec<u8>,
}

impl Connection for BufferedConn {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> std::io::Result<()> {
        self.out.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let out = std::mem::take(&mut self.out);
        Write::write_all(&mut self.stream, &out)?;
        Write::flush(&mut self.stream)
    }
}

/// Checks the framing of what gdb sends before `gdbstub` sees it, so that
/// line noise costs a retransmission instead of the connection: outside a
/// packet only `+` (ack) and `^C` (interrupt) pass; a packet must be
/// `$body#xx` with the right checksum and fit the packet buffer. A bad
/// checksum is answered with `-` (gdb sends it again); anything else
/// malformed is dropped. (`gdbstub` treats all of these as fatal errors.)
#[derive(Default)]
pub struct PacketFilter {
    state: FilterState,
    packet: Vec<u8>,
    /// Bytes and packets dropped so far.
    pub dropped: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum FilterState {
    #[default]
    Outside,
    Body,
    Checksum1,
    Checksum2,
}

impl PacketFilter {
    /// Feeds `data`; what may pass goes to `out`. Returns how many `-`
    /// (retransmit) replies are due.
    pub fn push_all(&mut self, data: &[u8], out: &mut VecDeque<u8>) -> usize {
        data.iter().map(|&b| self.push(b, out) as usize).sum()
    }

    fn push(&mut self, byte: u8, out: &mut VecDeque<u8>) -> bool {
        match self.state {
            FilterState::Outside => match byte {
                b'$' => {
                    self.packet.clear();
                    self.packet.push(byte);
                    self.state = FilterState::Body;
                }
                b'+' | 0x03 => out.push_back(byte),
                _ => self.dropped += 1,
            },
            FilterState::Body => match byte {
                // A new start abandons a truncated packet.
                b'$' => {
                    self.dropped += 1;
                    self.packet.clear();
                    self.packet.push(byte);
                }
                b'#' => {
                    self.packet.push(byte);
                    self.state = FilterState::Checksum1;
                }
                _ => {
                    self.packet.push(byte);
                    if self.packet.len() + 3 > MAX_PACKET {
                        self.dropped += 1;
                        self.state = FilterState::Outside;
                        return true;
                    }
                }
            },
            FilterState::Checksum1 | FilterState::Checksum2 => {
                if !byte.is_ascii_hexdigit() {
                    self.dropped += 1;
                    self.state = FilterState::Outside;
                    return false;
                }
                self.packet.push(byte);
                if self.state == FilterState::Checksum1 {
                    self.state = FilterState::Checksum2;
                    return false;
                }
                self.state = FilterState::Outside;
                let n = self.packet.len();
                let body = &self.packet[1..n - 3];
                let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
                let given = std::str::from_utf8(&self.packet[n - 2..]).ok().and_then(|s| u8::from_str_radix(s, 16).ok());
                if given != Some(sum) {
                    self.dropped += 1;
                    return true;
                }
                out.extend(self.packet.iter().copied());
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(body: &str) -> Vec<u8> {
        let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        format!("${body}#{sum:02x}").into_bytes()
    }

    #[test]
    fn good_packets_and_acks_pass_whole() {
        let mut f = PacketFilter::default();
        let mut out = VecDeque::new();
        let mut input = b"+".to_vec();
        input.extend(packet("qSupported:multiprocess+"));
        input.push(0x03);
        assert_eq!(f.push_all(&input, &mut out), 0);
        assert_eq!(out.into_iter().collect::<Vec<u8>>(), input);
        assert_eq!(f.dropped, 0);
    }

    #[test]
    fn noise_is_dropped_and_bad_checksums_nacked() {
        let mut f = PacketFilter::default();
        let mut out = VecDeque::new();
        let good = packet("g");
        let mut input = b"garbage\xff-".to_vec();
        input.extend(b"$m0,4#00"); // wrong checksum
        input.extend(b"$m0,"); // truncated, then a new packet starts
        input.extend(&good);
        input.extend(b"$g#zz"); // not hex
        assert_eq!(f.push_all(&input, &mut out), 1, "one retransmission asked for");
        assert_eq!(out.into_iter().collect::<Vec<u8>>(), good);
        // 9 bytes of noise, the bad checksum, the truncated packet, and
        // `$g#z` plus the second `z`.
        assert_eq!(f.dropped, 9 + 1 + 1 + 2);
    }

    #[test]
    fn oversized_packets_are_refused() {
        let mut f = PacketFilter::default();
        let mut out = VecDeque::new();
        let big = packet(&"x".repeat(MAX_PACKET));
        assert_eq!(f.push_all(&big, &mut out), 1);
        assert!(out.is_empty());
        let fits = packet(&"x".repeat(MAX_PACKET - 4));
        assert_eq!(f.push_all(&fits, &mut out), 0);
        assert_eq!(out.len(), MAX_PACKET);
    }

    /// What gdb sends may be anything (line noise, a hostile client):
    /// whatever passes is acks, interrupts and whole packets with the right
    /// checksum that fit the buffer; good packets between the noise get
    /// through intact.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Splits what passed into its pieces, failing on anything else.
        fn framed(out: &[u8]) -> Result<Vec<Vec<u8>>, String> {
            let mut pieces = Vec::new();
            let mut i = 0;
            while i < out.len() {
                match out[i] {
                    b'+' | 0x03 => {
                        pieces.push(vec![out[i]]);
                        i += 1;
                    }
                    b'$' => {
                        let hash = out[i..].iter().position(|&b| b == b'#').ok_or("a packet without #")? + i;
                        let end = hash + 3;
                        let p = out.get(i..end).ok_or("a cut checksum")?;
                        let sum = p[1..p.len() - 3].iter().fold(0u8, |a, &b| a.wrapping_add(b));
                        if std::str::from_utf8(&p[p.len() - 2..]).ok().and_then(|s| u8::from_str_radix(s, 16).ok()) != Some(sum) {
                            return Err(format!("a bad checksum passed: {p:?}"));
                        }
                        if p.len() > MAX_PACKET {
                            return Err("an oversized packet passed".into());
                        }
                        pieces.push(p.to_vec());
                        i = end;
                    }
                    b => return Err(format!("a stray byte {b:#x} passed")),
                }
            }
            Ok(pieces)
        }

        fn noise() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'$'), Just(b'#'), Just(b'0'), Just(b'f'), Just(b'+')], 0..64)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn anything_in_only_framed_packets_out(chunks in proptest::collection::vec(noise(), 0..16)) {
                let mut f = PacketFilter::default();
                let mut out = VecDeque::new();
                for c in &chunks {
                    f.push_all(c, &mut out);
                }
                let out: Vec<u8> = out.into_iter().collect();
                framed(&out).map_err(TestCaseError::fail)?;
            }

            #[test]
            fn good_packets_survive_noise_before_them(before in noise(), body in "[a-zA-Z0-9:;,]{0,40}") {
                let mut f = PacketFilter::default();
                let mut out = VecDeque::new();
                f.push_all(&before, &mut out);
                // Whatever the noise left half-open, an ack and a packet
                // that follow a completed frame pass.
                let mut filler = Vec::new();
                filler.extend_from_slice(b"#00");
                f.push_all(&filler, &mut out);
                out.clear();
                let p = packet(&body);
                f.push_all(&p, &mut out);
                let got: Vec<u8> = out.into_iter().collect();
                prop_assert_eq!(got, p);
            }
        }
    }
}
