//! Driving a running guest from the host, in-process: [`Control`], handed
//! to the closure of [`crate::vm::run_with_control`].
//!
//! A command goes to the vCPU thread over a channel (the vCPU is kicked
//! out of `KVM_RUN` until it has taken it), into the control queue as soon
//! as the guest has a buffer posted there, and the guest answers on the
//! stats queue with a reply carrying the command's id. Every call waits at
//! most [`Control::timeout`] and says what it was waiting for when it gives
//! up; once the guest has stopped, every call fails at once with the reason.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::stats::{encode_command, Command, CommandResult, Header, Op, Snapshot};

use super::{Hub, HubState, StatsMessage};
use crate::devices::balloon::BalloonConfig;

/// How often a balloon wait looks at the driver's `actual`.
const BALLOON_POLL: Duration = Duration::from_millis(20);

/// How long a control call waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the vCPU is kicked while it has not taken a command.
const KICK_INTERVAL: Duration = Duration::from_millis(10);

/// Why a control call failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("{what}: no answer from the guest within {secs:.1} s ({state})")]
    Timeout { what: String, secs: f64, state: String },
    #[error("{what}: the guest stopped before answering ({reason})")]
    Stopped { what: String, reason: String },
    #[error("{what}: failed in the guest with errno {errno} ({name})")]
    Failed { what: String, errno: i32, name: &'static str },
    #[error("{what}: the command could not be given to the guest: {reason}")]
    Undeliverable { what: String, reason: String },
    #[error("{what}: unexpected answer from the guest: {answer}")]
    Unexpected { what: String, answer: String },
    #[error("{what}: the command cannot be encoded: {reason}")]
    Encode { what: String, reason: String },
}

/// The host's handle on a running guest's stats channel.
pub struct Control {
    commands: Sender<(u64, Vec<u8>)>,
    hub: Arc<Hub>,
    kick: Arc<dyn Fn() + Send + Sync>,
    /// The balloon's configuration, with `--balloon`.
    balloon: Option<Arc<BalloonConfig>>,
    next_id: AtomicU64,
    timeout_ms: AtomicU64,
}

impl Control {
    pub(crate) fn new(commands: Sender<(u64, Vec<u8>)>, hub: Arc<Hub>, kick: Arc<dyn Fn() + Send + Sync>, balloon: Option<Arc<BalloonConfig>>) -> Self {
        Self { commands, hub, kick, balloon, next_id: AtomicU64::new(1), timeout_ms: AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64) }
    }

    /// How long each call waits for the guest.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_ms.store(timeout.as_millis().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Asks for a snapshot (`Op::Snapshot`) and returns it.
    pub fn snapshot(&self) -> Result<Snapshot, ControlError> {
        let what = "snapshot";
        let before = self.hub.lock().requested;
        let id = self.send(what, Op::Snapshot)?;
        self.wait_for(what, Some(id), |st| {
            if st.requested > before {
                let m = st.last_requested.as_ref()?;
                return m.snapshot().cloned().map(Ok);
            }
            match answers(st, id).last()? {
                CommandResult::Done => None,
                other => Some(Err(unexpected_or_failed(what, other))),
            }
        })
    }

    /// Runs `argv[0]` (a path in the initramfs) with `argv` as a child of
    /// init (`Op::Run`); returns its pid once it started.
    pub fn run(&self, argv: &[&str]) -> Result<u32, ControlError> {
        let what = format!("run {argv:?}");
        let id = self.send(&what, Op::Run { argv: argv.iter().map(|s| s.to_string()).collect() })?;
        self.wait_for(&what, Some(id), |st| {
            answers(st, id).first().map(|r| match r {
                CommandResult::Started { pid } | CommandResult::Exited { pid, .. } => Ok(*pid),
                other => Err(unexpected_or_failed(&what, other)),
            })
        })
    }

    /// Waits until process `pid` (started with [`Self::run`]) exits and
    /// returns its wait status (as `wait4` gives it: `status >> 8` is the
    /// exit code, the low 7 bits a killing signal).
    pub fn wait(&self, pid: u32) -> Result<i32, ControlError> {
        let what = format!("wait for pid {pid}");
        self.wait_for(&what, None, |st| st.exits.get(&pid).map(|&s| Ok(s)))
    }

    /// Drops clean caches in the guest (`Op::DropCaches`).
    pub fn drop_caches(&self) -> Result<(), ControlError> {
        let what = "drop caches";
        let id = self.send(what, Op::DropCaches)?;
        self.wait_for(what, Some(id), |st| {
            answers(st, id).first().map(|r| match r {
                CommandResult::Done => Ok(()),
                other => Err(unexpected_or_failed(what, other)),
            })
        })
    }

    /// Shuts the guest down (`Op::Shutdown`: it answers, sends its final
    /// snapshot and powers off) and waits until it has.
    pub fn shutdown(&self) -> Result<(), ControlError> {
        let what = "shutdown";
        let id = self.send(what, Op::Shutdown)?;
        self.wait_for(what, Some(id), |st| {
            if let Some(f) = &st.finished {
                return Some(if f.clean { Ok(()) } else { Err(ControlError::Stopped { what: what.into(), reason: f.reason.clone() }) });
            }
            match answers(st, id).first()? {
                CommandResult::Done => None,
                other => Some(Err(unexpected_or_failed(what, other))),
            }
        })
    }

    /// Asks the guest's balloon (`--balloon`) to hold `pages` 4 KiB pages:
    /// the driver inflates (gives the pages to the host) or deflates
    /// (takes them back) on its own time; see [`Self::wait_balloon`].
    pub fn set_balloon(&self, pages: u32) -> Result<(), ControlError> {
        let what = format!("balloon to {pages} pages");
        let config = self
            .balloon
            .as_ref()
            .ok_or_else(|| ControlError::Undeliverable { what: what.clone(), reason: "the guest has no balloon (run with --balloon)".into() })?;
        if let Some(f) = &self.hub.lock().finished {
            return Err(ControlError::Stopped { what, reason: f.reason.clone() });
        }
        config.set_target(pages);
        (self.kick)();
        Ok(())
    }

    /// The balloon's size: `(target, actual)` in 4 KiB pages, `None`
    /// without `--balloon`.
    pub fn balloon(&self) -> Option<(u32, u32)> {
        self.balloon.as_ref().map(|c| (c.target(), c.actual()))
    }

    /// Waits until the driver says the balloon holds what was asked for;
    /// returns that size in pages.
    pub fn wait_balloon(&self) -> Result<u32, ControlError> {
        let what = "wait for the balloon to reach its target";
        let config = self
            .balloon
            .as_ref()
            .ok_or_else(|| ControlError::Undeliverable { what: what.into(), reason: "the guest has no balloon (run with --balloon)".into() })?;
        let deadline = Instant::now() + self.timeout();
        loop {
            let (target, actual) = (config.target(), config.actual());
            if target == actual {
                return Ok(actual);
            }
            if let Some(f) = &self.hub.lock().finished {
                return Err(ControlError::Stopped { what: what.into(), reason: f.reason.clone() });
            }
            if Instant::now() >= deadline {
                let state = format!("the driver holds {actual} of {target} pages");
                return Err(ControlError::Timeout { what: what.into(), secs: self.timeout().as_secs_f64(), state });
            }
            std::thread::sleep(BALLOON_POLL);
        }
    }

    /// Sends `op` and returns its command id; the answers are in
    /// [`Self::replies`].
    pub fn send_op(&self, op: Op) -> Result<u64, ControlError> {
        self.send(&format!("{op:?}"), op)
    }

    /// The guest's answers so far to command `id`, in order.
    pub fn replies(&self, id: u64) -> Vec<CommandResult> {
        self.hub.lock().replies_by_id.get(&id).cloned().unwrap_or_default()
    }

    /// The latest snapshot, whatever sent it.
    pub fn latest_snapshot(&self) -> Option<(Header, Snapshot)> {
        let st = self.hub.lock();
        st.last_snapshot.as_ref().and_then(|m| Some((m.header, m.snapshot()?.clone())))
    }

    /// The snapshots received so far (the most recent
    /// [`super::MESSAGES_KEPT`] messages), in order.
    pub fn snapshots(&self) -> Vec<(Header, Snapshot)> {
        let st = self.hub.lock();
        st.recent.iter().filter_map(|m| Some((m.header, m.snapshot()?.clone()))).collect()
    }

    /// Every kept message (snapshots and replies), in order.
    pub fn messages(&self) -> Vec<StatsMessage> {
        self.hub.lock().recent.iter().map(|m| StatsMessage::clone(m)).collect()
    }

    /// The newest snapshot received so far for which `pred` holds, or the
    /// next one to arrive (e.g. the next `Reason::Interval` one).
    pub fn wait_for_snapshot(&self, pred: impl Fn(&Header, &Snapshot) -> bool) -> Result<(Header, Snapshot), ControlError> {
        self.wait_for("wait for a snapshot", None, |st| {
            st.recent.iter().rev().find_map(|m| m.snapshot().filter(|s| pred(&m.header, s)).map(|s| Ok((m.header, s.clone()))))
        })
    }

    /// Whether the guest has stopped (every call fails from then on).
    pub fn stopped(&self) -> bool {
        self.hub.lock().finished.is_some()
    }

    /// Waits until the guest has stopped; returns why.
    pub fn wait_stopped(&self) -> Result<String, ControlError> {
        self.wait_for("wait for the guest to stop", None, |st| st.finished.as_ref().map(|f| Ok(f.reason.clone())))
    }

    fn send(&self, what: &str, op: Op) -> Result<u64, ControlError> {
        if let Some(f) = &self.hub.lock().finished {
            return Err(ControlError::Stopped { what: what.into(), reason: f.reason.clone() });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = encode_command(&Command { id, op }).map_err(|e| ControlError::Encode { what: what.into(), reason: e.to_string() })?;
        if bytes.len() > shared::stats::MESSAGE_MAX {
            return Err(ControlError::Encode {
                what: what.into(),
                reason: format!("{} bytes, above the {}-byte message limit", bytes.len(), shared::stats::MESSAGE_MAX),
            });
        }
        self.commands.send((id, bytes)).map_err(|_| ControlError::Stopped { what: what.into(), reason: "the vCPU thread is gone".into() })?;
        Ok(id)
    }

    /// Waits until `check` gives an answer, the guest stops, the command
    /// `id` (if any) cannot be delivered, or the timeout passes. Kicks the
    /// vCPU while it has not taken command `id`.
    fn wait_for<T>(&self, what: &str, id: Option<u64>, mut check: impl FnMut(&HubState) -> Option<Result<T, ControlError>>) -> Result<T, ControlError> {
        let timeout = self.timeout();
        let deadline = Instant::now() + timeout;
        let mut st = self.hub.lock();
        loop {
            if let Some(result) = check(&st) {
                return result;
            }
            if let Some(f) = &st.finished {
                return Err(ControlError::Stopped { what: what.into(), reason: f.reason.clone() });
            }
            if let Some(why) = id.and_then(|id| st.undeliverable.get(&id)) {
                return Err(ControlError::Undeliverable { what: what.into(), reason: why.clone() });
            }
            let now = Instant::now();
            if now >= deadline {
                let state = match id {
                    Some(id) if st.delivered.contains(&id) => format!("command #{id} was given to the guest, which has not answered"),
                    Some(id) if st.taken.contains(&id) => {
                        format!("command #{id} is waiting for the guest to post a control-queue buffer; is its stats driver running?")
                    }
                    Some(id) => format!("command #{id} was not picked up by the vCPU thread"),
                    None => "nothing arrived".into(),
                };
                return Err(ControlError::Timeout { what: what.into(), secs: timeout.as_secs_f64(), state });
            }
            let mut wait = deadline - now;
            if id.is_some_and(|id| !st.taken.contains(&id)) {
                drop(st);
                (self.kick)();
                st = self.hub.lock();
                wait = wait.min(KICK_INTERVAL);
                if id.is_some_and(|id| st.taken.contains(&id)) {
                    continue;
                }
            }
            st = self.hub.wait_timeout(st, wait);
        }
    }
}

fn answers(st: &HubState, id: u64) -> &[CommandResult] {
    st.replies_by_id.get(&id).map(Vec::as_slice).unwrap_or(&[])
}

fn unexpected_or_failed(what: &str, result: &CommandResult) -> ControlError {
    match *result {
        CommandResult::Failed { errno } => ControlError::Failed { what: what.into(), errno, name: errno_name(errno) },
        ref other => ControlError::Unexpected { what: what.into(), answer: format!("{other:?}") },
    }
}

/// The symbolic name of a Linux errno.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        28 => "ENOSPC",
        36 => "ENAMETOOLONG",
        38 => "ENOSYS",
        _ => "unknown errno",
    }
}
