//! A webhook receiver on loopback for tests: it records every delivery it is sent (headers and
//! body) and answers as its script says: fail with a status, stall past the sender's timeout,
//! hold every request until released, or accept.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200.
    Accept,
    /// This status, and the request counts as not delivered.
    Status(u16),
    /// No answer for this long (past the sender's timeout), then 200.
    Stall(Duration),
}

/// One request received.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub event_id: String,
    pub attempt: String,
    pub body: Vec<u8>,
    /// What the receiver answered (`Accept` means it took the delivery).
    pub answer: Answer,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Script {
    /// Answers for the next requests, in order; after them, `Accept`.
    next: VecDeque<Answer>,
    received: Vec<Received>,
    /// While set, every request waits.
    held: bool,
}

pub struct Receiver {
    pub port: u16,
    script: Arc<(Mutex<Script>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// A receiver on an ephemeral port.
    pub fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// A receiver on `port` (one that was reserved and let go).
    pub fn start_on(port: u16) -> Self {
        Self::on(TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    fn on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let script = Arc::new((Mutex::new(Script::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopping) = (Arc::clone(&script), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let shared = Arc::clone(&shared);
                        std::thread::spawn(move || serve(stream, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, script, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The next requests get these answers, in order.
    pub fn script(&self, answers: &[Answer]) {
        self.script.0.lock().unwrap().next.extend(answers);
    }

    /// Forgets the answers scripted and not yet used: every request is accepted.
    pub fn clear(&self) {
        self.script.0.lock().unwrap().next.clear();
    }

    /// Holds every request until [`Receiver::release`].
    pub fn hold(&self) {
        self.script.0.lock().unwrap().held = true;
    }

    pub fn release(&self) {
        self.script.0.lock().unwrap().held = false;
        self.script.1.notify_all();
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.script.0.lock().unwrap().received.clone()
    }

    /// The deliveries it took (answered 200), in the order it took them.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| !matches!(r.answer, Answer::Status(_)))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.release();
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<Script>, Condvar)) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end().to_owned();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let length: usize = find("content-length").parse().unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = {
            let (lock, wake) = shared;
            let mut script = lock.lock().unwrap();
            while script.held {
                script = wake.wait(script).unwrap();
            }
            let answer = script.next.pop_front().unwrap_or(Answer::Accept);
            script.received.push(Received {
                signature: find("npp-signature"),
                event_id: find("npp-event-id"),
                attempt: find("npp-delivery-attempt"),
                body,
                answer,
            });
            answer
        };
        let status = match answer {
            Answer::Accept => 200,
            Answer::Status(status) => status,
            Answer::Stall(wait) => {
                std::thread::sleep(wait);
                200
            }
        };
        let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Verifies `Npp-Signature` exactly as the README tells a channel to: split `t=` and `v1=`,
/// compute HMAC-SHA256 over `t`, a dot and the raw body, keyed with the endpoint's secret, and
/// compare; also refuse a timestamp older than `tolerance` seconds before `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if now - t > tolerance {
        return false;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

pub fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}
