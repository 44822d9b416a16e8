//! The S3 fault proxy in front of moto: planned 503 SlowDown and 500 InternalError answers
//! with S3's XML error bodies, delays, request counts; boto3 (what barman-cloud uses) sees the
//! error codes without retries and succeeds with them.
use std::time::{Duration, Instant};

use cnpgops_sandbox::world::s3_faults::{S3Fault, S3FaultKind};

use crate::harness::*;
use crate::s3::boto3;

/// Lists the bucket once (no retries): the keys or the error code, status and body.
const LIST_ONCE: &str = r#"
import boto3, os
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"],
                  config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
try:
    print(",".join(o["Key"] for o in s3.list_objects_v2(Bucket="faults").get("Contents", [])))
except ClientError as e:
    r = e.response
    print(r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"])
"#;

/// Lists with boto3's standard retries (3 attempts).
const LIST_RETRIED: &str = r#"
import boto3, os
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"],
                  config=Config(retries={"total_max_attempts": 3, "mode": "standard"}))
print(",".join(o["Key"] for o in s3.list_objects_v2(Bucket="faults").get("Contents", [])))
"#;

const PUT: &str = r#"
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
s3.create_bucket(Bucket="faults")
s3.put_object(Bucket="faults", Key="wal/000000010000000000000001", Body=b"x" * 1024)
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_s3_proxy_injects_slowdown_internal_error_and_delay_and_counts() {
    let w = start().await;
    let info = w.sandbox.world.s3().await.expect("S3 server starts");
    let faults = w.sandbox.world.s3_faults();
    let (id, secret) = (&info.keys.access_key_id, &info.keys.secret_access_key);
    let run = |script: &str| boto3(&info.endpoint, id, secret, script);
    run(PUT).expect("put through the proxy");
    assert_eq!(
        faults.count("PUT", "/faults/wal/"),
        1,
        "the upload was seen"
    );

    let listing = "list-type=2";
    faults.add(S3Fault::new("GET", listing, S3FaultKind::SlowDown, 1));
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("SlowDown 503 Please reduce your request rate.")
    );
    faults.add(S3Fault::new("GET", listing, S3FaultKind::InternalError, 1));
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("InternalError 500 We encountered an internal error. Please try again.")
    );
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("wal/000000010000000000000001")
    );

    // Two throttled answers, then moto's: boto3's retries get through, three requests in all.
    let before = faults.count("GET", listing);
    faults.add(S3Fault::new("GET", listing, S3FaultKind::SlowDown, 2));
    assert_eq!(
        run(LIST_RETRIED).as_deref(),
        Ok("wal/000000010000000000000001")
    );
    assert_eq!(faults.count("GET", listing) - before, 3);
    assert_eq!(faults.injected(), 4);

    // A fault on another path or method leaves this listing alone.
    faults.add(S3Fault::new("PUT", listing, S3FaultKind::SlowDown, 1));
    faults.add(S3Fault::new(
        "GET",
        "/other-bucket",
        S3FaultKind::SlowDown,
        1,
    ));
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("wal/000000010000000000000001")
    );
    faults.clear();

    // A fault for another client (cnpgops' aws-sdk-rust) leaves boto3 alone; boto3's own
    // User-Agent is recorded, and a fault for it is served.
    let boto = S3Fault::new("GET", listing, S3FaultKind::SlowDown, 1);
    faults.add(boto.clone().for_agent("aws-sdk-rust/"));
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("wal/000000010000000000000001")
    );
    let last = faults.requests().pop().expect("the listing was recorded");
    assert!(last.agent.starts_with("Boto3/"), "boto3's agent: {last:?}");
    faults.clear();
    faults.add(boto.for_agent("Boto3/"));
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("SlowDown 503 Please reduce your request rate.")
    );
    assert_eq!(faults.injected(), 5);
    faults.clear();

    faults.add(S3Fault::new(
        "GET",
        listing,
        S3FaultKind::Delay(Duration::from_millis(1500)),
        1,
    ));
    let t0 = Instant::now();
    assert_eq!(
        run(LIST_ONCE).as_deref(),
        Ok("wal/000000010000000000000001")
    );
    assert!(t0.elapsed() >= Duration::from_millis(1500), "delayed");
    assert_eq!(faults.injected(), 5, "a delay is not an error");
    w.sandbox.stop().await;
}
