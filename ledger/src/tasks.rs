//! The tasks a [`crate::Ledger`] runs, and how they stop: as in
//! mini-redis, every task started for a ledger (the writer, the
//! checkpointer, and whoever follows the ledger through
//! [`crate::Ledger::spawn`], such as the projector) watches one stop
//! signal and is awaited by [`crate::Ledger::shutdown`], within a bound.
//!
//! Stopping is cooperative, at points where nothing is half done: the
//! writer stops taking requests, answers every one it has already queued
//! and commits them; the checkpointer finishes a checkpoint it is
//! publishing (a checkpoint remembered beside the keys but not stored would
//! look like a rolled-back store at the next start); followers stop between
//! batches.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The stop signal and the tasks that must see it.
pub(crate) struct Tasks {
    stop: watch::Sender<bool>,
    running: Mutex<Vec<JoinHandle<()>>>,
}

/// `shutdown` gave up waiting: these many tasks were still running after
/// the bound (they are left to end with the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} ledger task(s) still running when the shutdown bound passed")]
pub struct StillRunning(pub usize);

impl Tasks {
    pub(crate) fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            running: Mutex::new(Vec::new()),
        }
    }

    /// A receiver that sees the stop signal (already set, if it was).
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        self.running.lock().expect("task list lock").push(handle);
    }

    /// Sets the stop signal and waits up to `bound` for every task.
    pub(crate) async fn shutdown(&self, bound: Duration) -> Result<(), StillRunning> {
        self.stop.send_replace(true);
        let running: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.running.lock().expect("task list lock"));
        let deadline = tokio::time::Instant::now() + bound;
        let mut left = 0;
        for mut task in running {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(_) => {}
                Err(_) => left += 1,
            }
        }
        if left == 0 {
            Ok(())
        } else {
            Err(StillRunning(left))
        }
    }
}

/// Resolves once `stop` is set (or its sender is gone): for `select!`
/// beside a task's waits.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the ledger is gone: stop as well.
    let _ = stop.wait_for(|stopping| *stopping).await;
}
