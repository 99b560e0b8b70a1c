//! One audit device: a writer thread that owns the device's sink and its hash
//! chain. Entries are queued to it; it numbers and chains them in queue order,
//! writes every entry waiting at that moment in one go, answers the callers
//! that asked only for the write, and has the group made durable once (group
//! commit) for the callers that asked for that: by its sync thread
//! ([`super::syncer`]) when the sink has a [`Syncer`], so the next group is
//! written while this one syncs, else itself. A hung sink holds up only its
//! own threads: callers wait on them with a timeout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use serde_json::Value;
use tokio::sync::oneshot;

use super::canonical::{Body, entry_hash};
use super::entry::{Hasher, checkpoint_body};
use super::health::Health;
use super::syncer::{Answer, SyncThread, Syncer};
use super::{CHECKPOINT_EVERY, GENESIS_HASH};

/// Where a device writes. Runs on the device's own thread, so it may block.
pub trait Sink: Send + 'static {
    /// Appends `bytes` (whole lines), or nothing of them on failure.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes everything appended so far durable (a sink with no such notion,
    /// a socket, has nothing to do once its writes returned).
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Checks the sink before a write, reopening it when `force` is set (SIGHUP)
    /// or when it has been removed or replaced; true when a new file was started.
    fn refresh(&mut self, _force: bool) -> std::io::Result<bool> {
        Ok(false)
    }
    /// The last complete entry already written, when the sink can be read back,
    /// so a restarted device continues its chain.
    fn last_entry(&mut self) -> Option<Value> {
        None
    }
    /// What syncs this sink from another thread, if it can be: the device then
    /// syncs one group while it writes the next.
    fn syncer(&self) -> Option<Arc<dyn Syncer>> {
        None
    }
}

/// A device as enabled: name, type and options (`file`: `file_path`; `socket`:
/// `address`, `socket_type`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceConfig {
    /// The device's name (its path under `sys/audit/`).
    pub name: String,
    /// `file`, `stdout` or `socket`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Where a device's chain stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainState {
    /// The last sequence number written.
    pub seq: u64,
    /// The hash of the last entry written.
    pub last_hash: String,
}

/// What a caller waits for before it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The entry is written to the sink (for a file: in the page cache). A
    /// request entry: the request may run; its response entry's sync, which
    /// comes after it in the same file, makes both durable before the answer.
    Written,
    /// The entry, and every one before it, is durable: nothing is answered
    /// before this.
    Durable,
}

enum Job {
    Entry(Body, Wait, Answer),
    Close(oneshot::Sender<ChainState>),
}

/// Most entries queued to one device; beyond it the device is behind and skipped.
const QUEUE: usize = 10_000;
/// Most entries written in one group.
const GROUP: usize = 256;

/// A running device.
pub(crate) struct Device {
    pub config: DeviceConfig,
    pub hasher: Arc<Hasher>,
    queue: mpsc::SyncSender<Job>,
    health: Arc<Health>,
    reopen: Arc<AtomicBool>,
    state: Arc<Mutex<ChainState>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Starts the device's thread over `sink`, continuing the chain from what the
    /// sink holds, else from `resume`, else from the start.
    pub fn start(
        config: DeviceConfig,
        hasher: Hasher,
        mut sink: Box<dyn Sink>,
        resume: Option<ChainState>,
    ) -> Result<(Device, Option<String>), String> {
        let chain = resume_point(&config.name, sink.last_entry(), resume);
        let hasher = Arc::new(hasher);
        let state = Arc::new(Mutex::new(chain));
        let health = Arc::new(Health::new(&config.name));
        let reopen = Arc::new(AtomicBool::new(false));
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        let mut writer = Writer {
            sink,
            hasher: Arc::clone(&hasher),
            state: Arc::clone(&state),
            health: Arc::clone(&health),
            reopen: Arc::clone(&reopen),
            name: config.name.clone(),
            pending_open: true,
            sync_thread: None,
        };
        // Every file a device opens starts with a signed link to the chain so far.
        // If it cannot be written now, the device starts unhealthy and writes it
        // with the first entry that can be.
        let first_error = writer
            .write_group(Vec::new(), None)
            .and_then(|()| writer.sync())
            .err();
        if let Some(syncer) = writer.sink.syncer() {
            writer.sync_thread = Some(
                SyncThread::start(&config.name, syncer, Arc::clone(&health))
                    .map_err(|e| format!("cannot start the device's sync thread: {e}"))?,
            );
        }
        let thread = std::thread::Builder::new()
            .name(format!("audit-{}", config.name))
            .spawn(move || writer.run(jobs))
            .map_err(|e| format!("cannot start the device thread: {e}"))?;
        let device = Device {
            config,
            hasher,
            queue,
            health,
            reopen,
            state,
            thread: Mutex::new(Some(thread)),
        };
        Ok((device, first_error))
    }

    /// Queues an entry's `body` (written for this device); the receiver
    /// answers once it is as far as `wait` asks.
    pub fn enqueue(
        &self,
        body: Body,
        wait: Wait,
    ) -> Result<oneshot::Receiver<Result<(), String>>, String> {
        let (done, answer) = oneshot::channel();
        self.queue
            .try_send(Job::Entry(body, wait, done))
            .map_err(|_| "the device is behind (queue full) or stopped".to_owned())?;
        Ok(answer)
    }

    /// Waits at most `timeout` for a queued entry; a timeout marks the device
    /// unhealthy, so it is not waited on first next time.
    pub async fn wait(
        &self,
        answer: oneshot::Receiver<Result<(), String>>,
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the device stopped".into()),
            Err(_) => {
                let error = format!("no answer within {timeout:?}; marked unhealthy");
                self.health.timed_out(&error);
                Err(error)
            }
        }
    }

    /// True unless the device recently failed or timed out.
    pub fn is_healthy(&self) -> bool {
        self.health.is_healthy()
    }

    /// Writes that failed, and waits that timed out, since it started.
    pub fn failure_totals(&self) -> (u64, u64) {
        self.health.totals()
    }

    /// What went wrong last, if anything has since it started.
    pub fn last_error(&self) -> Option<String> {
        self.health.last_error()
    }

    /// Asks the device to reopen its file before the next write (SIGHUP).
    pub fn request_reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }

    /// Where the chain stands.
    pub fn chain(&self) -> ChainState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Writes a `shutdown` checkpoint and stops the thread; returns the chain
    /// state to persist. Bounded by `timeout` so a hung sink cannot hold up a stop.
    pub async fn close(&self, timeout: std::time::Duration) -> ChainState {
        let (done, answer) = oneshot::channel();
        if self.queue.try_send(Job::Close(done)).is_ok()
            && let Ok(Ok(state)) = tokio::time::timeout(timeout, answer).await
        {
            let thread = self.thread.lock().ok().and_then(|mut t| t.take());
            if let Some(thread) = thread {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            return state;
        }
        self.chain()
    }
}

struct Writer {
    sink: Box<dyn Sink>,
    hasher: Arc<Hasher>,
    state: Arc<Mutex<ChainState>>,
    health: Arc<Health>,
    reopen: Arc<AtomicBool>,
    name: String,
    // An `open` checkpoint is owed: the sink (re)opened and the checkpoint that
    // links it to the chain is not written yet.
    pending_open: bool,
    // Set when the sink can be synced from another thread.
    sync_thread: Option<SyncThread>,
}

impl Writer {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut entries = Vec::new();
            let mut close = None;
            let mut next = Some(first);
            while let Some(job) = next {
                match job {
                    Job::Entry(raw, wait, done) => entries.push((raw, wait, done)),
                    Job::Close(done) => {
                        close = Some(done);
                        break;
                    }
                }
                next = if entries.len() < GROUP {
                    jobs.try_recv().ok()
                } else {
                    None
                };
            }
            let mut raws = Vec::with_capacity(entries.len());
            let mut durable = Vec::new();
            let mut written = Vec::new();
            for (raw, wait, done) in entries {
                raws.push(raw);
                match wait {
                    Wait::Written => written.push(done),
                    Wait::Durable => durable.push(done),
                }
            }
            let result = self.write_group(raws, None);
            // Those who asked only for the write go on while the group syncs.
            for answer in written {
                let _ = answer.send(result.clone());
            }
            if !durable.is_empty() {
                match (result, self.sync_thread.as_ref()) {
                    (Ok(()), Some(sync_thread)) => sync_thread.hand_over(durable),
                    (result, _) => {
                        let result = result.and_then(|()| self.sync());
                        for answer in durable {
                            let _ = answer.send(result.clone());
                        }
                    }
                }
            }
            if let Some(done) = close {
                let closed = self
                    .write_group(Vec::new(), Some("shutdown"))
                    .and_then(|()| self.sync());
                if let Err(e) = closed {
                    tracing::error!(device = %self.name, error = %e, "audit device could not write its closing checkpoint");
                }
                if let Some(sync_thread) = self.sync_thread.take() {
                    sync_thread.stop();
                }
                let _ = done.send(self.state.lock().map(|s| s.clone()).unwrap_or_default());
                return;
            }
        }
    }

    /// Makes every group written so far durable. A failure leaves the chain
    /// where the writes took it (the lines are whole; whether they reach the
    /// disk is what failed) and marks the device unhealthy.
    fn sync(&mut self) -> Result<(), String> {
        self.sink
            .sync()
            .map_err(|e| self.health.fail(&format!("sync failed: {e}")))
    }

    /// Chains and writes `bodies` (plus a checkpoint with `reason`, if given,
    /// and the periodic ones due) in one write, not yet synced. On failure the
    /// chain does not advance.
    fn write_group(&mut self, bodies: Vec<Body>, reason: Option<&str>) -> Result<(), String> {
        let mut chain = self
            .state
            .lock()
            .map(|s| s.clone())
            .map_err(|_| "state lock poisoned".to_owned())?;
        let mut out = Vec::new();
        let reopened = self
            .sink
            .refresh(self.reopen.swap(false, Ordering::AcqRel))
            .map_err(|e| self.health.fail(&format!("cannot open: {e}")))?;
        if reopened || self.pending_open {
            let body = checkpoint_body(&self.hasher, chain.seq + 1, &chain.last_hash, "open");
            push(&mut out, &mut chain, &body);
        }
        for body in bodies {
            push(&mut out, &mut chain, &body);
            if chain.seq % CHECKPOINT_EVERY == 0 {
                let body =
                    checkpoint_body(&self.hasher, chain.seq + 1, &chain.last_hash, "periodic");
                push(&mut out, &mut chain, &body);
            }
        }
        if let Some(reason) = reason {
            let body = checkpoint_body(&self.hasher, chain.seq + 1, &chain.last_hash, reason);
            push(&mut out, &mut chain, &body);
        }
        if out.is_empty() {
            return Ok(());
        }
        match self.sink.append(&out) {
            Ok(()) => {
                if let Ok(mut state) = self.state.lock() {
                    *state = chain;
                }
                self.pending_open = false;
                self.health.recovered();
                Ok(())
            }
            Err(e) if reopened => {
                // The new file did not get its linking checkpoint: owe it.
                self.pending_open = true;
                Err(self.health.fail(&format!("write failed: {e}")))
            }
            Err(e) => Err(self.health.fail(&format!("write failed: {e}"))),
        }
    }
}

/// Appends `body` as the chain's next entry, one line.
fn push(out: &mut Vec<u8>, chain: &mut ChainState, body: &Body) {
    chain.seq += 1;
    chain.last_hash = body.chained_line(chain.seq, &chain.last_hash, out);
    out.push(b'\n');
}

/// Where a (re)started device continues its chain. The vault's own record of
/// where the chain stopped wins over what the file says, unless the file has
/// gone further with an entry whose hash holds (a crash after the record was
/// saved). A file that ends short of the record, or differently, was cut or
/// changed while the vault was away: the chain continues from the record, so
/// the verifier flags the gap, and the operator is told.
fn resume_point(name: &str, tail: Option<Value>, saved: Option<ChainState>) -> ChainState {
    let tail = tail.and_then(|entry| {
        let hash = entry.get("hash")?.as_str()?.to_owned();
        if entry_hash(&entry) != hash {
            tracing::error!(device = %name, "the last audit entry on file does not match its hash: it was changed");
            return None;
        }
        Some(ChainState {
            seq: entry.get("seq")?.as_u64()?,
            last_hash: hash,
        })
    });
    match (tail, saved) {
        (Some(t), Some(s)) if t.seq > s.seq => t,
        (Some(t), Some(s)) if t == s => s,
        (Some(t), Some(s)) => {
            tracing::error!(
                device = %name,
                file_seq = t.seq,
                recorded_seq = s.seq,
                "the audit file does not end where the vault left it: it was cut or changed; continuing from the vault's record"
            );
            s
        }
        (Some(t), None) => t,
        (None, Some(s)) => s,
        (None, None) => ChainState {
            seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::secret::Key256;

    /// A sink that records what the device asked of it, in order.
    struct Recording(Arc<Mutex<Vec<String>>>);

    impl Sink for Recording {
        fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let text = String::from_utf8_lossy(bytes);
            let mut calls = self.0.lock().unwrap();
            for line in text.lines() {
                let entry: Value = serde_json::from_str(line).unwrap();
                let name = entry["name"].as_str().unwrap_or("checkpoint");
                calls.push(format!("append {name}"));
            }
            Ok(())
        }
        fn sync(&mut self) -> std::io::Result<()> {
            self.0.lock().unwrap().push("sync".into());
            Ok(())
        }
    }

    /// An entry whose only member is its `name`.
    fn named(name: &str) -> Body {
        let mut body = super::super::canonical::BodyWriter::default();
        body.member("name", |out| {
            out.extend_from_slice(format!("{name:?}").as_bytes())
        });
        body.finish()
    }

    fn device() -> (Device, Arc<Mutex<Vec<String>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let config = DeviceConfig {
            name: "test".into(),
            kind: "file".into(),
            options: BTreeMap::new(),
        };
        let hasher = Hasher::new(&Key256::from_slice(&[3; 32]).unwrap()).unwrap();
        let (device, error) = Device::start(
            config,
            hasher,
            Box::new(Recording(Arc::clone(&calls))),
            None,
        )
        .unwrap();
        assert_eq!(error, None);
        (device, calls)
    }

    #[tokio::test]
    async fn a_written_entry_is_answered_unsynced_and_a_durable_one_after_a_sync() {
        let (device, calls) = device();
        let timeout = std::time::Duration::from_secs(10);
        let request = device.enqueue(named("request"), Wait::Written).unwrap();
        device.wait(request, timeout).await.unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            ["append checkpoint", "sync", "append request"],
            "the opening checkpoint is synced; the request entry is written, not synced"
        );
        let response = device.enqueue(named("response"), Wait::Durable).unwrap();
        device.wait(response, timeout).await.unwrap();
        assert_eq!(
            calls.lock().unwrap()[3..],
            ["append response", "sync"],
            "the response entry is answered only after a sync that covers both"
        );
        device.close(timeout).await;
        assert_eq!(
            calls.lock().unwrap()[5..],
            ["append checkpoint", "sync"],
            "the closing checkpoint is synced"
        );
    }

    /// A sink that syncs on the sync thread only when the test allows it, and
    /// fails the sync when told to.
    struct Gated {
        appended: Arc<Mutex<Vec<String>>>,
        gate: Arc<(Mutex<Vec<bool>>, std::sync::Condvar)>,
    }

    impl Sink for Gated {
        fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let text = String::from_utf8_lossy(bytes).into_owned();
            self.appended.lock().unwrap().push(text);
            Ok(())
        }
        fn syncer(&self) -> Option<Arc<dyn Syncer>> {
            Some(Arc::new(GatedSyncer(Arc::clone(&self.gate))))
        }
    }

    struct GatedSyncer(Arc<(Mutex<Vec<bool>>, std::sync::Condvar)>);

    impl Syncer for GatedSyncer {
        fn sync(&self) -> std::io::Result<()> {
            let (lock, ready) = &*self.0;
            let mut allowed = lock.lock().unwrap();
            while allowed.is_empty() {
                allowed = ready.wait(allowed).unwrap();
            }
            match allowed.remove(0) {
                true => Ok(()),
                false => Err(std::io::Error::other("the disk is gone")),
            }
        }
    }

    #[tokio::test]
    async fn entries_are_written_while_a_group_syncs_and_answered_durable_only_after_it() {
        let appended = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let config = DeviceConfig {
            name: "gated".into(),
            kind: "file".into(),
            options: BTreeMap::new(),
        };
        let hasher = Hasher::new(&Key256::from_slice(&[3; 32]).unwrap()).unwrap();
        let sink = Gated {
            appended: Arc::clone(&appended),
            gate: Arc::clone(&gate),
        };
        let (device, _) = Device::start(config, hasher, Box::new(sink), None).unwrap();
        let timeout = std::time::Duration::from_secs(10);
        let allow = |outcome: bool| {
            gate.0.lock().unwrap().push(outcome);
            gate.1.notify_all();
        };

        let mut first = device
            .enqueue(named("first response"), Wait::Durable)
            .unwrap();
        let request = device
            .enqueue(named("next request"), Wait::Written)
            .unwrap();
        device.wait(request, timeout).await.unwrap();
        assert!(
            appended.lock().unwrap().concat().contains("next request"),
            "the next entry is written while the first group's sync waits"
        );
        assert!(
            first.try_recv().is_err(),
            "the durable entry is not answered before its sync"
        );
        allow(true);
        device.wait(first, timeout).await.unwrap();

        let failed = device.enqueue(named("unlucky"), Wait::Durable).unwrap();
        allow(false);
        let error = device.wait(failed, timeout).await.unwrap_err();
        assert!(error.contains("the disk is gone"), "{error}");
        assert!(!device.is_healthy());
        assert_eq!(device.failure_totals().0, 1);

        // Closing answers what was handed over and stops both threads.
        allow(true);
        device.close(timeout).await;
    }
}
