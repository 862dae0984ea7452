//! The page-operations port ([`PORT_PAGEOP`]): the guest asks the VMM to
//! zero or copy whole pages of its RAM. Where guest ring 0 is emulated an
//! instruction at a time (kvm_pvm), one exit and a host `memset`/`memcpy`
//! cost a small fraction of clearing or copying 4 KiB in the guest; on a
//! VMX/SVM host the guest does it faster itself. The guest kernel measures
//! both ways at boot and picks the cheaper.
//!
//! The request is guest-controlled: it is read once, every page is checked
//! to lie wholly inside guest RAM, and anything wrong stops the request
//! where it is (`done` counts what was done), logged once per kind.

use std::io::Write;
use std::mem::offset_of;

use shared::ports::{PageOp, PAGEOP_COPY, PAGEOP_MAX_PAGES, PAGEOP_ZERO, PORT_PAGEOP};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use zerocopy::FromBytes;

const PAGE: usize = 4096;

/// Why a request stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("request at {0:#x} is not 8-byte aligned or not inside guest RAM")]
    BadRequest(u64),
    #[error("unknown operation {0}")]
    BadOp(u32),
    #[error("count {0} is above the limit of {PAGEOP_MAX_PAGES} pages")]
    TooMany(u32),
    #[error("page frame {0:#x} is not inside guest RAM")]
    OutsideRam(u64),
}

impl Rejected {
    const KINDS: usize = 4;

    fn kind(&self) -> usize {
        match self {
            Rejected::BadRequest(_) => 0,
            Rejected::BadOp(_) => 1,
            Rejected::TooMany(_) => 2,
            Rejected::OutsideRam(_) => 3,
        }
    }
}

/// The device: counts and a log for refused requests.
pub struct PageOps {
    log: super::LogOnce<{ Rejected::KINDS }>,
    /// Requests (or parts of them) refused.
    pub rejected: u64,
    /// Pages zeroed and copied.
    pub zeroed: u64,
    pub copied: u64,
}

impl PageOps {
    pub fn new(log: Box<dyn Write + Send>) -> Self {
        Self { log: super::LogOnce::new(log), rejected: 0, zeroed: 0, copied: 0 }
    }

    /// Serves the request at guest-physical `addr`.
    pub fn request(&mut self, mem: &GuestMemoryMmap, addr: u64) {
        let (done, err) = self.serve(mem, addr);
        if let Some(why) = err {
            self.rejected += 1;
            self.log.report(why.kind(), || {
                format!("vmm: PORT_PAGEOP ({PORT_PAGEOP:#x}): {why}; request stopped (later ones refused for this reason are only counted)\n")
            });
            if let Rejected::BadRequest(_) = why {
                return;
            }
        }
        let field = addr + offset_of!(PageOp, done) as u64;
        // The request was readable, so this lands inside it.
        let _ = mem.write_slice(&done.to_le_bytes(), GuestAddress(field));
    }

    fn serve(&mut self, mem: &GuestMemoryMmap, addr: u64) -> (u32, Option<Rejected>) {
        let mut raw = [0u8; core::mem::size_of::<PageOp>()];
        if !addr.is_multiple_of(8) || mem.read_slice(&mut raw, GuestAddress(addr)).is_err() {
            return (0, Some(Rejected::BadRequest(addr)));
        }
        let Ok(req) = PageOp::read_from_bytes(&raw) else { return (0, Some(Rejected::BadRequest(addr))) };
        if req.count as usize > PAGEOP_MAX_PAGES {
            return (0, Some(Rejected::TooMany(req.count)));
        }
        let frame = |pfn: u64| pfn.checked_mul(PAGE as u64).map(GuestAddress);
        let mut buf = [0u8; PAGE];
        for i in 0..req.count as usize {
            let Some(dst) = frame(req.dst[i]) else { return (i as u32, Some(Rejected::OutsideRam(req.dst[i]))) };
            let ok = match req.op {
                PAGEOP_ZERO => {
                    let ok = mem.write_slice(&[0u8; PAGE], dst).is_ok();
                    self.zeroed += u64::from(ok);
                    ok
                }
                PAGEOP_COPY => {
                    let Some(src) = frame(req.src[i]) else { return (i as u32, Some(Rejected::OutsideRam(req.src[i]))) };
                    if mem.read_slice(&mut buf, src).is_err() {
                        return (i as u32, Some(Rejected::OutsideRam(req.src[i])));
                    }
                    let ok = mem.write_slice(&buf, dst).is_ok();
                    self.copied += u64::from(ok);
                    ok
                }
                op => return (i as u32, Some(Rejected::BadOp(op))),
            };
            if !ok {
                return (i as u32, Some(Rejected::OutsideRam(req.dst[i])));
            }
        }
        (req.count, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::TestLog;
    use zerocopy::IntoBytes;

    fn setup() -> (GuestMemoryMmap, PageOps, TestLog) {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 16 * PAGE)]).unwrap();
        let log = TestLog::default();
        (mem, PageOps::new(Box::new(log.clone())), log)
    }

    fn put(mem: &GuestMemoryMmap, at: u64, req: &PageOp) {
        mem.write_slice(req.as_bytes(), GuestAddress(at)).unwrap();
    }

    fn done(mem: &GuestMemoryMmap, at: u64) -> u32 {
        mem.read_obj(GuestAddress(at + offset_of!(PageOp, done) as u64)).unwrap()
    }

    #[test]
    fn zeroes_and_copies_whole_pages() {
        let (mem, mut dev, _) = setup();
        mem.write_slice(&[7u8; PAGE], GuestAddress(3 * PAGE as u64)).unwrap();
        mem.write_slice(&[9u8; PAGE], GuestAddress(4 * PAGE as u64)).unwrap();
        let mut req = PageOp { op: PAGEOP_COPY, count: 1, ..Default::default() };
        req.dst[0] = 5;
        req.src[0] = 3;
        put(&mem, 0, &req);
        dev.request(&mem, 0);
        assert_eq!(done(&mem, 0), 1);
        let mut page = [0u8; PAGE];
        mem.read_slice(&mut page, GuestAddress(5 * PAGE as u64)).unwrap();
        assert!(page.iter().all(|&b| b == 7));
        let mut req = PageOp { op: PAGEOP_ZERO, count: 2, ..Default::default() };
        req.dst[..2].copy_from_slice(&[3, 4]);
        put(&mem, 0, &req);
        dev.request(&mem, 0);
        assert_eq!(done(&mem, 0), 2);
        for pfn in [3u64, 4] {
            mem.read_slice(&mut page, GuestAddress(pfn * PAGE as u64)).unwrap();
            assert!(page.iter().all(|&b| b == 0), "page {pfn}");
        }
        assert_eq!((dev.zeroed, dev.copied, dev.rejected), (2, 1, 0));
    }

    #[test]
    fn hostile_requests_stop_where_they_go_wrong_and_are_logged_once() {
        let (mem, mut dev, log) = setup();
        // The second page is outside RAM: the first is still done.
        let mut req = PageOp { op: PAGEOP_ZERO, count: 2, ..Default::default() };
        req.dst[..2].copy_from_slice(&[2, 1 << 40]);
        put(&mem, 0, &req);
        dev.request(&mem, 0);
        assert_eq!(done(&mem, 0), 1);
        // A copy from a frame whose address overflows, an unknown op, too
        // many pages: nothing done.
        for (op, count, src) in [(PAGEOP_COPY, 1, u64::MAX), (99, 1, 0), (PAGEOP_ZERO, 17, 0)] {
            let mut req = PageOp { op, count, ..Default::default() };
            req.dst[0] = 2;
            req.src[0] = src;
            put(&mem, 0, &req);
            dev.request(&mem, 0);
            assert_eq!(done(&mem, 0), 0, "op {op} count {count}");
        }
        // Requests outside RAM or misaligned are ignored (nothing to write back).
        dev.request(&mem, 1 << 40);
        dev.request(&mem, 4);
        assert_eq!(dev.rejected, 6);
        // The same mistake twice is logged once.
        let mut again = PageOp { op: 99, count: 1, ..Default::default() };
        again.dst[0] = 2;
        put(&mem, 0, &again);
        dev.request(&mem, 0);
        assert_eq!(log.lines().len(), 4, "{:?}", log.lines());
    }
}
