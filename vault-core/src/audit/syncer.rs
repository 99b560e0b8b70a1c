//! A device's sync thread: group commit beside the writing, not in turn with
//! it. The writer thread appends each group and hands the callers who need it
//! durable to this thread, which makes everything appended so far durable in
//! one `fdatasync` and answers them. While one sync runs, the writer goes on
//! appending (request entries, which only need writing, are not held up behind
//! a sync), and everyone who arrived meanwhile shares the next one.
//!
//! Correctness rests on one order: a caller is handed over only after its
//! entry was appended, and a batch is taken before its sync starts, so every
//! entry of a batch was appended before the sync that answers it.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::health::Health;

/// Makes what a sink appended so far durable, from a thread other than the
/// one appending. A sink whose files change (a reopened log) must make the old
/// file durable before the new one replaces it, as the next sync reaches only
/// the new one.
pub trait Syncer: Send + Sync + 'static {
    /// Makes every byte appended so far durable.
    fn sync(&self) -> std::io::Result<()>;
}

/// The answer a caller waits for.
pub(crate) type Answer = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Queue {
    waiting: Vec<Answer>,
    stop: bool,
}

/// The handle the writer thread hands callers to.
pub(crate) struct SyncThread {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl SyncThread {
    /// Starts the thread for the device called `name`.
    pub fn start(
        name: &str,
        syncer: Arc<dyn Syncer>,
        health: Arc<Health>,
    ) -> std::io::Result<SyncThread> {
        let queue: Arc<(Mutex<Queue>, Condvar)> = Arc::default();
        let shared = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name(format!("audit-sync-{name}"))
            .spawn(move || run(&shared, syncer.as_ref(), &health))?;
        Ok(SyncThread {
            queue,
            thread: Some(thread),
        })
    }

    /// Answers `answers` after the next sync that starts from now on. Their
    /// entries must be appended already.
    pub fn hand_over(&self, answers: Vec<Answer>) {
        let (lock, ready) = &*self.queue;
        match lock.lock() {
            Ok(mut queue) => {
                queue.waiting.extend(answers);
                ready.notify_one();
            }
            Err(_) => {
                for answer in answers {
                    let _ = answer.send(Err("the audit sync thread failed".into()));
                }
            }
        }
    }

    /// Syncs and answers whatever was handed over, then ends the thread.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let (lock, ready) = &*self.queue;
        if let Ok(mut queue) = lock.lock() {
            queue.stop = true;
            ready.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn run(queue: &(Mutex<Queue>, Condvar), syncer: &dyn Syncer, health: &Health) {
    let (lock, ready) = queue;
    loop {
        let batch = {
            let Ok(mut queue) = lock.lock() else {
                return;
            };
            while queue.waiting.is_empty() && !queue.stop {
                queue = match ready.wait(queue) {
                    Ok(queue) => queue,
                    Err(_) => return,
                };
            }
            if queue.waiting.is_empty() {
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        let result = syncer
            .sync()
            .map_err(|e| health.fail(&format!("sync failed: {e}")));
        for answer in batch {
            let _ = answer.send(result.clone());
        }
    }
}
