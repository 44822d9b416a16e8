//! The S3 server: moto on a free loopback port with SigV4 enforced. The first few requests are
//! unauthenticated (`INITIAL_NO_AUTH_ACTION_COUNT`), used to mint one IAM user with an access
//! key; from then on moto rejects wrong keys. The keys are secrets: never logged, written only
//! to a 0600 credentials file. Clients reach moto through the fault proxy ([`super::s3_faults`]):
//! the endpoint clients get is the proxy's.
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use super::error::{Result, WorldError};
use super::s3_faults::{self, S3Faults};
use super::tools::{run, Tools};

/// IAM calls made before auth is enforced: create_user, put_user_policy, create_access_key.
const NO_AUTH_ACTIONS: &str = "3";
pub const REGION: &str = "us-east-1";

const MINT: &str = r#"
import boto3, json, os
iam = boto3.client("iam", endpoint_url=os.environ["ENDPOINT"], aws_access_key_id="bootstrap",
                   aws_secret_access_key="bootstrap", region_name="us-east-1")
iam.create_user(UserName="sandbox")
iam.put_user_policy(UserName="sandbox", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
k = iam.create_access_key(UserName="sandbox")["AccessKey"]
print(json.dumps({"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}))
"#;

/// An access key pair; `Debug` never shows the secret.
#[derive(Clone)]
pub struct S3Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Keys({}, <redacted>)", self.access_key_id)
    }
}

/// What clients need: the endpoint, the keys, and where they are written.
#[derive(Debug, Clone)]
pub struct S3Info {
    pub endpoint: String,
    pub keys: S3Keys,
    pub credentials_file: PathBuf,
}

pub struct S3Server {
    pub info: S3Info,
    child: Child,
    proxy: Option<s3_faults::ProxyHandle>,
    /// The address moto and the proxy listen on: on the sandbox bridge, so Pods (the real
    /// operator's instances, running barman-cloud) reach S3 as well as the host does.
    _address: super::addresses::Lease,
}

impl S3Server {
    /// Starts moto under `dir/s3`, mints the keys and puts the fault proxy in front.
    pub async fn start(tools: &Tools, dir: &Path, faults: Arc<S3Faults>) -> Result<S3Server> {
        let s3_dir = dir.join("s3");
        std::fs::create_dir_all(&s3_dir).map_err(|e| WorldError::io("S3 server", &s3_dir, e))?;
        let address = super::addresses::lease()?;
        let host = address.ip;
        let port = free_port(host)?;
        let endpoint = format!("http://{host}:{port}");
        let log_path = s3_dir.join("moto.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| WorldError::io("S3 server", &log_path, e))?;
        let err_log = log
            .try_clone()
            .map_err(|e| WorldError::io("S3 server", &log_path, e))?;
        let program = tools.moto_venv.join("bin/moto_server");
        let child = Command::new(&program)
            .args(["-H", &host.to_string(), "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", NO_AUTH_ACTIONS)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| WorldError::Spawn {
                what: "S3 server".into(),
                program: program.display().to_string(),
                source,
            })?;
        let mut server = S3Server {
            info: S3Info {
                endpoint,
                keys: S3Keys {
                    access_key_id: String::new(),
                    secret_access_key: String::new(),
                },
                credentials_file: s3_dir.join("credentials"),
            },
            child,
            proxy: None,
            _address: address,
        };
        wait_listening(host, port, Duration::from_secs(30)).await?;
        server.info.keys = mint_keys(tools, &server.info.endpoint).await?;
        let (proxy, task) = s3_faults::start(faults, server.info.endpoint.clone(), host)?;
        server.info.endpoint = proxy;
        server.proxy = Some(task);
        write_credentials(&server.info)?;
        tracing::info!(endpoint = %server.info.endpoint, "S3 server (moto) ready");
        Ok(server)
    }

    /// Kills moto (its state is in memory only).
    pub async fn stop(&mut self) {
        if let Some(mut proxy) = self.proxy.take() {
            proxy.stop();
        }
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

fn free_port(host: std::net::Ipv4Addr) -> Result<u16> {
    std::net::TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| WorldError::io("S3 server", format!("{host}:0"), e))
}

async fn wait_listening(host: std::net::Ipv4Addr, port: u16, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while tokio::net::TcpStream::connect((host, port)).await.is_err() {
        if start.elapsed() > timeout {
            return Err(WorldError::Timeout {
                what: format!("S3 server on {host}:{port}"),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn mint_keys(tools: &Tools, endpoint: &str) -> Result<S3Keys> {
    let mut cmd = Command::new(tools.moto_venv.join("bin/python"));
    cmd.args(["-c", MINT])
        .env("ENDPOINT", endpoint)
        .kill_on_drop(true);
    let out = run("S3 server: minting keys", &mut cmd, None).await?;
    let v: Value = serde_json::from_str(out.trim())
        .map_err(|e| WorldError::invalid("S3 server: minted keys", e.to_string()))?;
    match (v["id"].as_str(), v["secret"].as_str()) {
        (Some(id), Some(secret)) => Ok(S3Keys {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
        }),
        _ => Err(WorldError::invalid(
            "S3 server: minted keys",
            "no key in answer",
        )),
    }
}

/// An AWS shared credentials file (mode 0600), for people and tests.
fn write_credentials(info: &S3Info) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = {REGION}\n",
        info.keys.access_key_id, info.keys.secret_access_key
    );
    let path = &info.credentials_file;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| WorldError::io("S3 credentials", path, e))
}

const MAKE_BUCKET: &str = r#"
import boto3, os
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"])
try:
    s3.create_bucket(Bucket=os.environ["BUCKET"])
except ClientError as e:
    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
"#;

impl S3Info {
    /// Creates `bucket` (an existing one is fine); the keys go through the environment only.
    pub async fn create_bucket(&self, tools: &Tools, bucket: &str) -> Result<()> {
        let mut cmd = Command::new(tools.moto_venv.join("bin/python"));
        cmd.args(["-c", MAKE_BUCKET])
            .env("ENDPOINT", &self.endpoint)
            .env("BUCKET", bucket)
            .env("AWS_ACCESS_KEY_ID", &self.keys.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.keys.secret_access_key)
            .env("AWS_DEFAULT_REGION", REGION)
            .kill_on_drop(true);
        run(&format!("S3 bucket {bucket}"), &mut cmd, None).await?;
        Ok(())
    }
}
