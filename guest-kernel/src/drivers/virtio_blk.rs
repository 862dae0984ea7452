//! A virtio-blk driver (virtio 1.2, section 5.2) over the virtio-mmio
//! transport of [`super::virtio_mmio`], for the swap devices the VMM gives
//! (`vmm run --swap`); found through `virtio_mmio.device=` on the command
//! line, as Linux finds MMIO devices without a device tree.
//!
//! Requests are polled for now: the VMM serves a request while the
//! driver's notify is trapped, so the used ring holds the answer when the
//! notify returns; the driver still waits for it (bounded) as the spec
//! allows a device to take its time. Interrupt-driven completion comes
//! with swap-in, which needs a task to sleep on it.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::virtio_mmio::{driver_page, setup_queue, Buf, Mmio, SubmitError, Virtqueue};
use crate::mm::addr::PhysAddr;

/// virtio device id of a block device; the VMM's vendor id.
const VIRTIO_ID_BLOCK: u32 = 2;
const VENDOR_ID: u32 = u32::from_le_bytes(*b"RVMM");
/// Request types and the status that means success.
const VIRTIO_BLK_T_IN: u32 = 0;
const VIRTIO_BLK_T_OUT: u32 = 1;
const VIRTIO_BLK_S_OK: u8 = 0;
/// The configuration space: `capacity` (sectors) first.
const CONFIG_CAPACITY: u64 = 0x100;
/// Queue entries the driver asks for.
const QUEUE_SIZE: u16 = 16;
/// Bytes per sector.
pub const SECTOR_SIZE: u64 = 512;
/// Data buffers per request at most (a swap readahead window of 8 pages
/// goes in one), within a queue that holds them with the header and the
/// status byte.
const MAX_SEGMENTS: usize = 8;

/// One virtio-blk device.
pub struct VirtioBlk {
    mmio: Mmio,
    queue: Virtqueue,
    /// A page of the driver's own for the request header (offset 0) and
    /// the status byte (offset 16), and its physical address.
    req: *mut u8,
    req_phys: u64,
    capacity: u64,
}

// SAFETY: the request page and the ring belong to this device alone; they are touched only through `&mut self`.
unsafe impl Send for VirtioBlk {}

impl VirtioBlk {
    /// Maps the device's registers at `base` (`size` bytes), checks that
    /// it is a block device of the VMM's, negotiates, sets up its queue.
    /// `Ok(None)`: the device there is not a block device (another
    /// driver's).
    pub fn probe(base: u64, size: u64) -> Result<Option<Self>, String> {
        let va = crate::mm::vmalloc::ioremap(PhysAddr::new(base), size, "virtio_blk").ok_or_else(|| String::from("cannot map its registers"))?;
        // SAFETY: an uncached mapping of the device's register page, kept for the life of the kernel (never unmapped).
        let mmio = unsafe { Mmio::new(va.as_mut_ptr::<u8>()) };
        match mmio.probe(VIRTIO_ID_BLOCK, VENDOR_ID) {
            Ok(()) => {}
            Err(super::virtio_mmio::ProbeError::DeviceId(_)) => {
                crate::mm::vmalloc::vunmap(va);
                return Ok(None);
            }
            Err(e) => return Err(format!("{e}")),
        }
        let (queue, (req, req_phys)) = match setup_queue(&mmio, 0, QUEUE_SIZE).and_then(|q| Ok((q, driver_page()?))) {
            Ok(set_up) => set_up,
            Err(why) => {
                mmio.fail();
                return Err(String::from(why));
            }
        };
        mmio.driver_ok();
        let capacity = u64::from(mmio.read(CONFIG_CAPACITY)) | u64::from(mmio.read(CONFIG_CAPACITY + 4)) << 32;
        Ok(Some(Self { mmio, queue, req, req_phys, capacity }))
    }

    /// The disk's size in sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Reads `len` bytes (whole sectors) from `sector` on into the
    /// physical memory at `phys`.
    pub fn read(&mut self, sector: u64, phys: u64, len: u32) -> Result<(), String> {
        self.request(VIRTIO_BLK_T_IN, sector, &[Buf { addr: phys, len, device_writes: true }])
    }

    /// Reads consecutive pages from `sector` on into the page frames at
    /// `phys`, [`MAX_SEGMENTS`] per request (a scattered read: one buffer
    /// per page).
    pub fn read_pages(&mut self, mut sector: u64, phys: &[u64]) -> Result<(), String> {
        const PAGE: u32 = crate::mm::swapfile::SWAP_PAGE as u32;
        let per_request = MAX_SEGMENTS.min(usize::from(self.queue.size()).saturating_sub(2)).max(1);
        for chunk in phys.chunks(per_request) {
            let mut bufs = [Buf { addr: 0, len: PAGE, device_writes: true }; MAX_SEGMENTS];
            for (buf, &addr) in bufs.iter_mut().zip(chunk) {
                buf.addr = addr;
            }
            self.request(VIRTIO_BLK_T_IN, sector, &bufs[..chunk.len()])?;
            sector += chunk.len() as u64 * u64::from(PAGE) / SECTOR_SIZE;
        }
        Ok(())
    }

    /// Writes `len` bytes (whole sectors) from the physical memory at
    /// `phys` to `sector` on.
    pub fn write(&mut self, sector: u64, phys: u64, len: u32) -> Result<(), String> {
        self.request(VIRTIO_BLK_T_OUT, sector, &[Buf { addr: phys, len, device_writes: false }])
    }

    /// One request: the header, the data buffers, the status byte.
    fn request(&mut self, kind: u32, sector: u64, data: &[Buf]) -> Result<(), String> {
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        // SAFETY: `req` is this device's own page (see `probe`); header and status byte (offset 16) lie inside it, and the device is not using them (one request at a time).
        unsafe {
            core::ptr::copy_nonoverlapping(header.as_ptr(), self.req, header.len());
            core::ptr::write_volatile(self.req.add(16), 0xff);
        }
        let mut bufs = [Buf { addr: 0, len: 0, device_writes: false }; MAX_SEGMENTS + 2];
        bufs[0] = Buf { addr: self.req_phys, len: 16, device_writes: false };
        bufs[1..=data.len()].copy_from_slice(data);
        bufs[data.len() + 1] = Buf { addr: self.req_phys + 16, len: 1, device_writes: true };
        match self.queue.submit_and_wait(&self.mmio, 0, &bufs[..data.len() + 2]) {
            Ok(_) => {
                // SAFETY: as above; the device has written the status and returned the chain.
                let status = unsafe { core::ptr::read_volatile(self.req.add(16)) };
                if status == VIRTIO_BLK_S_OK {
                    Ok(())
                } else {
                    Err(format!("I/O error (status {status})"))
                }
            }
            Err(SubmitError::Full) => Err(String::from("its queue is full")),
            Err(SubmitError::Used(e)) => Err(format!("the device returned a chain it did not own: {e:?}")),
            Err(SubmitError::NoAnswer) => Err(String::from("the device did not answer")),
        }
    }
}

/// Finds the block devices named on the command line and adds each that
/// carries a swap header as a swap area (`/dev/vda`, `/dev/vdb`, ... in
/// order), printing what Linux's `swapon` prints; a device that is not
/// usable is reported and left alone.
pub fn init(cmdline: &crate::cmdline::Cmdline) {
    use crate::mm::swapfile::{parse_swap_header, swapon, SWAP_PAGE};
    for (i, value) in cmdline.get_all("virtio_mmio.device").enumerate() {
        let name = format!("/dev/vd{}", (b'a' + (i as u8 % 26)) as char);
        let Some((size, base, irq)) = crate::cmdline::parse_virtio_mmio_device(value) else {
            pr_err!("virtio_mmio: cannot parse virtio_mmio.device={value}");
            continue;
        };
        let mut dev = match VirtioBlk::probe(base, size) {
            Ok(Some(dev)) => dev,
            Ok(None) => continue,
            Err(why) => {
                pr_err!("virtio_blk: device at {base:#x}: {why}");
                continue;
            }
        };
        let sectors = dev.capacity();
        printk!("virtio_blk virtio{i}: [{}] {sectors} 512-byte logical blocks ({} kB), at {base:#x} irq {irq}", &name[5..], sectors / 2);
        let Some(page) = crate::mm::buddy::alloc_page(crate::mm::gfp::GFP_KERNEL) else {
            pr_err!("{name}: no memory to read its swap header");
            continue;
        };
        let phys = crate::mm::buddy::page_to_pfn(page).phys().as_u64();
        let mut header = [0u8; SWAP_PAGE];
        let read = dev.read(0, phys, SWAP_PAGE as u32).and_then(|()| {
            let va = crate::mm::buddy::page_address(page).ok_or_else(|| String::from("header page not in lowmem"))?;
            // SAFETY: the page was just filled by the device and is ours until freed below.
            header.copy_from_slice(unsafe { core::slice::from_raw_parts(va.as_ptr::<u8>(), SWAP_PAGE) });
            Ok(())
        });
        crate::mm::buddy::__free_pages(page, 0);
        if let Err(why) = read {
            pr_err!("{name}: cannot read the swap header: {why}");
            continue;
        }
        match parse_swap_header(&header, sectors * SECTOR_SIZE / SWAP_PAGE as u64) {
            Ok(h) => {
                printk!("{}", swapon(&name, &h));
                crate::mm::swapfile::set_io(crate::mm::swapfile::SwapIo { read: swap_read, write: swap_write });
            }
            Err(why) => {
                // Not a swap area: no device of it, so that swap area
                // numbers stay those of `swapon`.
                pr_err!("swapon: {name}: {why}");
                continue;
            }
        }
        // Kept set up for the swap code to come.
        DEVICES.lock().push(dev);
    }
}

/// Swap I/O ([`crate::mm::swapfile::SwapIo`]): page `offset` of swap area
/// `typ` (the device added `typ`-th) to or from the page at `phys`.
fn swap_read(typ: u32, offset: u64, phys: &[u64]) -> bool {
    swap_rw(typ, offset, phys, false)
}

fn swap_write(typ: u32, offset: u64, phys: u64) -> bool {
    swap_rw(typ, offset, &[phys], true)
}

fn swap_rw(typ: u32, offset: u64, phys: &[u64], write: bool) -> bool {
    let mut devices = DEVICES.lock();
    let Some(dev) = devices.get_mut(typ as usize) else { return false };
    let sector = offset * (crate::mm::swapfile::SWAP_PAGE as u64 / SECTOR_SIZE);
    let len = crate::mm::swapfile::SWAP_PAGE as u32;
    let result = match (write, phys) {
        (true, &[one]) => dev.write(sector, one, len),
        (true, _) => Err(String::from("a swap write is one page")),
        (false, _) => dev.read_pages(sector, phys),
    };
    match result {
        Ok(()) => true,
        Err(why) => {
            // Reported a few times, then counted (a failing device would
            // otherwise fill the log, one line per page; Linux rate-limits
            // its "Write-error on swap-device" too).
            let n = IO_ERRORS.fetch_add(1, Relaxed) + 1;
            if n <= IO_ERRORS_REPORTED {
                pr_err!("virtio_blk: swap area {typ}: {} of page {offset} failed: {why}", if write { "write" } else { "read" });
                if n == IO_ERRORS_REPORTED {
                    pr_err!("virtio_blk: further swap I/O errors are counted, not reported");
                }
            }
            false
        }
    }
}

/// Swap I/O errors so far, and how many are reported on the console.
pub static IO_ERRORS: AtomicU64 = AtomicU64::new(0);
const IO_ERRORS_REPORTED: u64 = 5;

/// The block devices found at boot, in order (`/dev/vda` first).
static DEVICES: crate::sync::SpinLock<alloc::vec::Vec<VirtioBlk>> = crate::sync::SpinLock::new(alloc::vec::Vec::new());
