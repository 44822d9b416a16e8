//! The S3 server enforces SigV4: the minted key works, a wrong one is refused.
use std::process::Command;

use crate::harness::*;

/// Runs boto3 (from the barman-cloud venv) against `endpoint` with the given keys; the keys go
/// through the environment, never the command line. Returns stdout or stderr.
pub fn boto3(endpoint: &str, key_id: &str, secret: &str, script: &str) -> Result<String, String> {
    let venv = std::env::var("CNPGOPS_BARMAN_VENV").unwrap_or("/opt/cnpgops/venv-barman".into());
    let out = Command::new(format!("{venv}/bin/python"))
        .args(["-c", script])
        .env("ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("python runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

const PUT_AND_LIST: &str = r#"
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
s3.create_bucket(Bucket="backups")
s3.put_object(Bucket="backups", Key="cnpg/x/base/1/backup.info", Body=b"status=DONE\n")
print(",".join(o["Key"] for o in s3.list_objects_v2(Bucket="backups")["Contents"]))
"#;

const LIST: &str = r#"
import boto3, os
from botocore.exceptions import ClientError
try:
    boto3.client("s3", endpoint_url=os.environ["ENDPOINT"]).list_buckets()
    print("accepted")
except ClientError as e:
    print("refused:" + e.response["Error"]["Code"])
"#;

#[tokio::test(flavor = "multi_thread")]
async fn s3_accepts_the_minted_key_and_refuses_others() {
    let w = start().await;
    let t0 = std::time::Instant::now();
    let info = w.sandbox.world.s3().await.expect("S3 server starts");
    eprintln!("S3 server ready after {:.2}s", t0.elapsed().as_secs_f64());

    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.dir.path().join("state.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["s3"]["endpoint"], info.endpoint.as_str());
    let creds_file = state["s3"]["credentialsFile"]
        .as_str()
        .expect("credentials file");
    let creds = std::fs::read_to_string(creds_file).expect("credentials");
    assert!(creds.contains(&info.keys.secret_access_key));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(creds_file)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "credentials file is private");
    assert!(
        !state.to_string().contains(&info.keys.secret_access_key),
        "no secret in state.json"
    );

    let (id, secret) = (&info.keys.access_key_id, &info.keys.secret_access_key);
    let listed = boto3(&info.endpoint, id, secret, PUT_AND_LIST);
    assert_eq!(listed.as_deref(), Ok("cnpg/x/base/1/backup.info"));
    let wrong_secret = boto3(&info.endpoint, id, "not-the-secret", LIST).expect("python");
    assert_eq!(wrong_secret, "refused:SignatureDoesNotMatch");
    let unknown_key = boto3(&info.endpoint, "AKIAUNKNOWN000000000", secret, LIST).expect("python");
    assert_eq!(unknown_key, "refused:InvalidAccessKeyId");
    assert_eq!(
        boto3(&info.endpoint, id, secret, LIST).as_deref(),
        Ok("accepted")
    );
    // A second call returns the same server.
    assert_eq!(
        w.sandbox.world.s3().await.expect("s3").endpoint,
        info.endpoint
    );
    w.sandbox.stop().await;
    assert!(
        std::net::TcpStream::connect(info.endpoint.trim_start_matches("http://")).is_err(),
        "moto stopped"
    );
}
