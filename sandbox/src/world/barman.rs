//! barman-cloud against the S3 server: the WAL archive command, the empty-archive check, base
//! backups and the catalog, run with the real `barman-cloud-*` programs as the `postgres` OS
//! user (they read PGDATA), credentials passed only through the environment.
use serde_json::Value;

use super::error::{Result, WorldError};
use super::postgres::PgInstance;
use super::tools::{run, Tools};

/// Where and how a server archives and backs up (CNPG's `BarmanObjectStoreConfiguration`,
/// resolved: credentials read from their Secrets, endpoint defaulted to the sandbox's S3).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub destination_path: String,
    pub server_name: String,
    pub endpoint_url: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: Option<String>,
    pub session_token: Option<String>,
    pub wal_compression: Option<String>,
    pub data_compression: Option<String>,
    pub data_jobs: Option<u64>,
    pub immediate_checkpoint: bool,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StoreConfig({} {} via {})",
            self.destination_path, self.server_name, self.endpoint_url
        )
    }
}

/// A shell word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl StoreConfig {
    /// The environment barman-cloud needs (also the postmaster's, for `archive_command`).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "AWS_DEFAULT_REGION".to_string(),
            self.region.clone().unwrap_or("us-east-1".into()),
        )];
        let vars = [
            ("AWS_ACCESS_KEY_ID", &self.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &self.secret_access_key),
            ("AWS_SESSION_TOKEN", &self.session_token),
        ];
        env.extend(
            vars.iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone()))),
        );
        env
    }

    pub(super) fn endpoint_args(&self) -> Vec<String> {
        vec![
            "--cloud-provider".into(),
            "aws-s3".into(),
            "--endpoint-url".into(),
            self.endpoint_url.clone(),
        ]
    }

    pub(super) fn location(&self) -> [String; 2] {
        [self.destination_path.clone(), self.server_name.clone()]
    }

    /// `archive_command` for postgresql.conf (a shell command line).
    pub fn archive_command(&self, tools: &Tools) -> String {
        let mut words = vec![tools
            .barman("barman-cloud-wal-archive")
            .display()
            .to_string()];
        words.extend(self.endpoint_args());
        if let Some(c) = &self.wal_compression {
            words.push(format!("--{c}"));
        }
        words.extend(self.location());
        let mut cmd: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        cmd.push("%p".into());
        cmd.join(" ")
    }

    async fn barman(
        &self,
        tools: &Tools,
        what: &str,
        program: &str,
        args: &[String],
    ) -> Result<String> {
        let mut cmd = tools.as_postgres(&tools.barman(program));
        cmd.args(self.endpoint_args()).args(args).envs(self.env());
        run(what, &mut cmd, None).await
    }

    /// `barman-cloud-check-wal-archive`: fails with "Expected empty archive" when WAL exists.
    pub async fn check_empty(&self, tools: &Tools, what: &str) -> Result<()> {
        self.barman(
            tools,
            what,
            "barman-cloud-check-wal-archive",
            &self.location(),
        )
        .await
        .map(|_| ())
    }

    /// Takes a base backup named `name` of the server `pg`; the catalog entry is returned
    /// (also for a failed backup, whose error is in `Err`).
    pub async fn backup(&self, tools: &Tools, pg: &PgInstance, name: &str) -> Result<Value> {
        let mut args: Vec<String> = vec!["--name".into(), name.into(), "--host".into()];
        args.push(pg.socket_dir.display().to_string());
        args.extend([
            "--port".into(),
            "5432".into(),
            "--user".into(),
            "postgres".into(),
        ]);
        if self.immediate_checkpoint {
            args.push("--immediate-checkpoint".into());
        }
        if let Some(c) = &self.data_compression {
            args.push(format!("--{c}"));
        }
        if let Some(j) = self.data_jobs {
            args.extend(["--jobs".into(), j.to_string()]);
        }
        args.extend(self.location());
        self.barman(tools, &pg.what, "barman-cloud-backup", &args)
            .await?;
        self.find(tools, &pg.what, name).await
    }

    /// `barman-cloud-backup-list --format json`: every readable backup (failed ones too).
    pub async fn list(&self, tools: &Tools, what: &str) -> Result<Vec<Value>> {
        let mut args = vec!["--format".to_string(), "json".to_string()];
        args.extend(self.location());
        let out = self
            .barman(tools, what, "barman-cloud-backup-list", &args)
            .await?;
        let v: Value = serde_json::from_str(&out)
            .map_err(|e| WorldError::invalid(what, format!("backup list: {e}")))?;
        Ok(v["backups_list"].as_array().cloned().unwrap_or_default())
    }

    async fn find(&self, tools: &Tools, what: &str, name: &str) -> Result<Value> {
        self.list(tools, what)
            .await?
            .into_iter()
            .find(|b| b["backup_name"] == name)
            .ok_or_else(|| {
                WorldError::invalid(what, format!("backup {name} is not in the catalog"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_command_quotes_and_hides_keys() {
        let cfg = StoreConfig {
            destination_path: "s3://backups/it's".into(),
            server_name: "pg".into(),
            endpoint_url: "http://127.0.0.1:9".into(),
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some("SECRET".into()),
            region: None,
            session_token: None,
            wal_compression: Some("gzip".into()),
            data_compression: None,
            data_jobs: None,
            immediate_checkpoint: false,
        };
        let tools = Tools::discover();
        let cmd = cfg.archive_command(&tools);
        assert!(
            cmd.ends_with(r"'--gzip' 's3://backups/it'\''s' 'pg' %p"),
            "{cmd}"
        );
        assert!(!cmd.contains("SECRET") && !format!("{cfg:?}").contains("SECRET"));
        assert!(cfg
            .env()
            .contains(&("AWS_DEFAULT_REGION".into(), "us-east-1".into())));
    }
}
