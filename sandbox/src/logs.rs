//! Container logs: what pods (run as processes) write, kept per (namespace, pod, container),
//! and mirrored to files the node agent's kubelet API serves to the apiserver (`kubectl logs`):
//! `DIR/logs/<ns>/<pod>/<container>.log`, a line `<RFC3339Nano> <text>` per line, and
//! `<container>.done` once the container has exited.
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
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
    /// Where the files are mirrored, if anywhere.
    dir: Option<PathBuf>,
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
    /// A store that also writes every log under `dir`.
    pub fn with_dir(dir: PathBuf) -> Self {
        LogStore {
            logs: Mutex::default(),
            dir: Some(dir),
        }
    }

    fn file(&self, key: &LogKey, ext: &str) -> Option<PathBuf> {
        let (ns, pod, container) = key;
        let dir = self.dir.as_ref()?.join(ns).join(pod);
        std::fs::create_dir_all(&dir).ok()?;
        Some(dir.join(format!("{container}.{ext}")))
    }

    fn mirror(&self, key: &LogKey, text: &str) {
        let Some(path) = self.file(key, "log") else {
            return;
        };
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let lines: String = text.lines().map(|l| format!("{ts} {l}\n")).collect();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        if let Err(e) = f.and_then(|mut f| f.write_all(lines.as_bytes())) {
            tracing::warn!(path = %path.display(), "failed to write a container log: {e}");
        }
    }

    fn with<R>(&self, key: &LogKey, f: impl FnOnce(&mut Log) -> R) -> R {
        let mut g = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = g.entry(key.clone()).or_insert_with(|| Log {
            text: String::new(),
            finished: false,
            changed: watch::channel(0).0,
        });
        f(log)
    }

    /// A container started: its log exists from now on (empty), as the kubelet's does, so a
    /// follower can attach before the first line.
    pub fn started(&self, key: &LogKey) {
        if let Some(path) = self.file(key, "log") {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
        }
    }

    /// Appends output of a container.
    pub fn append(&self, key: &LogKey, text: &str) {
        self.mirror(key, text);
        self.with(key, |l| {
            l.text.push_str(text);
            l.changed.send_modify(|n| *n += 1);
        });
    }

    /// Marks a container finished: followers get the rest and their stream ends.
    pub fn finish(&self, key: &LogKey) {
        if let Some(done) = self.file(key, "done") {
            let _ = std::fs::write(done, "");
        }
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
