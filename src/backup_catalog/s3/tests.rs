//! The client against a scripted HTTP server: throttling is retried with backoff and every
//! attempt is counted; refused keys become an error naming the Secret, never the key.

use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const SLOW_DOWN: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>"#;
const DENIED: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><RequestId>2</RequestId></Error>"#;
const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>backups</Name><Prefix>cnpg/prod/base/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><CommonPrefixes><Prefix>cnpg/prod/base/20240101T000000/</Prefix></CommonPrefixes></ListBucketResult>"#;

/// Serves `script` (status, body) in order, one per request, then 500s; returns the endpoint.
async fn scripted(script: Vec<(u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(Mutex::new(script.into_iter()));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let (status, body) = script.lock().unwrap().next().unwrap_or((500, ""));
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn conn(endpoint: String) -> Connection {
    Connection {
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: SecretString::from("AKIATESTKEYID0000000".to_string()),
        secret_access_key: SecretString::from("very-secret-test-key-0123456789".to_string()),
        session_token: None,
        ca_pem: None,
        credentials_from: "Secret databases/s3-creds".into(),
        cluster: ObjectRef::new("Cluster", Some("databases"), "prod"),
        initial_backoff: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn slow_down_is_retried_and_every_attempt_counted() {
    let endpoint = scripted(vec![(503, SLOW_DOWN), (503, SLOW_DOWN), (200, LISTING)]).await;
    let s3 = S3::new(&conn(endpoint), "backups").unwrap();
    let (dirs, files) = s3.list_dirs("cnpg/prod/base/").await.unwrap();
    assert_eq!(dirs, vec!["20240101T000000"]);
    assert!(files.is_empty());
    assert_eq!(
        s3.requests(),
        3,
        "two throttled attempts and the one that worked"
    );
}

#[tokio::test]
async fn throttling_that_never_ends_fails_after_the_attempts() {
    let endpoint = scripted(vec![(503, SLOW_DOWN); 10]).await;
    let s3 = S3::new(&conn(endpoint), "backups").unwrap();
    let err = s3.list("cnpg/prod/wals/", None).await.unwrap_err();
    assert!(!err.is_bad_input());
    assert!(err.to_string().contains("SlowDown"), "{err}");
    assert_eq!(s3.requests(), u64::from(MAX_ATTEMPTS));
}

#[tokio::test]
async fn refused_keys_name_the_secret_not_the_key() {
    let endpoint = scripted(vec![(403, DENIED)]).await;
    let s3 = S3::new(&conn(endpoint.clone()), "backups").unwrap();
    let err = s3.list_dirs("cnpg/prod/base/").await.unwrap_err();
    assert!(err.is_bad_input());
    let text = err.to_string();
    assert!(text.contains("Secret databases/s3-creds"), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(text.contains(&endpoint), "{text}");
    assert!(
        !text.contains("very-secret") && !text.contains("AKIATEST"),
        "{text}"
    );
    assert_eq!(s3.requests(), 1, "a refusal is not retried");
}
