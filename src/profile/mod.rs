//! Naming profiles: how an app and an environment map to clusters, namespaces and secrets.
//!
//! The default profile is seed 000's layout (synestra): prod cluster `<app>-cnpg`, other envs
//! `<app>-<env>-cnpg`, both in `databases`; app namespace `web-<app>-<env>`; runtime secret
//! `web-<app>-<env>-env` (key `DATABASE_URI`); Argo CD Application `web-<app>-<env>`. Other
//! layouts (one shared cluster with a `Database` per app, clusters in the app's namespace) are
//! profiles in a config file ([`config`]), written with `{app}` and `{env}` placeholders.
//!
//! The resolved names reach runbook templates as `profile.*` (see [`Resolved::scope`]), and
//! [`Resolved::is_prod`] is what the prod guard asks.

pub(crate) mod config;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub(crate) use config::load;

/// A layout, as written in the config file; every string may use `{app}` and `{env}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Profile {
    /// The environment that is production (never a refresh target).
    pub prod_env: String,
    /// Namespace of the CNPG Clusters.
    pub cluster_namespace: String,
    /// The prod environment's cluster.
    pub prod_cluster: String,
    /// Every other environment's cluster.
    pub cluster: String,
    /// The database; empty: read from the Cluster (`bootstrap.initdb.database`) or the
    /// `Database` resource.
    pub database: String,
    /// A CNPG `Database` resource (in the cluster namespace) naming the database and owner.
    pub database_resource: String,
    /// The owner's credentials (`username`/`password`); empty: the Cluster's
    /// `bootstrap.initdb.secret`, else `<cluster>-app`.
    pub credentials_secret: String,
    /// A Secret (`username`, `password`) of a role granted `pg_read_all_data` that a refresh
    /// reads the SOURCE as (empty: the owner's credentials, read-only by session setting only).
    pub read_only_secret: String,
    /// Where the app's Deployments run.
    pub app_namespace: String,
    /// Label selector of the Deployments to stop during a refresh; empty: all of them.
    pub app_selector: String,
    pub app_secret: String,
    pub app_secret_key: String,
    pub argo_namespace: String,
    pub argo_app: String,
    /// Masking rules applied to a refresh target before its app comes back (off when empty).
    pub masking: crate::refresh::mask::Masking,
    /// The StorageClass of a refresh Job's dump volume (empty: the cluster's default).
    pub dump_storage_class: String,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            prod_env: "prod".into(),
            cluster_namespace: "databases".into(),
            prod_cluster: "{app}-cnpg".into(),
            cluster: "{app}-{env}-cnpg".into(),
            database: String::new(),
            database_resource: String::new(),
            credentials_secret: String::new(),
            read_only_secret: String::new(),
            app_namespace: "web-{app}-{env}".into(),
            app_selector: String::new(),
            app_secret: "web-{app}-{env}-env".into(),
            app_secret_key: "DATABASE_URI".into(),
            argo_namespace: "argocd".into(),
            argo_app: "web-{app}-{env}".into(),
            masking: Default::default(),
            dump_storage_class: String::new(),
        }
    }
}

/// The names of one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EnvNames {
    pub env: String,
    pub prod: bool,
    pub namespace: String,
    pub cluster: String,
    pub database: String,
    pub database_resource: String,
    pub credentials_secret: String,
    pub read_only_secret: String,
    pub app_namespace: String,
    pub app_selector: String,
    pub app_secret: String,
    pub app_secret_key: String,
    pub argo_namespace: String,
    pub argo_app: String,
}

impl Profile {
    /// `{app}` and `{env}` replaced.
    fn fill(text: &str, app: &str, env: &str) -> String {
        text.replace("{app}", app).replace("{env}", env)
    }

    /// The names of `app` in `env`.
    pub(crate) fn env(&self, app: &str, env: &str) -> EnvNames {
        let f = |t: &str| Self::fill(t, app, env);
        let prod = env == self.prod_env;
        EnvNames {
            env: env.into(),
            prod,
            namespace: f(&self.cluster_namespace),
            cluster: f(if prod {
                &self.prod_cluster
            } else {
                &self.cluster
            }),
            database: f(&self.database),
            database_resource: f(&self.database_resource),
            credentials_secret: f(&self.credentials_secret),
            read_only_secret: f(&self.read_only_secret),
            app_namespace: f(&self.app_namespace),
            app_selector: f(&self.app_selector),
            app_secret: f(&self.app_secret),
            app_secret_key: f(&self.app_secret_key),
            argo_namespace: f(&self.argo_namespace),
            argo_app: f(&self.argo_app),
        }
    }
}

/// A profile applied to one app, a source and a target environment.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Resolved {
    pub name: String,
    pub app: String,
    pub source: EnvNames,
    pub target: EnvNames,
    prod: EnvNames,
    masking: crate::refresh::mask::Masking,
    dump_storage_class: String,
}

impl Resolved {
    pub(crate) fn new(name: &str, profile: &Profile, app: &str, from: &str, to: &str) -> Self {
        Self {
            name: name.into(),
            app: app.into(),
            source: profile.env(app, from),
            target: profile.env(app, to),
            prod: profile.env(app, &profile.prod_env),
            masking: profile.masking.clone(),
            dump_storage_class: profile.dump_storage_class.clone(),
        }
    }

    /// Whether `env` names production data: the prod environment, or the prod env's cluster
    /// and database (a shared cluster may hold dev and prod side by side).
    pub(crate) fn is_prod(&self, env: &EnvNames) -> bool {
        env.prod
            || (env.namespace == self.prod.namespace
                && env.cluster == self.prod.cluster
                && env.database == self.prod.database
                && env.database_resource == self.prod.database_resource)
    }

    /// Template values: `profile.name`, `profile.app`, `profile.source.*`, `profile.target.*`
    /// (each with `prod` as the guard decides it), `profile.masking` (`rules`, `safe`),
    /// `profile.dump_storage_class`.
    pub(crate) fn scope(&self) -> BTreeMap<String, Value> {
        let env = |e: &EnvNames| {
            let mut v = json!(e);
            v["prod"] = Value::Bool(self.is_prod(e));
            v
        };
        BTreeMap::from([
            ("name".to_string(), Value::from(self.name.clone())),
            ("app".to_string(), Value::from(self.app.clone())),
            ("source".to_string(), env(&self.source)),
            ("target".to_string(), env(&self.target)),
            ("masking".to_string(), json!(self.masking)),
            (
                "dump_storage_class".to_string(),
                Value::from(self.dump_storage_class.clone()),
            ),
        ])
    }
}

#[cfg(test)]
mod tests;
