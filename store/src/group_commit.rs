//! Group commit: appends from many threads queue to one writer thread, which commits whatever
//! has queued in one transaction, so they share one fsync. Each append is still atomic on its own
//! (a savepoint each) and each caller gets its own result.

use std::sync::mpsc;
use std::thread::JoinHandle;

use event_store::{AppendOutcome, AppendRequest, StoreError};

/// The most appends one transaction carries; bounds latency and transaction size.
pub(crate) const MAX_BATCH: usize = 512;

/// A database that can commit a batch of appends in one transaction.
pub(crate) trait BatchWriter: Send + 'static {
    /// Commits the batch; one result per request, in order. If the commit itself fails, every
    /// request of the batch fails: none of them was written.
    fn write_batch(&mut self, batch: &[AppendRequest]) -> Vec<Result<AppendOutcome, StoreError>>;
}

type Reply = mpsc::SyncSender<Result<AppendOutcome, StoreError>>;

struct Job {
    request: AppendRequest,
    reply: Reply,
}

/// The queue in front of one writer thread.
pub(crate) struct GroupCommit {
    sender: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the writer thread.
    pub(crate) fn spawn<W: BatchWriter>(name: &str, writer: W) -> Result<Self, StoreError> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let writer = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(writer, &receiver))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
        })
    }

    /// Queues one append and waits for its own result.
    pub(crate) fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let gone = || StoreError::Unavailable("the writer thread has stopped".into());
        self.sender
            .as_ref()
            .ok_or_else(gone)?
            .send(Job { request, reply })
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and stop.
        drop(self.sender.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn run<W: BatchWriter>(mut writer: W, receiver: &mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<AppendRequest>, Vec<Reply>) =
            jobs.into_iter().map(|job| (job.request, job.reply)).unzip();
        let mut results = writer.write_batch(&requests).into_iter();
        for reply in replies {
            let result = results.next().unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "the writer returned too few results".into(),
                ))
            });
            // A caller that gave up waiting is not an error for the others.
            let _ = reply.send(result);
        }
    }
}
