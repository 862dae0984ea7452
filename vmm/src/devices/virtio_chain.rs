//! Descriptor chains of a split virtqueue, taken apart as a device must
//! when the guest is hostile: every index, length, flag and address is
//! checked before a byte is used, and a bad chain becomes a [`ChainError`]
//! (the device returns it used, with length 0), never a panic.

use std::ops::Deref;

use shared::stats::{MESSAGE_MAX, QUEUE_SIZE_MAX};
use virtio_queue::desc::split::Descriptor;
use virtio_queue::DescriptorChain;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

/// `VRING_DESC_F_*` and `VRING_AVAIL_F_NO_INTERRUPT`.
pub const VRING_DESC_F_NEXT: u16 = 1;
pub const VRING_DESC_F_WRITE: u16 = 2;
pub const VRING_DESC_F_INDIRECT: u16 = 4;
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Why a descriptor chain was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("head index {index} is outside the queue of {size} descriptors")]
    BadHead { index: u16, size: u16 },
    #[error("descriptor {index}'s next index {next} is outside the queue of {size} descriptors")]
    BadNext { index: u16, next: u16, size: u16 },
    #[error("the chain loops: descriptor {index} comes round again")]
    Loop { index: u16 },
    #[error("the chain has more than {QUEUE_SIZE_MAX} descriptors")]
    TooLong,
    #[error("descriptor {index} is indirect, but VIRTIO_F_INDIRECT_DESC was not negotiated")]
    Indirect { index: u16 },
    #[error("descriptor {index} cannot be read from the descriptor table")]
    Unreadable { index: u16 },
    #[error("descriptor {index}'s buffer [{addr:#x}, +{len:#x}) is not inside guest RAM")]
    OutsideRam { index: u16, addr: u64, len: u32 },
    #[error("descriptor {index} is device-{found}, but this queue takes only device-{want} buffers")]
    Direction { index: u16, found: &'static str, want: &'static str },
    #[error("the chain holds at least {len} bytes, above the {max}-byte limit")]
    TooBig { len: u64, max: u64 },
    #[error("the message does not decode: {0}")]
    Decode(String),
    #[error("the buffer holds {len} bytes, too few for command #{id} of {need} bytes (the command is dropped)")]
    TooSmall { len: u64, need: usize, id: u64 },
    #[error("the request has no device-writable byte for its status, so it cannot be answered")]
    NoStatus,
}

impl ChainError {
    /// One name per reason, for "log once per reason".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadHead { .. } => "bad-head",
            Self::BadNext { .. } => "bad-next",
            Self::Loop { .. } => "loop",
            Self::TooLong => "too-long",
            Self::Indirect { .. } => "indirect",
            Self::Unreadable { .. } => "unreadable",
            Self::OutsideRam { .. } => "outside-ram",
            Self::Direction { .. } => "direction",
            Self::TooBig { .. } => "too-big",
            Self::Decode(_) => "decode",
            Self::TooSmall { .. } => "too-small",
            Self::NoStatus => "no-status",
        }
    }
}

/// One buffer of a checked chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub addr: GuestAddress,
    pub len: u32,
}

/// Walks `chain` (from a queue of `size` entries whose descriptor table is
/// at `table`) with the virtio-queue iterator and checks every descriptor;
/// `writable` is the direction the queue takes (device-writable buffers on
/// the control queue, device-readable on the stats queue). Returns the
/// buffers in order, whose lengths add up to at most [`MESSAGE_MAX`].
///
/// The crate's iterator ends a chain quietly where it cannot go on (a
/// `next` outside the table, a loop that used up the queue size); the last
/// descriptor then still has `NEXT` set, and this says why it stopped.
pub fn walk_chain<M>(chain: DescriptorChain<M>, table: GuestAddress, size: u16, writable: bool) -> Result<Vec<Segment>, ChainError>
where
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    let rule = if writable { Rule::Writable } else { Rule::Readable };
    walk(chain, table, size, rule, MESSAGE_MAX as u64).map(|(segments, _)| segments)
}

/// [`walk_chain`] for a queue of device-writable buffers that stand for
/// guest memory rather than a message (the balloon's reporting queue):
/// at most `max_bytes` in all.
pub fn walk_writable_chain<M>(chain: DescriptorChain<M>, table: GuestAddress, size: u16, max_bytes: u64) -> Result<Vec<Segment>, ChainError>
where
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    walk(chain, table, size, Rule::Writable, max_bytes).map(|(segments, _)| segments)
}

/// What directions a queue's chains may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Readable,
    Writable,
    /// Device-readable buffers, then device-writable ones (a request and
    /// room for its answer, as a block device takes them).
    ReadThenWrite,
}

/// [`walk_chain`] for a request queue: device-readable buffers first, then
/// device-writable ones (a readable one after a writable one is a
/// `Direction` error), at most `max_bytes` in all. Returns the buffers and
/// the index of the first writable one (their count when there is none).
pub fn walk_request_chain<M>(chain: DescriptorChain<M>, table: GuestAddress, size: u16, max_bytes: u64) -> Result<(Vec<Segment>, usize), ChainError>
where
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    walk(chain, table, size, Rule::ReadThenWrite, max_bytes)
}

fn walk<M>(chain: DescriptorChain<M>, table: GuestAddress, size: u16, rule: Rule, max_bytes: u64) -> Result<(Vec<Segment>, usize), ChainError>
where
    M: Deref<Target = GuestMemoryMmap> + Clone,
{
    let head = chain.head_index();
    if head >= size {
        return Err(ChainError::BadHead { index: head, size });
    }
    let mem: &GuestMemoryMmap = chain.memory();
    // The entry in the queue's own table: the crate follows an indirect
    // descriptor by itself, and this tells whether it just did.
    let check_direct = |index: u16| -> Result<(), ChainError> {
        let entry =
            table.0.checked_add(index as u64 * 16).and_then(|at| mem.read_obj::<Descriptor>(GuestAddress(at)).ok()).ok_or(ChainError::Unreadable { index })?;
        if entry.refers_to_indirect_table() {
            return Err(ChainError::Indirect { index });
        }
        Ok(())
    };
    let mut seen = vec![false; size as usize];
    let mut segments = Vec::new();
    let mut first_writable = None;
    let mut total = 0u64;
    let mut index = head;
    let mut ended = false;
    for desc in chain.clone() {
        check_direct(index)?;
        match seen.get_mut(index as usize) {
            Some(true) => return Err(ChainError::Loop { index }),
            Some(slot) => *slot = true,
            None => return Err(ChainError::BadNext { index, next: index, size }),
        }
        if segments.len() >= QUEUE_SIZE_MAX as usize {
            return Err(ChainError::TooLong);
        }
        let name = |w: bool| if w { "writable" } else { "readable" };
        let wrong = match rule {
            Rule::Readable => desc.is_write_only().then_some("readable"),
            Rule::Writable => (!desc.is_write_only()).then_some("writable"),
            Rule::ReadThenWrite => (!desc.is_write_only() && first_writable.is_some()).then_some("writable (after a writable one)"),
        };
        if let Some(want) = wrong {
            return Err(ChainError::Direction { index, found: name(desc.is_write_only()), want });
        }
        if desc.is_write_only() && first_writable.is_none() {
            first_writable = Some(segments.len());
        }
        total += desc.len() as u64;
        if total > max_bytes {
            return Err(ChainError::TooBig { len: total, max: max_bytes });
        }
        let addr = desc.addr();
        let inside =
            addr.0.checked_add(desc.len() as u64).is_some() && mem.address_in_range(addr) && GuestMemoryBackend::check_range(mem, addr, desc.len() as usize);
        if !inside {
            return Err(ChainError::OutsideRam { index, addr: addr.0, len: desc.len() });
        }
        segments.push(Segment { addr, len: desc.len() });
        if desc.has_next() {
            let next = desc.next();
            if next >= size {
                return Err(ChainError::BadNext { index, next, size });
            }
            index = next;
        } else {
            ended = true;
        }
    }
    if !ended {
        // The iterator stopped with NEXT still set (or at the head): the
        // queue size ran out, which only a loop does here, or the entry
        // could not be read or followed.
        check_direct(index)?;
        return Err(match seen.get(index as usize) {
            Some(true) => ChainError::Loop { index },
            _ => ChainError::Unreadable { index },
        });
    }
    let first_writable = first_writable.unwrap_or(segments.len());
    Ok((segments, first_writable))
}

/// Reads the bytes of checked `segments`.
pub fn read_segments(mem: &GuestMemoryMmap, segments: &[Segment]) -> Result<Vec<u8>, ChainError> {
    let total: usize = segments.iter().map(|s| s.len as usize).sum();
    let mut bytes = vec![0u8; total];
    let mut at = 0;
    for (i, s) in segments.iter().enumerate() {
        let end = at + s.len as usize;
        mem.read_slice(&mut bytes[at..end], s.addr).map_err(|_| ChainError::OutsideRam { index: i as u16, addr: s.addr.0, len: s.len })?;
        at = end;
    }
    Ok(bytes)
}

/// Writes `bytes` across checked `segments` (which hold at least that many).
pub fn write_segments(mem: &GuestMemoryMmap, segments: &[Segment], bytes: &[u8]) -> Result<(), ChainError> {
    let mut rest = bytes;
    for (i, s) in segments.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        let n = rest.len().min(s.len as usize);
        mem.write_slice(&rest[..n], s.addr).map_err(|_| ChainError::OutsideRam { index: i as u16, addr: s.addr.0, len: s.len })?;
        rest = &rest[n..];
    }
    Ok(())
}
