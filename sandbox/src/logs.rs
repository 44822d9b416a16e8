//! Container logs: what pods (run as processes) write, kept per (namespace, pod, container) and
//! served by `pods/log`, including `follow` until the container finishes.
use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::watch;

/// (namespace, pod, container)
pub type LogKey = (String, String, String);

struct Log {
    text: String,
    finished: bool,
    changed: watch::Sender<u64>,
}

#[derive(Default)]
pub struct LogStore {
    logs: Mutex<HashMap<LogKey, Log>>,
}

fn tail(text: &str, lines: Option<i64>) -> String {
    match lines {
        Some(n) if n >= 0 => {
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(n as usize);
            all[from..].iter().map(|l| format!("{l}\n")).collect()
        }
        _ => text.to_string(),
    }
}

impl LogStore {
    fn with<R>(&self, key: &LogKey, f: impl FnOnce(&mut Log) -> R) -> R {
        let mut g = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = g.entry(key.clone()).or_insert_with(|| Log {
            text: String::new(),
            finished: false,
            changed: watch::channel(0).0,
        });
        f(log)
    }

    /// Appends output of a container.
    pub fn append(&self, key: &LogKey, text: &str) {
        self.with(key, |l| {
            l.text.push_str(text);
            l.changed.send_modify(|n| *n += 1);
        });
    }

    /// Marks a container finished: followers get the rest and their stream ends.
    pub fn finish(&self, key: &LogKey) {
        self.with(key, |l| {
            l.finished = true;
            l.changed.send_modify(|n| *n += 1);
        });
    }

    pub fn read(&self, key: &LogKey, tail_lines: Option<i64>) -> String {
        self.with(key, |l| tail(&l.text, tail_lines))
    }

    /// A stream of the log from the start (or the last `tail_lines`), then new output as it
    /// comes, ending when the container finishes.
    pub fn follow(
        self: &std::sync::Arc<Self>,
        key: LogKey,
        tail_lines: Option<i64>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + use<> {
        let (first, sent, rx) = self.with(&key, |l| {
            (
                tail(&l.text, tail_lines),
                l.text.len(),
                l.changed.subscribe(),
            )
        });
        let store = self.clone();
        futures::stream::unfold((Some(first), sent, rx), move |(pending, sent, mut rx)| {
            let store = store.clone();
            let key = key.clone();
            async move {
                if let Some(p) = pending {
                    return Some((Ok(Bytes::from(p)), (None, sent, rx)));
                }
                loop {
                    let (chunk, len, finished) = store.with(&key, |l| {
                        (
                            l.text.get(sent..).unwrap_or_default().to_string(),
                            l.text.len(),
                            l.finished,
                        )
                    });
                    if !chunk.is_empty() {
                        return Some((Ok(Bytes::from(chunk)), (None, len, rx)));
                    }
                    if finished || rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        })
    }
}
