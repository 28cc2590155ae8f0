//! Group commit: appends from many threads queue to one writer thread, which commits whatever
//! has queued in one transaction, so they share one fsync. Each append is still atomic and
//! refused on its own (the adapters run a batch again with a savepoint per append when one is
//! refused) and each caller gets its own results.

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

type Results = Vec<Result<AppendOutcome, StoreError>>;
type Reply = mpsc::SyncSender<Results>;

/// One caller's appends and where their results go.
struct Job {
    requests: Vec<AppendRequest>,
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
        self.append_batch(vec![request])
            .pop()
            .unwrap_or_else(|| Err(gone()))
    }

    /// Queues several appends in one hand-off and waits for their results, in order.
    pub(crate) fn append_batch(&self, requests: Vec<AppendRequest>) -> Results {
        let count = requests.len();
        if count == 0 {
            return Vec::new();
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(Job { requests, reply }).is_ok());
        match answer.recv() {
            Ok(results) if sent && results.len() == count => results,
            Ok(_) | Err(_) => (0..count).map(|_| Err(gone())).collect(),
        }
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the writer thread has stopped".into())
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
        let mut appends = first.requests.len();
        let mut jobs = vec![first];
        while appends < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => {
                    appends += job.requests.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut requests = Vec::with_capacity(appends);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            replies.push((job.reply, job.requests.len()));
            requests.extend(job.requests);
        }
        let mut results = writer.write_batch(&requests).into_iter();
        for (reply, count) in replies {
            let mine: Results = (0..count)
                .map(|_| {
                    results.next().unwrap_or_else(|| {
                        Err(StoreError::Unavailable(
                            "the writer returned too few results".into(),
                        ))
                    })
                })
                .collect();
            // A caller that gave up waiting is not an error for the others.
            let _ = reply.send(mine);
        }
    }
}
