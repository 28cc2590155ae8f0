//! WAL checkpoints on a thread of their own, so the writer's commits do not stop to copy pages
//! back into the database file and fsync it.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use event_store::StoreError;
use rusqlite::Connection;

/// How often the checkpointer copies committed WAL frames into the database.
const EVERY: Duration = Duration::from_millis(20);

type Stop = Arc<(Mutex<bool>, Condvar)>;

/// The checkpointing thread; stopped and joined on drop.
pub(crate) struct Checkpointer {
    stop: Stop,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn` (a connection of its own).
    pub(crate) fn spawn(conn: Connection) -> Result<Self, StoreError> {
        let stop: Stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("npp-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &signal))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, stop: &Stop) {
    let (lock, wake) = &**stop;
    loop {
        let Ok(stopped) = lock.lock() else { return };
        let Ok((stopped, _)) = wake.wait_timeout_while(stopped, EVERY, |stopped| !*stopped) else {
            return;
        };
        if *stopped {
            return;
        }
        drop(stopped);
        // PASSIVE never blocks the writer or readers; frames a reader still needs wait for the
        // next round. A failure is retried on the next round (the writer's own automatic
        // checkpoint, at a larger WAL size, remains the backstop).
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
