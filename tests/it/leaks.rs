//! The shared leak scanner and webhook capture: planted secrets in every form a leak could take
//! (as is, base64, URL-encoded), looked for in any list of named outputs (stdout, stderr, JSON
//! events, checkpoints, ConfigMaps, cluster objects, webhook bodies). Used by `secret_leak.rs`,
//! `leak_scan.rs` and `migrations.rs`; restore and other runbooks pass their outputs the same way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A secret's forms: as is, base64 (padded and unpadded) and URL-encoded.
pub fn forms(secret: &str) -> Vec<String> {
    let b64 = STANDARD.encode(secret);
    let url: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut all = vec![
        secret.to_string(),
        b64.trim_end_matches('=').to_string(),
        url,
    ];
    all.dedup();
    all
}

/// Every `(output, needle)` pair where a needle appears in a named output.
pub fn scan(needles: &[String], outputs: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, text) in outputs {
        for needle in needles.iter().filter(|n| text.contains(n.as_str())) {
            found.push(format!("`{needle}` in {what}"));
        }
    }
    found
}

/// Fails naming every output that holds a needle.
#[track_caller]
pub fn assert_clean(needles: &[String], outputs: &[(String, String)]) {
    let found = scan(needles, outputs);
    assert!(found.is_empty(), "leaks: {found:#?}");
}

/// A webhook on loopback at `path` recording every request body; answers 200.
pub fn webhook(path: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, got)
}
