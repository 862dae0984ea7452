//! A virtio-blk device (virtio 1.2, section 5.2) backed by a file on the
//! host: what `vmm run --swap FILE[:SIZE]` gives the guest as a swap area.
//!
//! One request queue. A request is a chain of a device-readable header
//! (`type`, `reserved`, `sector`), the data (device-readable for a write,
//! device-writable for a read) and a device-writable status byte, in that
//! order; the device reads and writes the file at `sector * 512` with
//! `pread`/`pwrite`. Every chain is checked as the stats device checks
//! its chains ([`super::virtio_chain::walk_request_chain`]); a request that
//! is malformed, reaches past the end of the disk or is not a whole number
//! of sectors gets `VIRTIO_BLK_S_IOERR`, one of an unknown type
//! `VIRTIO_BLK_S_UNSUPP`, and a host I/O error `VIRTIO_BLK_S_IOERR` too: the
//! guest sees a failed request, never a VMM panic. A chain without room
//! for a status byte cannot be answered and is returned unused.
//!
//! The file must carry a Linux swap header (`mkswap`'s `SWAPSPACE2`
//! signature at the end of the first page), so a file made by Linux's
//! `mkswap` works here and one made here works with Linux
//! ([`open_swap_file`]).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vm_memory::{Address, Bytes, GuestMemoryMmap};

use super::virtio_chain::{read_segments, walk_request_chain, write_segments, ChainError, Segment};
use super::virtio_mmio::{Transport, VirtioDevice, VirtioMmio, VIRTIO_F_VERSION_1};

/// virtio device id of a block device.
pub const VIRTIO_ID_BLOCK: u32 = 2;
/// The vendor id the VMM's devices report ("RVMM" in little-endian bytes).
pub const VENDOR_ID: u32 = u32::from_le_bytes(*b"RVMM");
/// Largest queue.
pub const QUEUE_SIZE_MAX: u16 = 128;

/// Feature bits (virtio 1.2, 5.2.3).
pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
pub const VIRTIO_BLK_F_BLK_SIZE: u64 = 1 << 6;
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;

/// Request types and status values (virtio 1.2, 5.2.6).
pub const VIRTIO_BLK_T_IN: u32 = 0;
pub const VIRTIO_BLK_T_OUT: u32 = 1;
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
pub const VIRTIO_BLK_S_OK: u8 = 0;
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// Bytes per sector, whatever the file system under the file uses.
pub const SECTOR_SIZE: u64 = 512;
/// Bytes of the request header.
const HEADER_LEN: usize = 16;
/// Bytes of the identification string `VIRTIO_BLK_T_GET_ID` returns.
const ID_LEN: usize = 20;
/// Most data bytes one request may move.
pub const REQUEST_MAX: u64 = 1 << 20;
/// Most buffers one request may have (`seg_max`), header and status
/// included by the driver.
pub const SEG_MAX: u32 = 64;

/// The page size of the swap header (x86-64's).
pub const SWAP_PAGE: u64 = 4096;
/// `mkswap`'s signature, in the last ten bytes of the first page.
pub const SWAP_MAGIC: &[u8; 10] = b"SWAPSPACE2";
/// The smallest swap file Linux's `swapon` accepts: a header and ten
/// pages.
pub const SWAP_MIN_SIZE: u64 = 11 * SWAP_PAGE;

/// Why a swap file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("swap file {path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("swap file {path} does not exist; give its size to create it (--swap FILE:SIZE)", path = .path.display())]
    NoSize { path: PathBuf },
    #[error("swap file {path}: {size} bytes is too small: a swap area needs at least {SWAP_MIN_SIZE} (a header page and ten pages)", path = .path.display())]
    TooSmall { path: PathBuf, size: u64 },
    #[error("swap file {path} is {found} bytes, not the {want} given", path = .path.display())]
    SizeMismatch { path: PathBuf, found: u64, want: u64 },
    #[error("swap file {path} has no Linux swap header (no SWAPSPACE2 signature at byte 4086): make one with mkswap, or let vmm create the file", path = .path.display())]
    NoSignature { path: PathBuf },
    #[error("swap file {path} has swap header version {version}; only version 1 is supported", path = .path.display())]
    BadVersion { path: PathBuf, version: u32 },
}

/// Writes a Linux swap header (`mkswap`'s layout, `struct swap_header`)
/// for a swap area of `size` bytes into `page` (one 4 KiB page): version
/// 1, the last usable page, no bad pages, a label, the signature.
pub fn swap_header(size: u64, page: &mut [u8; SWAP_PAGE as usize]) {
    page.fill(0);
    let last_page = (size / SWAP_PAGE).saturating_sub(1).min(u32::MAX as u64) as u32;
    // After 1024 bytes of boot sector room: version, last_page,
    // nr_badpages, uuid[16] (left zero), volume_name[16].
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    page[1028..1032].copy_from_slice(&last_page.to_le_bytes());
    page[1052..1052 + 9].copy_from_slice(b"rvmm-swap");
    page[SWAP_PAGE as usize - SWAP_MAGIC.len()..].copy_from_slice(SWAP_MAGIC);
}

/// Opens the swap file at `path` for the device: with `size` and no such
/// file, creates it sparse with a swap header; an existing file must carry
/// one (and be `size` bytes, when given).
pub fn open_swap_file(path: &Path, size: Option<u64>) -> Result<File, SwapError> {
    let io = |source| SwapError::Io { path: path.to_owned(), source };
    let file = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let size = size.ok_or_else(|| SwapError::NoSize { path: path.to_owned() })?;
            if size < SWAP_MIN_SIZE {
                return Err(SwapError::TooSmall { path: path.to_owned(), size });
            }
            let size = size / SWAP_PAGE * SWAP_PAGE;
            let mut file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(io)?;
            file.set_len(size).map_err(io)?;
            let mut page = [0u8; SWAP_PAGE as usize];
            swap_header(size, &mut page);
            file.write_all(&page).map_err(io)?;
            return Ok(file);
        }
        Err(e) => return Err(io(e)),
    };
    let found = file.metadata().map_err(io)?.len();
    if let Some(want) = size {
        if want != found {
            return Err(SwapError::SizeMismatch { path: path.to_owned(), found, want });
        }
    }
    if found < SWAP_MIN_SIZE {
        return Err(SwapError::TooSmall { path: path.to_owned(), size: found });
    }
    let mut page = [0u8; SWAP_PAGE as usize];
    file.read_exact_at(&mut page, 0).map_err(io)?;
    if &page[SWAP_PAGE as usize - SWAP_MAGIC.len()..] != SWAP_MAGIC {
        return Err(SwapError::NoSignature { path: path.to_owned() });
    }
    let version = u32::from_le_bytes([page[1024], page[1025], page[1026], page[1027]]);
    if version != 1 {
        return Err(SwapError::BadVersion { path: path.to_owned(), version });
    }
    Ok(file)
}

/// What the device keeps: the backing file and its size.
pub struct Block {
    file: File,
    /// The disk's size in sectors (the file's, rounded down).
    capacity: u64,
    /// `VIRTIO_BLK_T_GET_ID`'s answer.
    id: [u8; ID_LEN],
    /// Requests served and failed (for tests and reports).
    pub served: u64,
    pub failed: u64,
}

/// The device: a block device on the virtio-mmio transport.
pub type BlockDevice = VirtioMmio<Block>;

impl Block {
    /// A disk over `file`; `id` names it to the guest (cut to 20 bytes).
    pub fn new(file: File, id: &str) -> std::io::Result<Self> {
        let capacity = file.metadata()?.len() / SECTOR_SIZE;
        let mut bytes = [0u8; ID_LEN];
        let n = id.len().min(ID_LEN);
        bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        Ok(Self { file, capacity, id: bytes, served: 0, failed: 0 })
    }

    /// The configuration space (virtio 1.2, 5.2.4): `capacity` (sectors),
    /// `size_max` (none), `seg_max`, the geometry (none), `blk_size`.
    fn config(&self) -> [u8; 24] {
        let mut c = [0u8; 24];
        c[0..8].copy_from_slice(&self.capacity.to_le_bytes());
        c[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        c
    }

    /// Serves one checked request: the status and the bytes written into
    /// its writable buffers (status byte excluded).
    fn serve(&mut self, mem: &GuestMemoryMmap, readable: &[Segment], writable: &[Segment]) -> Result<(u8, u32), ChainError> {
        let bytes = read_segments(mem, readable)?;
        if bytes.len() < HEADER_LEN {
            return Ok((VIRTIO_BLK_S_IOERR, 0));
        }
        let kind = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let sector = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or([0; 8]));
        let out = &bytes[HEADER_LEN..];
        let room: u64 = writable.iter().map(|s| s.len as u64).sum();
        let in_range = |len: u64| len.is_multiple_of(SECTOR_SIZE) && sector.checked_add(len / SECTOR_SIZE).is_some_and(|end| end <= self.capacity);
        Ok(match kind {
            VIRTIO_BLK_T_IN => {
                if !in_range(room) {
                    (VIRTIO_BLK_S_IOERR, 0)
                } else {
                    let mut data = vec![0u8; room as usize];
                    match self.file.read_at(&mut data, sector * SECTOR_SIZE) {
                        // A short read (a file shortened behind our back)
                        // leaves zeros, as a sparse file reads.
                        Ok(_) => {
                            write_segments(mem, writable, &data)?;
                            (VIRTIO_BLK_S_OK, room as u32)
                        }
                        Err(_) => (VIRTIO_BLK_S_IOERR, 0),
                    }
                }
            }
            VIRTIO_BLK_T_OUT => {
                if !in_range(out.len() as u64) {
                    (VIRTIO_BLK_S_IOERR, 0)
                } else {
                    match self.file.write_all_at(out, sector * SECTOR_SIZE) {
                        Ok(()) => (VIRTIO_BLK_S_OK, 0),
                        Err(_) => (VIRTIO_BLK_S_IOERR, 0),
                    }
                }
            }
            VIRTIO_BLK_T_FLUSH => match self.file.sync_data() {
                Ok(()) => (VIRTIO_BLK_S_OK, 0),
                Err(_) => (VIRTIO_BLK_S_IOERR, 0),
            },
            VIRTIO_BLK_T_GET_ID => {
                let n = (room as usize).min(ID_LEN);
                write_segments(mem, writable, &self.id[..n])?;
                (VIRTIO_BLK_S_OK, n as u32)
            }
            _ => (VIRTIO_BLK_S_UNSUPP, 0),
        })
    }
}

impl VirtioDevice for Block {
    const NAME: &'static str = "block device";
    const DEVICE_ID: u32 = VIRTIO_ID_BLOCK;
    const VENDOR_ID: u32 = VENDOR_ID;
    const NUM_QUEUES: usize = 1;
    const QUEUE_SIZE_MAX: u16 = QUEUE_SIZE_MAX;

    fn features(&self) -> u64 {
        VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH
    }

    fn queue_name(_q: usize) -> &'static str {
        "request"
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let config = self.config();
        for (i, b) in data.iter_mut().enumerate() {
            *b = usize::try_from(offset).ok().and_then(|o| o.checked_add(i)).and_then(|at| config.get(at)).copied().unwrap_or(0);
        }
    }

    fn process(&mut self, q: usize, t: &mut Transport, mem: &GuestMemoryMmap) {
        if !t.live(q) {
            return;
        }
        let mut returned = false;
        for _ in 0..QUEUE_SIZE_MAX {
            let limit = REQUEST_MAX + HEADER_LEN as u64 + 1;
            let Some((head, walked)) = t.pop(q, mem, |chain, table, size| walk_request_chain(chain, table, size, limit)) else { break };
            let mut used = 0;
            match walked {
                Ok((segments, first_writable)) => {
                    let (readable, writable) = segments.split_at(first_writable);
                    // The status is the last writable byte.
                    match writable.split_last() {
                        Some((last, data)) if last.len > 0 => {
                            let mut data = data.to_vec();
                            let status_at = last.addr.unchecked_add(last.len as u64 - 1);
                            if last.len > 1 {
                                data.push(Segment { addr: last.addr, len: last.len - 1 });
                            }
                            let (status, written) = match self.serve(mem, readable, &data) {
                                Ok(answer) => answer,
                                Err(why) => {
                                    t.reject(q, head, &why);
                                    (VIRTIO_BLK_S_IOERR, 0)
                                }
                            };
                            if status == VIRTIO_BLK_S_OK {
                                self.served += 1;
                            } else {
                                self.failed += 1;
                            }
                            if mem.write_obj(status, status_at).is_ok() {
                                used = written + 1;
                            }
                        }
                        _ => t.reject(q, head, &ChainError::NoStatus),
                    }
                }
                Err(why) => t.reject(q, head, &why),
            }
            returned |= t.put_used(q, head, used, mem);
        }
        if returned {
            t.notify_used(q, mem);
        }
    }
}

impl BlockDevice {
    /// A block device over `file` named `id`; `irq` is its interrupt.
    pub fn new(file: File, id: &str, irq: Option<vmm_sys_util::eventfd::EventFd>, log: Box<dyn Write + Send>) -> std::io::Result<Self> {
        Ok(Self::with_device(Block::new(file, id)?, irq, log))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio_chain::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
    use crate::devices::TestLog as Log;
    use shared::stats::regs;
    use virtio_queue::desc::split::Descriptor;
    use virtio_queue::desc::RawDescriptor;
    use virtio_queue::mock::MockSplitQueue;
    use vm_memory::GuestAddress;

    const RING: u64 = 0x1000;
    const HDR: u64 = 0x8000;
    const DATA: u64 = 0x9000;
    const STATUS: u64 = 0xc000;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("rvmm-block-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn swap_files_are_made_and_checked_like_mkswap_makes_them() {
        let dir = Scratch::new("swapfile");
        let path = dir.0.join("swap");
        assert!(matches!(open_swap_file(&path, None), Err(SwapError::NoSize { .. })));
        assert!(matches!(open_swap_file(&path, Some(4096)), Err(SwapError::TooSmall { .. })));
        let file = open_swap_file(&path, Some(1 << 20)).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 1 << 20);
        let mut page = [0u8; 4096];
        file.read_exact_at(&mut page, 0).unwrap();
        assert_eq!(&page[4086..], b"SWAPSPACE2");
        assert_eq!(u32::from_le_bytes(page[1024..1028].try_into().unwrap()), 1, "version");
        assert_eq!(u32::from_le_bytes(page[1028..1032].try_into().unwrap()), 255, "last page");
        assert_eq!(&page[1052..1061], b"rvmm-swap", "the label where Linux's swaplabel reads it");
        drop(file);
        // Reopened: accepted as it is, or with its own size.
        open_swap_file(&path, None).unwrap();
        open_swap_file(&path, Some(1 << 20)).unwrap();
        assert!(matches!(open_swap_file(&path, Some(2 << 20)), Err(SwapError::SizeMismatch { .. })));
        // A file without the signature is refused, and left as it was.
        let plain = dir.0.join("plain");
        std::fs::write(&plain, vec![7u8; 64 << 10]).unwrap();
        let err = open_swap_file(&plain, None).unwrap_err();
        assert!(err.to_string().contains("mkswap"), "{err}");
        assert_eq!(std::fs::read(&plain).unwrap(), vec![7u8; 64 << 10]);
    }

    /// What Linux's mkswap writes is accepted, when the host has it.
    #[test]
    fn a_file_made_by_mkswap_is_accepted() {
        let dir = Scratch::new("mkswap");
        let path = dir.0.join("swap");
        std::fs::File::create(&path).unwrap().set_len(1 << 20).unwrap();
        let Ok(out) = std::process::Command::new("mkswap").arg(&path).output() else {
            eprintln!("mkswap is not installed; skipping the comparison");
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        open_swap_file(&path, None).unwrap();
        // And Linux's tools read what we write.
        let ours = dir.0.join("ours");
        drop(open_swap_file(&ours, Some(1 << 20)).unwrap());
        if let Ok(out) = std::process::Command::new("swaplabel").arg(&ours).output() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "LABEL: rvmm-swap");
        }
    }

    struct Rig {
        mem: GuestMemoryMmap,
        dev: BlockDevice,
        log: Log,
        queue: MockSplitQueue<'static, GuestMemoryMmap>,
        file: PathBuf,
        _dir: Scratch,
    }

    fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
        RawDescriptor::from(Descriptor::new(addr, len, flags, next))
    }

    fn set(r: &mut Rig, offset: u64, value: u32) {
        r.dev.write(offset, &value.to_le_bytes(), &r.mem);
    }

    fn reg(dev: &mut BlockDevice, offset: u64) -> u32 {
        let mut b = [0u8; 4];
        dev.read(offset, &mut b);
        u32::from_le_bytes(b)
    }

    /// A 64 KiB disk with a driver set up on a 16-entry queue.
    fn rig(name: &str) -> Rig {
        let dir = Scratch::new(name);
        let file = dir.0.join("disk");
        let f = open_swap_file(&file, Some(64 << 10)).unwrap();
        let mem: &'static GuestMemoryMmap = Box::leak(Box::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap()));
        let log = Log::default();
        let dev = BlockDevice::new(f, "swap0", None, Box::new(log.clone())).unwrap();
        let queue = MockSplitQueue::create(mem, GuestAddress(RING), 16);
        let mut r = Rig { mem: mem.clone(), dev, log, queue, file, _dir: dir };
        use regs::*;
        set(&mut r, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        set(&mut r, DRIVER_FEATURES_SEL, 1);
        set(&mut r, DRIVER_FEATURES, 1);
        set(&mut r, DRIVER_FEATURES_SEL, 0);
        set(&mut r, DRIVER_FEATURES, (VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_SEG_MAX) as u32);
        set(&mut r, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        assert_ne!(reg(&mut r.dev, STATUS) & STATUS_FEATURES_OK, 0);
        set(&mut r, QUEUE_SEL, 0);
        set(&mut r, QUEUE_NUM, 16);
        for (low, addr) in [(QUEUE_DESC_LOW, r.queue.desc_table_addr()), (QUEUE_DRIVER_LOW, r.queue.avail_addr()), (QUEUE_DEVICE_LOW, r.queue.used_addr())] {
            set(&mut r, low, addr.0 as u32);
            set(&mut r, low + 4, (addr.0 >> 32) as u32);
        }
        set(&mut r, QUEUE_READY, 1);
        set(&mut r, STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
        r
    }

    /// Posts a request of `kind` at `sector` with `data` bytes of data
    /// (device-writable for a read) and returns (status, used length).
    fn request(r: &mut Rig, kind: u32, sector: u64, data: u32, write_data: bool) -> (u8, u32) {
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&kind.to_le_bytes());
        hdr[8..16].copy_from_slice(&sector.to_le_bytes());
        r.mem.write_slice(&hdr, GuestAddress(HDR)).unwrap();
        r.mem.write_obj(0xffu8, GuestAddress(STATUS)).unwrap();
        let data_flags = if write_data { VRING_DESC_F_WRITE } else { 0 };
        let chain = [desc(HDR, 16, VRING_DESC_F_NEXT, 1), desc(DATA, data, data_flags | VRING_DESC_F_NEXT, 2), desc(STATUS, 1, VRING_DESC_F_WRITE, 0)];
        r.queue.add_desc_chains(&chain, 0).unwrap();
        set(r, regs::QUEUE_NOTIFY, 0);
        let n = r.queue.used().idx().load();
        let e = r.queue.used().ring().ref_at(n as usize - 1).unwrap().load();
        (r.mem.read_obj(GuestAddress(STATUS)).unwrap(), e.len())
    }

    #[test]
    fn sectors_written_read_back_through_the_file() {
        let mut r = rig("rw");
        assert_eq!(reg(&mut r.dev, regs::DEVICE_ID), VIRTIO_ID_BLOCK);
        let mut cap = [0u8; 8];
        r.dev.read(0x100, &mut cap);
        assert_eq!(u64::from_le_bytes(cap), 128, "64 KiB is 128 sectors");
        let pattern: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        r.mem.write_slice(&pattern, GuestAddress(DATA)).unwrap();
        assert_eq!(request(&mut r, VIRTIO_BLK_T_OUT, 8, 4096, false), (VIRTIO_BLK_S_OK, 1));
        assert_eq!(std::fs::read(&r.file).unwrap()[4096..8192], pattern[..], "the file holds the page");
        r.mem.write_slice(&[0u8; 4096], GuestAddress(DATA)).unwrap();
        assert_eq!(request(&mut r, VIRTIO_BLK_T_IN, 8, 4096, true), (VIRTIO_BLK_S_OK, 4097));
        let mut back = vec![0u8; 4096];
        r.mem.read_slice(&mut back, GuestAddress(DATA)).unwrap();
        assert_eq!(back, pattern);
        assert_eq!(request(&mut r, VIRTIO_BLK_T_FLUSH, 0, 0, false).0, VIRTIO_BLK_S_OK);
        assert_eq!(request(&mut r, VIRTIO_BLK_T_GET_ID, 0, 20, true), (VIRTIO_BLK_S_OK, 21));
        let mut id = [0u8; 5];
        r.mem.read_slice(&mut id, GuestAddress(DATA)).unwrap();
        assert_eq!(&id, b"swap0");
        assert_eq!((r.dev.device.served, r.dev.device.failed), (4, 0));
    }

    #[test]
    fn bad_requests_fail_with_a_status_and_nothing_is_written() {
        let mut r = rig("bad");
        let before = std::fs::read(&r.file).unwrap();
        assert_eq!(request(&mut r, VIRTIO_BLK_T_OUT, 127, 1024, false).0, VIRTIO_BLK_S_IOERR, "past the end");
        assert_eq!(request(&mut r, VIRTIO_BLK_T_OUT, u64::MAX, 512, false).0, VIRTIO_BLK_S_IOERR, "sector overflow");
        assert_eq!(request(&mut r, VIRTIO_BLK_T_OUT, 0, 100, false).0, VIRTIO_BLK_S_IOERR, "not whole sectors");
        assert_eq!(request(&mut r, VIRTIO_BLK_T_IN, 200, 512, true).0, VIRTIO_BLK_S_IOERR, "read past the end");
        assert_eq!(request(&mut r, 77, 0, 512, false).0, VIRTIO_BLK_S_UNSUPP);
        assert_eq!(std::fs::read(&r.file).unwrap(), before);
        assert_eq!(r.dev.device.failed, 5);
        // A request with nowhere to put its status is returned unused and
        // reported once.
        let chain = [desc(HDR, 16, VRING_DESC_F_NEXT, 1), desc(DATA, 512, 0, 0)];
        r.queue.add_desc_chains(&chain, 0).unwrap();
        set(&mut r, regs::QUEUE_NOTIFY, 0);
        assert_eq!(r.dev.rejected(), 1);
        assert!(r.log.lines().iter().any(|l| l.contains("block device: request queue") && l.contains("status")), "{:?}", r.log.lines());
        // A readable buffer after a writable one.
        let chain = [desc(HDR, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1), desc(DATA, 512, VRING_DESC_F_NEXT, 2), desc(STATUS, 1, VRING_DESC_F_WRITE, 0)];
        r.queue.add_desc_chains(&chain, 0).unwrap();
        set(&mut r, regs::QUEUE_NOTIFY, 0);
        assert_eq!(r.dev.rejected(), 2);
    }

    /// Random chains and random registers: answers or refusals, never a
    /// panic, and never a write outside the disk's file.
    #[test]
    fn hostile_chains_are_refused_without_harm() {
        let mut r = rig("hostile");
        let len_before = std::fs::metadata(&r.file).unwrap().len();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            let n = 1 + next() % 4;
            let chain: Vec<RawDescriptor> = (0..n)
                .map(|i| {
                    let addr = match next() % 4 {
                        0 => HDR,
                        1 => DATA,
                        2 => next() % 0x20_0000,
                        _ => u64::MAX - next() % 4096,
                    };
                    let len = match next() % 3 {
                        0 => 16,
                        1 => 512,
                        _ => next() as u32,
                    };
                    let flags = (next() % 8) as u16 & !VRING_DESC_F_NEXT | if i + 1 < n { VRING_DESC_F_NEXT } else { 0 };
                    desc(addr, len, flags, (i + 1) as u16 % 16)
                })
                .collect();
            let mut hdr = [0u8; 16];
            hdr[0..4].copy_from_slice(&((next() % 10) as u32).to_le_bytes());
            hdr[8..16].copy_from_slice(&(next() % 200).to_le_bytes());
            r.mem.write_slice(&hdr, GuestAddress(HDR)).unwrap();
            if r.queue.add_desc_chains(&chain, 0).is_err() {
                continue;
            }
            set(&mut r, regs::QUEUE_NOTIFY, (round % 3) as u32);
        }
        assert_eq!(std::fs::metadata(&r.file).unwrap().len(), len_before, "the disk keeps its size");
    }

    mod fuzz {
        use super::*;
        use crate::devices::virtio_chain::VRING_DESC_F_INDIRECT;
        use proptest::prelude::*;
        use virtio_queue::{Queue, QueueOwnedT};

        fn arb_desc() -> impl Strategy<Value = RawDescriptor> {
            let addr = prop_oneof![Just(HDR), Just(DATA), Just(STATUS), Just(0u64), Just(u64::MAX - 8), Just(0x10_0000_0000u64), any::<u64>()];
            let len = prop_oneof![Just(0u32), Just(1u32), Just(16u32), Just(512u32), Just(4096u32), Just(u32::MAX), any::<u32>()];
            let flags = prop_oneof![
                Just(0u16),
                Just(VRING_DESC_F_NEXT),
                Just(VRING_DESC_F_WRITE),
                Just(VRING_DESC_F_NEXT | VRING_DESC_F_WRITE),
                Just(VRING_DESC_F_INDIRECT),
                any::<u16>()
            ];
            (addr, len, flags, 0u16..24).prop_map(|(a, l, f, n)| desc(a, l, f, n))
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            /// Whatever request chain the guest builds, the walk answers
            /// without a panic, and what it accepts lies in RAM, within the
            /// limit, readable buffers before writable ones.
            #[test]
            fn any_request_chain_is_walked_safely(descs in proptest::collection::vec(arb_desc(), 1..16)) {
                let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
                let mock = MockSplitQueue::create(&mem, GuestAddress(RING), 16);
                if mock.add_desc_chains(&descs, 0).is_err() {
                    return Ok(());
                }
                let Ok(mut q) = mock.create_queue::<Queue>() else { return Ok(()) };
                let Some(chain) = q.iter(&mem).ok().and_then(|mut i| i.next()) else { return Ok(()) };
                if let Ok((segments, first_writable)) = walk_request_chain(chain, mock.desc_table_addr(), 16, REQUEST_MAX) {
                    prop_assert!(first_writable <= segments.len() && segments.len() <= 16);
                    prop_assert!(segments.iter().map(|s| s.len as u64).sum::<u64>() <= REQUEST_MAX);
                    for s in &segments {
                        prop_assert!(vm_memory::GuestMemoryBackend::check_range(&mem, s.addr, s.len as usize));
                    }
                }
            }

            /// The device itself takes any request: it answers or refuses,
            /// and the disk keeps its size.
            #[test]
            fn any_request_is_served_or_refused(descs in proptest::collection::vec(arb_desc(), 1..8), kind in 0u32..10, sector in prop_oneof![Just(0u64), Just(127u64), any::<u64>()]) {
                let mut r = rig("prop");
                let mut hdr = [0u8; 16];
                hdr[0..4].copy_from_slice(&kind.to_le_bytes());
                hdr[8..16].copy_from_slice(&sector.to_le_bytes());
                r.mem.write_slice(&hdr, GuestAddress(HDR)).unwrap();
                if r.queue.add_desc_chains(&descs, 0).is_ok() {
                    set(&mut r, regs::QUEUE_NOTIFY, 0);
                }
                prop_assert_eq!(std::fs::metadata(&r.file).unwrap().len(), 64 << 10);
            }
        }
    }
}
