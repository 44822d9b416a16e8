//! Secret values and the redactor every sink (terminal, JSON, checkpoints, errors) passes through.
//!
//! Secrets are held as [`SecretString`] (from `secrecy`), which cannot be printed:
//!
//! ```compile_fail
//! let password = cnpgops::redact::SecretString::from("hunter2-very-secret".to_string());
//! println!("{}", password); // SecretString has no Display: this does not compile
//! ```
//!
//! ```
//! let password = cnpgops::redact::SecretString::from("hunter2-very-secret".to_string());
//! let debug = format!("{password:?}");
//! assert!(!debug.contains("hunter2"), "Debug must not show the value: {debug}");
//! ```
//!
//! Every secret the tool loads is also taught to the shared [`Redactor`], which masks the value,
//! its base64 forms (at every byte alignment, so it is found inside longer base64 blobs such as
//! Kubernetes Secret data), its URL-encoded forms (as found in connection URIs) and its JSON-escaped
//! form (a JSON document inside a log line). A secret that
//! contains a URI with a password (`postgresql://app:PASSWORD@host/db`) also teaches the
//! password alone, as written and percent-decoded.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
pub use secrecy::{ExposeSecret, SecretString};

/// The text that replaces a secret.
pub(crate) const MASK: &str = "********";

/// Secrets shorter than this are not masked: masking "ab" everywhere would destroy the output.
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// Characters percent-encoded in the userinfo part of a URI (RFC 3986), e.g. `postgres://u:p@h`.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|')
    .add(b'%');

/// RFC 3986: everything but unreserved characters (`-._~`) is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Like Jinja's `urlencode` filter: unreserved characters and `/` stay as they are.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

/// A shared, cheaply cloned set of known secret values; masks them in any string.
#[derive(Clone, Default)]
pub struct Redactor {
    patterns: Arc<RwLock<Vec<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.patterns.read().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("Redactor")
            .field("patterns", &count)
            .finish()
    }
}

impl Redactor {
    /// A redactor that knows no secret yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns a secret: from now on the value and its encoded forms are masked.
    pub fn learn(&self, secret: &SecretString) {
        self.learn_str(secret.expose_secret());
    }

    /// Learns a secret given as plain text (for values that arrive already exposed), and the
    /// password of every URI inside it (`postgresql://app:PASSWORD@host/db`), on its own.
    pub fn learn_str(&self, value: &str) {
        for password in uri_passwords(value) {
            self.learn_forms(&password);
        }
        self.learn_forms(value);
    }

    /// Learns one value and its encoded forms.
    fn learn_forms(&self, value: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let mut forms = encoded_forms(value);
        forms.push(value.to_string());
        let Ok(mut patterns) = self.patterns.write() else {
            return;
        };
        for form in forms {
            if form.len() >= MIN_SECRET_LEN && !patterns.contains(&form) {
                patterns.push(form);
            }
        }
        // Longest first, so a form containing another is masked whole.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    }

    /// Masks every known secret form in `text`; borrows when nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Ok(patterns) = self.patterns.read() else {
            return Cow::Owned(MASK.to_string());
        };
        let mut out = Cow::Borrowed(text);
        for pattern in patterns.iter() {
            if out.contains(pattern.as_str()) {
                out = Cow::Owned(out.replace(pattern.as_str(), MASK));
            }
        }
        out
    }

    /// Masks every string inside a JSON value (keys included).
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s).into_owned()),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.redact(k).into_owned(), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The passwords in `scheme://user:password@host` URIs of `text`, as written and decoded.
fn uri_passwords(text: &str) -> Vec<String> {
    static URI: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) = URI.get_or_init(|| {
        regex::Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:([^\s/?#]+)@").ok()
    }) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for caps in re.captures_iter(text) {
        let Some(written) = caps.get(1).map(|m| m.as_str()) else {
            continue;
        };
        if let Ok(decoded) = percent_encoding::percent_decode_str(written).decode_utf8() {
            out.push(decoded.into_owned());
        }
        out.push(written.to_string());
    }
    out
}

/// The base64 (standard and URL-safe, at the three byte alignments) and percent-encoded forms.
fn encoded_forms(value: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ] {
        for shift in 0..3 {
            forms.extend(aligned_base64(engine, value.as_bytes(), shift));
        }
    }
    for set in [NON_ALPHANUMERIC, USERINFO, UNRESERVED, PATH] {
        forms.push(utf8_percent_encode(value, set).to_string());
    }
    forms.push(
        utf8_percent_encode(value, USERINFO)
            .to_string()
            .replace("%20", "+"),
    );
    // As it appears inside JSON text (`"` and `\` escaped), e.g. a JSON document in a log line.
    if let Ok(quoted) = serde_json::to_string(value) {
        if let Some(inner) = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
            forms.push(inner.to_string());
        }
    }
    forms.retain(|f| f != value);
    forms
}

/// The base64 characters that depend only on `bytes` when they start `shift` bytes into a
/// longer stream: the characters mixed with neighbouring bytes are cut off at both ends.
fn aligned_base64(engine: &impl base64::Engine, bytes: &[u8], shift: usize) -> Option<String> {
    let mut padded = vec![0u8; shift];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    let encoded = encoded.trim_end_matches('=');
    let lead = (shift * 8).div_ceil(6);
    let trail = usize::from(!padded.len().is_multiple_of(3));
    let end = encoded.len().checked_sub(trail)?;
    encoded.get(lead..end).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    const SECRET: &str = "s3cr3t-P@ss word/42";

    fn redactor() -> Redactor {
        let r = Redactor::new();
        r.learn(&SecretString::from(SECRET.to_string()));
        r
    }

    #[test]
    fn masks_the_plain_value() {
        let text = format!("password is {SECRET}!");
        let out = redactor().redact(&text);
        assert_eq!(out, format!("password is {MASK}!"));
    }

    #[test]
    fn leaves_clean_text_borrowed() {
        let r = redactor();
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_base64_at_every_alignment_inside_longer_blobs() {
        let r = redactor();
        for prefix in ["", "a", "ab", "abc"] {
            let blob = STANDARD.encode(format!("{prefix}user={SECRET};"));
            let out = r.redact(&blob);
            assert!(out.contains(MASK), "prefix {prefix:?}: {blob} -> {out}");
            let decoded_tail = STANDARD.encode(SECRET);
            assert!(!out.contains(decoded_tail.trim_end_matches('=')));
        }
    }

    #[test]
    fn masks_url_encoded_forms() {
        let r = redactor();
        let userinfo = utf8_percent_encode(SECRET, USERINFO).to_string();
        let uri = format!("postgres://app:{userinfo}@db:5432/app");
        assert_eq!(r.redact(&uri), format!("postgres://app:{MASK}@db:5432/app"));
        let full = utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string();
        assert!(!r.redact(&full).contains("s3cr3t"));
    }

    #[test]
    fn clones_share_what_they_learn() {
        let r = Redactor::new();
        let clone = r.clone();
        r.learn_str("shared-secret");
        assert_eq!(clone.redact("x shared-secret y"), format!("x {MASK} y"));
    }

    #[test]
    fn uri_passwords_are_learned_on_their_own() {
        let r = Redactor::new();
        r.learn_str("postgresql://app:Pl%40nted-pw@db.example:5432/app?sslmode=require");
        let out = r.redact("pw Pl@nted-pw, encoded Pl%40nted-pw, user app");
        assert_eq!(out, format!("pw {MASK}, encoded {MASK}, user app"));
        assert!(uri_passwords("https://example.com/a:b@c").is_empty());
        assert_eq!(
            uri_passwords("s3://key:sec@ret@bucket/x"),
            ["sec@ret", "sec@ret"]
        );
    }

    #[test]
    fn masks_the_json_escaped_form() {
        let r = Redactor::new();
        r.learn_str("pa\"ss\\word");
        let doc = serde_json::json!({"pw": "pa\"ss\\word"}).to_string();
        assert_eq!(r.redact(&doc), format!("{{\"pw\":\"{MASK}\"}}"));
    }

    #[test]
    fn short_values_are_not_masked() {
        let r = Redactor::new();
        r.learn_str("ab");
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn redacts_json_strings_and_keys() {
        let r = redactor();
        let v = serde_json::json!({ "a": [SECRET, 1], SECRET: true });
        let out = r.redact_json(&v).to_string();
        assert!(!out.contains("s3cr3t"), "{out}");
    }
}
