//! The credential Secrets CNPG generates: `<cluster>-app` (only when `bootstrap.initdb.secret`
//! is not given) and `<cluster>-superuser` (only with `enableSuperuserAccess`), with CNPG's keys.
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Map, Value};

use super::cluster::ClusterView;

/// Characters kept as-is in URI user info and query values (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A random password as CNPG generates them: 64 characters.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 64)
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The keys of a CNPG credential secret (`pkg/specs/secrets.go`).
pub fn credential_keys(
    c: &ClusterView,
    user: &str,
    password: &str,
    db: &str,
) -> Map<String, Value> {
    let host = format!("{}-rw", c.name);
    let ns_host = format!("{host}.{}", c.ns);
    let fqdn = format!("{ns_host}.svc.cluster.local");
    let uri = |h: &str| format!("postgresql://{}:{}@{h}:5432/{db}", enc(user), enc(password));
    let jdbc = |h: &str| {
        format!(
            "jdbc:postgresql://{h}:5432/{db}?password={}&user={}",
            enc(password),
            enc(user)
        )
    };
    let pairs = [
        ("username", user.to_string()),
        ("user", user.to_string()),
        ("password", password.to_string()),
        ("dbname", db.to_string()),
        ("host", host.clone()),
        ("port", "5432".to_string()),
        ("pgpass", format!("{host}:5432:{db}:{user}:{password}\n")),
        ("uri", uri(&ns_host)),
        ("jdbc-uri", jdbc(&ns_host)),
        ("fqdn-uri", uri(&fqdn)),
        ("fqdn-jdbc-uri", jdbc(&fqdn)),
    ];
    let b64 = base64::engine::general_purpose::STANDARD;
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(b64.encode(v))))
        .collect()
}

/// A generated credential secret owned by the Cluster.
pub fn credential_secret(
    c: &ClusterView,
    suffix: &str,
    user_type: &str,
    user: &str,
    password: &str,
    db: &str,
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
        "metadata": {
            "name": format!("{}-{suffix}", c.name), "namespace": c.ns,
            "labels": {"cnpg.io/cluster": c.name, "cnpg.io/userType": user_type, "cnpg.io/reload": "true",
                       "app.kubernetes.io/managed-by": "cloudnative-pg"},
            "ownerReferences": c.owner_ref(),
        },
        "data": credential_keys(c, user, password, db),
    })
}

/// A key of a Secret object, decoded.
pub fn secret_value(secret: &Value, key: &str) -> Option<String> {
    if let Some(s) = secret
        .pointer(&format!("/stringData/{key}"))
        .and_then(Value::as_str)
    {
        return Some(s.to_string());
    }
    let raw = secret
        .pointer(&format!("/data/{key}"))
        .and_then(Value::as_str)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_cnpg() {
        let c =
            ClusterView::parse(&json!({"metadata": {"namespace": "db", "name": "pg"}, "spec": {}}));
        let s = credential_secret(&c, "app", "app", "app", "p@ss", "app");
        let v = |k: &str| secret_value(&s, k).expect(k);
        assert_eq!(v("host"), "pg-rw");
        assert_eq!(v("uri"), "postgresql://app:p%40ss@pg-rw.db:5432/app");
        assert_eq!(
            v("jdbc-uri"),
            "jdbc:postgresql://pg-rw.db:5432/app?password=p%40ss&user=app"
        );
        assert_eq!(
            v("fqdn-uri"),
            "postgresql://app:p%40ss@pg-rw.db.svc.cluster.local:5432/app"
        );
        assert_eq!(v("pgpass"), "pg-rw:5432:app:app:p@ss\n");
        assert_eq!(s["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(generate_password().len(), 64);
    }
}
