//! The shared leak scanner and webhook capture: planted secrets in every form a leak could take
//! (as is, JSON-escaped, URL-encoded, base64 at every alignment), looked for in any list of named outputs (stdout, stderr, JSON
//! events, checkpoints, ConfigMaps, cluster objects, webhook bodies). Used by `secret_leak.rs`,
//! `leak_scan.rs` and `migrations.rs`; restore and other runbooks pass their outputs the same way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;

/// A secret's forms: as is, JSON-escaped, URL-encoded (every reserved byte, and as a URI's
/// userinfo leaves `-._~` alone), and base64 (standard and URL-safe) at each of the three byte
/// alignments it can have inside a longer encoded blob: only the characters that depend on the
/// secret's bytes alone, so a secret in the middle of a base64'd line is found too.
pub(crate) fn forms(secret: &str) -> Vec<String> {
    let url: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let json = serde_json::to_string(secret).unwrap();
    let mut all = vec![secret.to_string(), json[1..json.len() - 1].to_string(), url];
    let bytes = secret.as_bytes();
    for skip in 0..3.min(bytes.len()) {
        let whole = (bytes.len() - skip) / 3 * 3;
        if whole == 0 {
            continue;
        }
        let part = &bytes[skip..skip + whole];
        all.push(STANDARD.encode(part));
        all.push(URL_SAFE.encode(part));
    }
    all.sort();
    all.dedup();
    all
}

/// Every `(output, needle)` pair where a needle appears in a named output.
pub(crate) fn scan(needles: &[String], outputs: &[(String, String)]) -> Vec<String> {
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
pub(crate) fn assert_clean(needles: &[String], outputs: &[(String, String)]) {
    let found = scan(needles, outputs);
    assert!(found.is_empty(), "leaks: {found:#?}");
}

/// A webhook on loopback at `path` recording every request body; answers 200.
pub(crate) fn webhook(path: &str) -> (String, Arc<Mutex<Vec<String>>>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = r#"pl4nted"Pa55\word/x"#;

    fn found(text: &str) -> bool {
        !scan(&forms(SECRET), &[("text".into(), text.into())]).is_empty()
    }

    #[test]
    fn the_scanner_finds_every_planted_form() {
        assert!(found(&format!("FATAL: password {SECRET} rejected")));
        let json = serde_json::json!({"msg": format!("connecting as {SECRET}")}).to_string();
        assert!(
            !json.contains(SECRET),
            "the JSON form differs from the raw one"
        );
        assert!(found(&json), "JSON-escaped: {json}");
        let encoded: String = SECRET
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert!(
            found(&format!("postgresql://app:{encoded}@db/app")),
            "URL-encoded"
        );
        // Base64 of a longer line, the secret at every offset (and so every alignment).
        for prefix in ["", "u", "us", "uri=", "DATABASE_URI="] {
            let line = format!("{prefix}{SECRET};rest");
            for engine in [STANDARD, URL_SAFE] {
                let blob = engine.encode(&line);
                assert!(found(&blob), "base64 of `{line}`: {blob}");
                assert!(found(&format!("log: {}", blob.trim_end_matches('='))));
            }
        }
    }

    #[test]
    fn the_scanner_stays_quiet_without_the_secret() {
        let near = SECRET.replace('x', "y");
        assert!(!found(&format!(
            "{} {}",
            STANDARD.encode("another line"),
            near.replace("Pa55", "Pa56")
        )));
    }
}
