//! The stats channel: a virtio-mmio device (version 2 register layout)
//! that carries the guest's memory statistics to the host (queue 0,
//! `stats`) and the host's commands to the guest (queue 1, `control`).
//!
//! Every buffer the guest fills on the stats queue is one [`Message`]:
//! a fixed [`Header`] (plain little-endian fields, so a reader can check
//! magic and version before decoding anything) followed by a
//! `postcard`-encoded [`Payload`]. The guest keeps buffers posted on the
//! control queue; the host writes one postcard-encoded [`Command`] into a
//! buffer and returns it used; the guest answers on the stats queue with a
//! [`Payload::Reply`] carrying the command's `id`.
//!
//! Bump [`STATS_VERSION`] on any change to these types.

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Guest-physical base of the device's registers (in the MMIO hole).
pub const STATS_MMIO_BASE: u64 = 0xd000_0000;
/// Size of the register window.
pub const STATS_MMIO_SIZE: u64 = 0x1000;
/// The device's interrupt line (GSI), for used-buffer notifications.
pub const STATS_IRQ: u32 = 5;
/// virtio device id: not an assigned virtio type (the vendor-specific
/// range is unassigned too); the guest matches on it and the vendor id.
pub const STATS_DEVICE_ID: u32 = 0x5354;
/// virtio vendor id: "RVMM".
pub const STATS_VENDOR_ID: u32 = u32::from_le_bytes(*b"RVMM");
/// Queue indices.
pub const STATS_QUEUE: u16 = 0;
pub const CONTROL_QUEUE: u16 = 1;
/// Largest queue size the device offers.
pub const QUEUE_SIZE_MAX: u16 = 64;
/// Largest message, in bytes (a descriptor chain longer than this is bad).
pub const MESSAGE_MAX: usize = 256 * 1024;

/// virtio-mmio v2 register offsets (virtio 1.2, 4.2.2).
pub mod regs {
    pub const MAGIC_VALUE: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00c;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    pub const QUEUE_SEL: u64 = 0x030;
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    pub const QUEUE_NUM: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACK: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// "virt".
    pub const MAGIC: u32 = 0x7472_6976;
    /// Device status bits.
    pub const STATUS_ACKNOWLEDGE: u32 = 1;
    pub const STATUS_DRIVER: u32 = 2;
    pub const STATUS_DRIVER_OK: u32 = 4;
    pub const STATUS_FEATURES_OK: u32 = 8;
    pub const STATUS_FAILED: u32 = 128;
    /// VIRTIO_F_VERSION_1, bit 32 (feature word 1, bit 0).
    pub const FEATURE_VERSION_1_WORD1: u32 = 1;
}

pub const STATS_MAGIC: u32 = u32::from_le_bytes(*b"RVST");
pub const STATS_VERSION: u16 = 1;
/// Size of [`Header`] on the wire.
pub const HEADER_LEN: usize = 24;

/// What a message carries (the header's `kind`).
pub const KIND_SNAPSHOT: u16 = 1;
pub const KIND_REPLY: u16 = 2;

/// The fixed part of every stats-queue message: `magic u32, version u16,
/// kind u16, seq u64, guest_ns u64`, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: u32,
    pub version: u16,
    pub kind: u16,
    /// Per-boot message counter (gaps mean lost messages).
    pub seq: u64,
    /// Guest uptime when the message was made.
    pub guest_ns: u64,
}

impl Header {
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6..8].copy_from_slice(&self.kind.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.guest_ns.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Self {
            magic: u32::from_le_bytes(b[0..4].try_into().ok()?),
            version: u16::from_le_bytes(b[4..6].try_into().ok()?),
            kind: u16::from_le_bytes(b[6..8].try_into().ok()?),
            seq: u64::from_le_bytes(b[8..16].try_into().ok()?),
            guest_ns: u64::from_le_bytes(b[16..24].try_into().ok()?),
        })
    }
}

/// Why a snapshot was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Every `stats_interval` of guest time.
    Interval,
    /// A process exited.
    ProcessExit { pid: u32 },
    /// The host asked (`Command::Snapshot`).
    Request,
    /// The last one, at shutdown.
    Final,
}

/// Per-zone free pages and watermarks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStats {
    pub name: String,
    pub managed: u64,
    pub free: u64,
    /// Free blocks per order, 0..MAX_ORDER.
    pub free_per_order: Vec<u64>,
    pub min: u64,
    pub low: u64,
    pub high: u64,
}

/// One slab cache (as a `/proc/slabinfo` line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlabStats {
    pub name: String,
    pub object_size: u64,
    /// Objects in use (not counting free objects cached per CPU, which
    /// `/proc/slabinfo` counts as active).
    pub active_objs: u64,
    pub num_objs: u64,
    pub slabs: u64,
}

/// One vmalloc area.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmallocArea {
    pub start: u64,
    pub end: u64,
    pub pages: u64,
    pub caller: String,
}

/// One process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStats {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    /// R, S, Z.
    pub state: char,
    pub vm_size_kb: u64,
    pub vm_rss_kb: u64,
    pub rss_anon_kb: u64,
    pub rss_file_kb: u64,
    pub rss_shmem_kb: u64,
    pub vma_count: u64,
    pub page_faults: u64,
    /// `/proc/PID/status` and `/proc/PID/maps` as the guest prints them.
    pub status: String,
    pub maps: String,
}

/// The guest's `/proc` files at the moment of the snapshot, in Linux's
/// formats, as the kernel prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcFiles {
    pub meminfo: String,
    pub buddyinfo: String,
    pub zoneinfo: String,
    pub vmstat: String,
    pub slabinfo: String,
    pub vmallocinfo: String,
}

/// A statistics snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub reason: Reason,
    /// `/proc/meminfo` fields (name, kB), in the file's order.
    pub meminfo: Vec<(String, u64)>,
    pub zones: Vec<ZoneStats>,
    /// `/proc/vmstat` counters (name, value): at least pgfault,
    /// pgmajfault, pgalloc_*, pgfree, cow_fault, kmap, kmap_atomic,
    /// tlb flushes, zero-page and known-zero hits.
    pub vmstat: Vec<(String, u64)>,
    pub slabs: Vec<SlabStats>,
    pub vmalloc: Vec<VmallocArea>,
    pub processes: Vec<ProcessStats>,
    pub files: ProcFiles,
}

/// A command from the host (control queue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Chosen by the host; the reply carries it back.
    pub id: u64,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Send a snapshot now.
    Snapshot,
    /// Run a program from the initramfs as a child of init, with `argv`
    /// (argv[0] is its path). The reply is `Started { pid }`; when it exits
    /// a second reply `Exited { pid, status }` follows.
    Run { argv: Vec<String> },
    /// Drop clean caches (Linux `drop_caches`); replies `Done`.
    DropCaches,
    /// Shut down after a final snapshot; replies `Done` first.
    Shutdown,
}

/// The guest's answer to a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    pub result: CommandResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Done,
    Started {
        pid: u32,
    },
    /// A wait status, as `wait4` gives it.
    Exited {
        pid: u32,
        status: i32,
    },
    /// A Linux errno (e.g. ENOENT for a missing program).
    Failed {
        errno: i32,
    },
}

/// A stats-queue message body.
// A message is built once and encoded at once; boxing the snapshot would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Snapshot(Snapshot),
    Reply(Reply),
}

/// Encodes a message: header, then the postcard payload.
pub fn encode(seq: u64, guest_ns: u64, payload: &Payload) -> Result<Vec<u8>, postcard::Error> {
    let kind = match payload {
        Payload::Snapshot(_) => KIND_SNAPSHOT,
        Payload::Reply(_) => KIND_REPLY,
    };
    let header = Header { magic: STATS_MAGIC, version: STATS_VERSION, kind, seq, guest_ns };
    let mut out = Vec::from(header.to_bytes());
    out.extend_from_slice(&postcard::to_allocvec(payload)?);
    Ok(out)
}

/// Why a message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Short(usize),
    BadMagic(u32),
    Version(u16),
    Kind(u16),
    Payload(postcard::Error),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Short(n) => write!(f, "message of {n} bytes is shorter than its {HEADER_LEN}-byte header"),
            Self::BadMagic(m) => write!(f, "bad magic {m:#010x}"),
            Self::Version(v) => write!(f, "stats version {v}, this side speaks {STATS_VERSION}"),
            Self::Kind(k) => write!(f, "unknown message kind {k}"),
            Self::Payload(e) => write!(f, "payload does not decode: {e}"),
        }
    }
}

/// Decodes a message, checking the header first.
pub fn decode(bytes: &[u8]) -> Result<(Header, Payload), DecodeError> {
    let header = Header::from_bytes(bytes).ok_or(DecodeError::Short(bytes.len()))?;
    if header.magic != STATS_MAGIC {
        return Err(DecodeError::BadMagic(header.magic));
    }
    if header.version != STATS_VERSION {
        return Err(DecodeError::Version(header.version));
    }
    let payload: Payload = postcard::from_bytes(&bytes[HEADER_LEN..]).map_err(DecodeError::Payload)?;
    let kind_ok = matches!((&payload, header.kind), (Payload::Snapshot(_), KIND_SNAPSHOT) | (Payload::Reply(_), KIND_REPLY));
    if !kind_ok {
        return Err(DecodeError::Kind(header.kind));
    }
    Ok((header, payload))
}

/// Encodes a command for the control queue (postcard, no header).
pub fn encode_command(cmd: &Command) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(cmd)
}

pub fn decode_command(bytes: &[u8]) -> Result<Command, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn messages_round_trip_and_bad_ones_are_named() {
        let reply = Payload::Reply(Reply { id: 7, result: CommandResult::Exited { pid: 3, status: 0x0b } });
        let bytes = encode(1, 99, &reply).unwrap();
        let (h, p) = decode(&bytes).unwrap();
        assert_eq!((h.seq, h.guest_ns, h.kind), (1, 99, KIND_REPLY));
        assert_eq!(p, reply);
        let snap = Payload::Snapshot(Snapshot {
            reason: Reason::ProcessExit { pid: 4 },
            meminfo: vec![("MemTotal".to_string(), 131_072)],
            zones: vec![],
            vmstat: vec![("pgfault".to_string(), 12)],
            slabs: vec![],
            vmalloc: vec![],
            processes: vec![],
            files: ProcFiles::default(),
        });
        assert_eq!(decode(&encode(2, 0, &snap).unwrap()).unwrap().1, snap);
        assert_eq!(decode(&bytes[..10]), Err(DecodeError::Short(10)));
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert!(matches!(decode(&bad), Err(DecodeError::BadMagic(_))));
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(DecodeError::Version(9)));
        assert!(matches!(decode(&bytes[..HEADER_LEN + 1]), Err(DecodeError::Payload(_))));
        let cmd = Command { id: 5, op: Op::Run { argv: vec!["/bin/x".to_string()] } };
        assert_eq!(decode_command(&encode_command(&cmd).unwrap()).unwrap(), cmd);
    }

    /// The wire decoders read what a guest wrote: any bytes give an answer,
    /// never a panic, and a valid header with a garbage payload is refused
    /// (or, where postcard reads garbage as a payload, round-trips).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = decode(&bytes);
                let _ = decode_command(&bytes);
            }

            #[test]
            fn garbage_payloads_behind_a_valid_header(kind in prop_oneof![Just(KIND_SNAPSHOT), Just(KIND_REPLY), any::<u16>()], tail in proptest::collection::vec(any::<u8>(), 0..256)) {
                let mut bytes = encode(1, 2, &Payload::Reply(Reply { id: 1, result: CommandResult::Exited { pid: 1, status: 0 } })).unwrap();
                bytes.truncate(HEADER_LEN);
                // `kind` is the u16 after magic (4 bytes) and version (2).
                bytes[6..8].copy_from_slice(&kind.to_le_bytes());
                bytes.extend_from_slice(&tail);
                if let Ok((h, p)) = decode(&bytes) {
                    let again = encode(h.seq, h.guest_ns, &p).unwrap();
                    prop_assert_eq!(decode(&again).unwrap().1, p);
                }
            }
        }
    }
}
