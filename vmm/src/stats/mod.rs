//! The host side of the stats channel: what arrives from the guest's
//! stats device ([`crate::devices::stats`]), the in-process control API
//! ([`Control`]), and the host views of it: JSON lines (`--stats-out`),
//! Linux-format `/proc` files (`--proc-out`, [`views::ProcOut`]), a summary
//! table (`--stats table`, [`views::table`]) and `vmm stats FILE.jsonl
//! [--plot OUT.svg]` ([`summary`]).

pub mod control;
pub mod socket;
pub mod summary;
pub mod views;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use shared::stats::{CommandResult, Header, Payload, ProcessStats, Reason, SlabStats, Snapshot, KIND_REPLY, KIND_SNAPSHOT, STATS_MAGIC, STATS_VERSION};

pub use control::{Control, ControlError};

use crate::devices::stats::CommandEvent;
pub use crate::devices::stats::{HostSample, StatsMessage};

/// How many of the most recent messages a run keeps in memory (the
/// `--stats-out` file gets every one).
pub const MESSAGES_KEPT: usize = 1024;

/// A [`StatsMessage`] as one line of `--stats-out`: the header's fields
/// and the payload (serde's externally tagged enums: `{"Snapshot":
/// {...}}` or `{"Reply": {...}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonRecord {
    pub seq: u64,
    pub guest_ns: u64,
    /// `"snapshot"` or `"reply"`.
    pub kind: String,
    pub payload: Payload,
    /// The VMM's resident set and the guest RAM resident on the host when
    /// the snapshot arrived (absent in older recordings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostSample>,
}

impl StatsMessage {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match &self.payload {
            Payload::Snapshot(s) => Some(s),
            Payload::Reply(_) => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.payload {
            Payload::Snapshot(_) => "snapshot",
            Payload::Reply(_) => "reply",
        }
    }

    /// The message as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        let record = JsonRecord {
            seq: self.header.seq,
            guest_ns: self.header.guest_ns,
            kind: self.kind_name().to_string(),
            payload: self.payload.clone(),
            host: self.host,
        };
        serde_json::to_string(&record).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
    }

    /// Parses a line written by [`Self::to_json_line`].
    pub fn from_json_line(line: &str) -> Result<Self, String> {
        let record: JsonRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let kind = match (&record.payload, record.kind.as_str()) {
            (Payload::Snapshot(_), "snapshot") => KIND_SNAPSHOT,
            (Payload::Reply(_), "reply") => KIND_REPLY,
            (_, k) => return Err(format!("kind {k:?} does not match the payload")),
        };
        let header = Header { magic: STATS_MAGIC, version: STATS_VERSION, kind, seq: record.seq, guest_ns: record.guest_ns };
        Ok(Self { header, payload: record.payload, host: record.host })
    }
}

/// Lookups on a snapshot.
pub trait SnapshotExt {
    /// A `/proc/meminfo` field in kB, e.g. `"MemFree"`.
    fn meminfo_kb(&self, name: &str) -> Option<u64>;
    /// A `/proc/vmstat` counter, e.g. `"pgfault"`.
    fn vmstat(&self, name: &str) -> Option<u64>;
    fn process(&self, pid: u32) -> Option<&ProcessStats>;
    fn slab(&self, name: &str) -> Option<&SlabStats>;
    /// Free pages over all zones.
    fn free_pages(&self) -> u64;
}

impl SnapshotExt for Snapshot {
    fn meminfo_kb(&self, name: &str) -> Option<u64> {
        self.meminfo.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
    fn vmstat(&self, name: &str) -> Option<u64> {
        self.vmstat.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
    fn process(&self, pid: u32) -> Option<&ProcessStats> {
        self.processes.iter().find(|p| p.pid == pid)
    }
    fn slab(&self, name: &str) -> Option<&SlabStats> {
        self.slabs.iter().find(|s| s.name == name)
    }
    fn free_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.free).sum()
    }
}

/// What the stats channel carried during a run (in [`crate::RunReport`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsReport {
    /// Messages received (snapshots and replies).
    pub received: u64,
    pub snapshots: u64,
    pub replies: u64,
    /// Descriptor chains the device refused (each reason is reported once
    /// on stderr).
    pub rejected: u64,
    /// Other mistakes of the guest's driver (register misuse, broken rings).
    pub driver_errors: u64,
    /// Messages missing from the sequence numbers.
    pub lost: u64,
    /// The last snapshot received.
    pub last_snapshot: Option<(Header, Snapshot)>,
    /// The host's side of the last snapshot that carried one.
    pub last_host: Option<HostSample>,
    /// The most recent [`MESSAGES_KEPT`] messages, in order.
    pub messages: Vec<StatsMessage>,
}

impl StatsReport {
    /// The kept snapshots, in order.
    pub fn snapshots(&self) -> impl Iterator<Item = (&Header, &Snapshot)> {
        self.messages.iter().filter_map(|m| m.snapshot().map(|s| (&m.header, s)))
    }

    /// The final snapshot (sent at shutdown), when it arrived.
    pub fn final_snapshot(&self) -> Option<&Snapshot> {
        self.last_snapshot.as_ref().map(|(_, s)| s).filter(|s| s.reason == Reason::Final)
    }
}

/// How a run ended, as the control API sees it.
#[derive(Clone, Debug)]
pub(crate) struct Finish {
    pub reason: String,
    /// The guest powered off (wrote the exit port) rather than failing or
    /// being stopped.
    pub clean: bool,
}

/// Shared between the vCPU thread (which records what the device
/// produced) and [`Control`] (which waits for it).
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    changed: Condvar,
}

#[derive(Default)]
pub(crate) struct HubState {
    pub received: u64,
    pub snapshots: u64,
    pub replies: u64,
    pub lost: u64,
    last_seq: Option<u64>,
    pub recent: VecDeque<Arc<StatsMessage>>,
    pub last_snapshot: Option<Arc<StatsMessage>>,
    /// The host's side of the last snapshot that carried one.
    pub last_host: Option<HostSample>,
    /// Snapshots sent for `Op::Snapshot` so far, and the latest of them.
    pub requested: u64,
    pub last_requested: Option<Arc<StatsMessage>>,
    pub replies_by_id: HashMap<u64, Vec<CommandResult>>,
    pub exits: HashMap<u32, i32>,
    /// Commands the vCPU thread took from the channel / wrote into a guest
    /// buffer / had to drop.
    pub taken: HashSet<u64>,
    pub delivered: HashSet<u64>,
    pub undeliverable: HashMap<u64, String>,
    pub finished: Option<Finish>,
}

impl Hub {
    pub fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock cannot leave the state torn in a
        // way that matters here: everything is plain counters and maps.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wait_timeout<'a>(&self, guard: MutexGuard<'a, HubState>, dur: std::time::Duration) -> MutexGuard<'a, HubState> {
        match self.changed.wait_timeout(guard, dur) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    pub fn record(&self, message: Arc<StatsMessage>) {
        let mut st = self.lock();
        st.received += 1;
        if let Some(last) = st.last_seq {
            if message.header.seq > last + 1 {
                st.lost += message.header.seq - last - 1;
            }
        }
        st.last_seq = Some(message.header.seq);
        match &message.payload {
            Payload::Snapshot(s) => {
                st.snapshots += 1;
                if message.host.is_some() {
                    st.last_host = message.host;
                }
                if s.reason == Reason::Request {
                    st.requested += 1;
                    st.last_requested = Some(message.clone());
                }
                st.last_snapshot = Some(message.clone());
            }
            Payload::Reply(r) => {
                st.replies += 1;
                if let CommandResult::Exited { pid, status } = r.result {
                    st.exits.insert(pid, status);
                }
                st.replies_by_id.entry(r.id).or_default().push(r.result.clone());
            }
        }
        if st.recent.len() == MESSAGES_KEPT {
            st.recent.pop_front();
        }
        st.recent.push_back(message);
        drop(st);
        self.changed.notify_all();
    }

    pub fn taken(&self, id: u64) {
        self.lock().taken.insert(id);
        self.changed.notify_all();
    }

    pub fn command_event(&self, event: CommandEvent) {
        let mut st = self.lock();
        match event {
            CommandEvent::Delivered(id) => {
                st.delivered.insert(id);
            }
            CommandEvent::Undeliverable(id, why) => {
                st.undeliverable.insert(id, why);
            }
        }
        drop(st);
        self.changed.notify_all();
    }

    /// The run is over; the first call wins.
    pub fn finish(&self, reason: String, clean: bool) {
        let mut st = self.lock();
        if st.finished.is_none() {
            st.finished = Some(Finish { reason, clean });
        }
        drop(st);
        self.changed.notify_all();
    }

    pub fn report(&self, rejected: u64, driver_errors: u64) -> StatsReport {
        let st = self.lock();
        StatsReport {
            received: st.received,
            snapshots: st.snapshots,
            replies: st.replies,
            rejected,
            driver_errors,
            lost: st.lost,
            last_snapshot: st.last_snapshot.as_ref().and_then(|m| m.snapshot().map(|s| (m.header, s.clone()))),
            last_host: st.last_host,
            messages: st.recent.iter().map(|m| StatsMessage::clone(m)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::stats::{ProcFiles, Reply};

    pub(crate) fn snap(reason: Reason) -> Snapshot {
        Snapshot {
            reason,
            meminfo: vec![("MemTotal".into(), 131_072), ("MemFree".into(), 100_000)],
            zones: vec![],
            vmstat: vec![("pgfault".into(), 12)],
            slabs: vec![],
            vmalloc: vec![],
            processes: vec![],
            files: ProcFiles::default(),
        }
    }

    fn msg(seq: u64, payload: Payload) -> Arc<StatsMessage> {
        let kind = if matches!(payload, Payload::Snapshot(_)) { KIND_SNAPSHOT } else { KIND_REPLY };
        Arc::new(StatsMessage { header: Header { magic: STATS_MAGIC, version: STATS_VERSION, kind, seq, guest_ns: seq * 100 }, payload, host: None })
    }

    #[test]
    fn json_lines_round_trip() {
        let m = msg(3, Payload::Snapshot(snap(Reason::ProcessExit { pid: 4 })));
        let line = m.to_json_line();
        assert!(line.starts_with("{\"seq\":3,\"guest_ns\":300,\"kind\":\"snapshot\",\"payload\":{\"Snapshot\":"), "{line}");
        assert!(!line.contains('\n'));
        assert_eq!(StatsMessage::from_json_line(&line).unwrap(), *m);
        let r = msg(4, Payload::Reply(Reply { id: 1, result: CommandResult::Started { pid: 7 } }));
        assert_eq!(StatsMessage::from_json_line(&r.to_json_line()).unwrap(), *r);
        assert!(StatsMessage::from_json_line("{\"seq\":1").is_err());
        let wrong = line.replace("\"kind\":\"snapshot\"", "\"kind\":\"reply\"");
        assert!(StatsMessage::from_json_line(&wrong).unwrap_err().contains("does not match"));
        // The host's side travels with a snapshot, and older lines without
        // it still read.
        let mut h = (*m).clone();
        h.host = Some(HostSample { vmm_rss_kb: 30_000, guest_resident_kb: 12_000 });
        let line = h.to_json_line();
        assert!(line.ends_with(",\"host\":{\"vmm_rss_kb\":30000,\"guest_resident_kb\":12000}}"), "{line}");
        assert_eq!(StatsMessage::from_json_line(&line).unwrap(), h);
        assert_eq!(StatsMessage::from_json_line(&m.to_json_line()).unwrap().host, None);
    }

    #[test]
    fn the_hub_counts_gaps_replies_and_exits() {
        let hub = Hub::default();
        hub.record(msg(1, Payload::Snapshot(snap(Reason::Interval))));
        hub.record(msg(4, Payload::Reply(Reply { id: 2, result: CommandResult::Exited { pid: 9, status: 256 } })));
        hub.record(msg(5, Payload::Snapshot(snap(Reason::Request))));
        let st = hub.lock();
        assert_eq!((st.received, st.snapshots, st.replies, st.lost, st.requested), (3, 2, 1, 2, 1));
        assert_eq!(st.exits.get(&9), Some(&256));
        drop(st);
        let report = hub.report(1, 0);
        assert_eq!(report.snapshots().count(), 2);
        assert_eq!(report.last_snapshot.as_ref().unwrap().1.reason, Reason::Request);
        assert!(report.final_snapshot().is_none());
        assert_eq!(snap(Reason::Final).meminfo_kb("MemFree"), Some(100_000));
        assert_eq!(snap(Reason::Final).vmstat("pgfault"), Some(12));
    }
}
