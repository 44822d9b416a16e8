//! `uses: restore.plan`: everything a restore needs decided and checked before anything changes
//! (a read, plus one server-side dry-run create).
//!
//! Reads the live source Cluster and its object store (in-tree or plugin), lists the catalog and
//! checks the target against it (`crate::restore::target`); takes the LIVE spec of the cluster
//! being replaced (`base`, the source unless refreshing another env) and builds the recovery
//! Cluster (`crate::restore::manifest`) with a fresh server name `<name>-<run id>` whose prefix in
//! the store must be empty; a new name (`--to-cluster`) must not exist yet; the manifest is sent
//! as a `dryRun=All` create (schema and CNPG webhook: 422 is bad input; AlreadyExists, in
//! place, means it passed). Finds the Argo CD Application managing the cluster. Every problem
//! is bad input (exit 2) and nothing was changed. Outputs hold no secret.

use kube::api::PostParams;
use kube::core::DynamicObject;
use serde_json::{json, Value};

use crate::backup_catalog::{self, BackupCatalog, CatalogError};
use crate::k8s::{resources, Connector, K8sError, Kube, ObjectRef};
use crate::restore::manifest::{self, Origin, Recovery};
use crate::restore::target::{self, Asked};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct RestorePlan(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "restore.plan",
    summary: "check a restore target against the object store and build the recovery Cluster",
    inputs: &[
        input("namespace", true, "the clusters' namespace"),
        input(
            "source",
            true,
            "the Cluster whose object store is restored from",
        ),
        input(
            "base",
            false,
            "the live Cluster whose spec the new one copies (default: source)",
        ),
        input(
            "name",
            false,
            "the new Cluster's name (default: base, i.e. in place)",
        ),
        input(
            "target_time",
            false,
            "recoveryTarget.targetTime (explicit offset)",
        ),
        input("target_lsn", false, "recoveryTarget.targetLSN"),
        input(
            "backup_id",
            false,
            "a barman backup ID or name: that backup as it ended",
        ),
        input("latest", false, "replay every archived WAL"),
        input(
            "argo_namespace",
            false,
            "where Argo CD Applications live (default argocd)",
        ),
    ],
    outputs: &[
        "manifest",
        "target",
        "backup_id",
        "backup_bytes",
        "source_timeline",
        "server_name",
        "in_place",
        "uid",
        "app",
        "argo_namespace",
        "connection",
        "store",
    ],
    idempotent: true,
};

fn bad(e: impl std::fmt::Display) -> StepError {
    StepError::BadInput(e.to_string())
}

fn catalog_err(e: CatalogError) -> StepError {
    let text = crate::error::chain(&e);
    if e.is_bad_input() {
        StepError::BadInput(text)
    } else {
        StepError::Failed(text)
    }
}

fn asked(i: &Inputs) -> Result<Asked, StepError> {
    let text = |k: &str| -> Result<Option<String>, StepError> {
        Ok(i.opt_str(k)?.filter(|s| !s.trim().is_empty()))
    };
    Asked::one_of(
        text("target_time")?,
        text("target_lsn")?,
        text("backup_id")?,
        i.bool_or("latest", false)?,
    )
    .map_err(|m| StepError::input("target", &m))
}

struct Names {
    ns: String,
    source: String,
    base: String,
    name: String,
}

fn names(i: &Inputs) -> Result<Names, StepError> {
    let ns = i.str("namespace")?;
    let source = i.str("source")?;
    let nonempty = |k: &str| -> Result<Option<String>, StepError> {
        Ok(i.opt_str(k)?.filter(|s| !s.is_empty()))
    };
    let base = nonempty("base")?.unwrap_or(source.clone());
    let name = nonempty("name")?.unwrap_or(base.clone());
    Ok(Names {
        ns,
        source,
        base,
        name,
    })
}

#[async_trait::async_trait]
impl Step for RestorePlan {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let n = names(inputs)?;
        let what = match asked(inputs)? {
            Asked::Time(t) => format!("point in time {t}"),
            Asked::Lsn(l) => format!("LSN {l}"),
            Asked::BackupId(b) => format!("backup {b}"),
            Asked::Latest => "the latest archived WAL".into(),
        };
        let into = if n.name == n.base {
            format!("Cluster {}/{} in place", n.ns, n.name)
        } else {
            format!("new Cluster {}/{}", n.ns, n.name)
        };
        Ok(StepPlan {
            description: format!(
                "check {what} against the object store of Cluster {}/{} and build the recovery of {into}",
                n.ns, n.source
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let n = names(&ctx.inputs)?;
        let asked = asked(&ctx.inputs)?;
        let kube = self.0.get().await?;
        let store = read_store(ctx, &kube, &n).await?;
        let chosen = target::choose(&store.catalog, &asked).map_err(bad)?;
        ctx.events.log(format!("target: {}", chosen.describe));

        let base = if n.base == n.source {
            store.located.object.clone()
        } else {
            get_cluster(&kube, &n.ns, &n.base)
                .await?
                .ok_or_else(|| bad(format!("failed to find Cluster {}/{}", n.ns, n.base)))?
        };
        let in_place = n.name == n.base;
        if !in_place && get_cluster(&kube, &n.ns, &n.name).await?.is_some() {
            return Err(bad(format!(
                "Cluster {}/{} already exists: a restore into another cluster needs a new name",
                n.ns, n.name
            )));
        }
        let run_id = ctx.checkpoint.snapshot().await.run_id;
        let server_name = format!("{}-{run_id}", n.name);
        let built = build_checked(ctx, &kube, &n, &store, &base, &chosen, &server_name).await?;
        let argo_ns = ctx
            .inputs
            .opt_str("argo_namespace")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "argocd".into());
        let app = managing_app(&kube, &argo_ns, &base).await?;
        match &app {
            Some(a) => ctx.events.log(format!(
                "Cluster {}/{} is managed by Argo CD Application {argo_ns}/{a}",
                n.ns, n.base
            )),
            None => ctx.events.log(format!(
                "no Argo CD Application manages Cluster {}/{}",
                n.ns, n.base
            )),
        }
        let mut target_out = serde_json::to_value(&chosen.resolved).unwrap_or(Value::Null);
        target_out["describe"] = Value::from(chosen.describe.clone());
        target_out["recoveryTarget"] = chosen.recovery_target.clone();
        // The chosen base backup's size (barman's `size`): what a recovery copies.
        let backup_bytes = store
            .catalog
            .backups
            .iter()
            .find(|b| b.id == chosen.resolved.backup_id)
            .and_then(|b| b.info.as_ref()?.size)
            .unwrap_or(0);
        Ok(Outputs::default()
            .with("manifest", built)
            .with("target", target_out)
            .with("backup_id", chosen.resolved.backup_id.clone())
            .with("backup_bytes", backup_bytes)
            .with("source_timeline", chosen.resolved.timeline.unwrap_or(1))
            .with("server_name", server_name)
            .with("in_place", in_place)
            .with("uid", base["metadata"]["uid"].clone())
            .with("app", app.unwrap_or_default())
            .with("argo_namespace", argo_ns)
            .with("connection", connection(&n, &base))
            .with("store", store.catalog.url))
    }
}

/// The source's object store: where it is, a client for it, and its catalog.
struct Store {
    located: backup_catalog::Located,
    s3: backup_catalog::s3::S3,
    catalog: BackupCatalog,
}

/// Locates and reads the source Cluster's object store (no cache: a restore reads it fresh).
async fn read_store(ctx: &StepContext, kube: &Kube, n: &Names) -> Result<Store, StepError> {
    let located = backup_catalog::locate(kube, &n.ns, &n.source)
        .await
        .map_err(catalog_err)?;
    let s3 = backup_catalog::connect(kube, &located, &ctx.redactor)
        .await
        .map_err(catalog_err)?;
    let mut cache = backup_catalog::cache::Cache::disabled();
    let catalog = backup_catalog::read(&s3, &located.spec.layout, &mut cache)
        .await
        .map_err(catalog_err)?;
    ctx.events.log(format!(
        "{}: {} backups ({} usable), window {}",
        catalog.url,
        catalog.backups.len(),
        catalog.usable().count(),
        catalog
            .window
            .as_ref()
            .map(|w| format!("{} .. {}", w.earliest.to_rfc3339(), w.latest.to_rfc3339()))
            .unwrap_or_else(|| "none".into())
    ));
    Ok(Store {
        located,
        s3,
        catalog,
    })
}

/// The recovery Cluster's manifest, once its own archive is known empty and the API server
/// accepted it in a dry run.
async fn build_checked(
    ctx: &StepContext,
    kube: &Kube,
    n: &Names,
    store: &Store,
    base: &Value,
    chosen: &target::Chosen,
    server_name: &str,
) -> Result<Value, StepError> {
    let located = &store.located;
    let built = manifest::build(
        base,
        &Recovery {
            name: &n.name,
            origin: Origin {
                form: &located.spec.form,
                cluster: &located.object,
                server: &located.spec.layout.server,
            },
            server_name,
            recovery_target: &chosen.recovery_target,
        },
    );
    own_archive_is_empty(ctx, kube, n, located, &store.s3, &built, server_name).await?;
    validate(kube, n, &built, n.name == n.base).await?;
    ctx.events.log(format!(
        "Cluster {}/{} validated by the API server (dry run): recovery from {} ({}), own archive serverName {server_name}",
        n.ns, n.name, located.spec.layout.url(), located.spec.form.describe()
    ));
    Ok(built)
}

/// The recovered Cluster's `connection` (a `pg::connect::Target`): the database and app
/// Secret its spec names, else CNPG's defaults (`app`, `<name>-app`).
fn connection(n: &Names, base: &Value) -> Value {
    let creds = manifest::app_credentials(base);
    let database = creds
        .get("database")
        .and_then(Value::as_str)
        .unwrap_or("app");
    let secret = creds
        .get("secret")
        .and_then(|s| s["name"].as_str())
        .map(String::from)
        .unwrap_or(format!("{}-app", n.name));
    json!({"namespace": n.ns, "cluster": n.name, "pod": format!("{}-1", n.name),
        "database": database, "secret": secret})
}

async fn get_cluster(kube: &Kube, ns: &str, name: &str) -> Result<Option<Value>, StepError> {
    let object = ObjectRef::new("Cluster", Some(ns), name);
    let api = kube::Api::<DynamicObject>::namespaced_with(
        kube.client.clone(),
        ns,
        &resources::cnpg_cluster(),
    );
    let found = api
        .get_opt(name)
        .await
        .map_err(K8sError::api("read", &object))?;
    Ok(found.and_then(|o| serde_json::to_value(o).ok()))
}

/// The new cluster's own archive prefix `<destinationPath>/<server_name>/` must hold nothing:
/// barman-cloud-wal-archive would refuse to archive there ("Expected empty archive").
async fn own_archive_is_empty(
    ctx: &StepContext,
    kube: &Kube,
    n: &Names,
    located: &backup_catalog::Located,
    source_s3: &backup_catalog::s3::S3,
    built: &Value,
    server_name: &str,
) -> Result<(), StepError> {
    if manifest::archives(&built["spec"]).is_none() {
        ctx.events
            .log(format!("Cluster {}/{} archives nowhere", n.ns, n.name));
        return Ok(());
    }
    let other;
    let (mut layout, s3) = if n.base == n.source {
        (located.spec.layout.clone(), source_s3)
    } else {
        let own = backup_catalog::locate(kube, &n.ns, &n.base)
            .await
            .map_err(catalog_err)?;
        other = backup_catalog::connect(kube, &own, &ctx.redactor)
            .await
            .map_err(catalog_err)?;
        (own.spec.layout.clone(), &other)
    };
    layout.server = server_name.to_string();
    let found = s3
        .list(&layout.root(), Some(1))
        .await
        .map_err(catalog_err)?;
    if let Some(first) = found.first() {
        return Err(bad(format!(
            "the new cluster's archive {} is not empty (it holds {}): choose another server name; nothing was changed",
            layout.url(),
            first.key
        )));
    }
    Ok(())
}

/// A server-side dry-run create: schema and the CNPG webhook, before anything changes.
async fn validate(kube: &Kube, n: &Names, built: &Value, in_place: bool) -> Result<(), StepError> {
    let object = ObjectRef::new("Cluster", Some(&n.ns), &n.name);
    let api = kube::Api::<DynamicObject>::namespaced_with(
        kube.client.clone(),
        &n.ns,
        &resources::cnpg_cluster(),
    );
    let body: DynamicObject = serde_json::from_value(built.clone())
        .map_err(|e| StepError::Failed(format!("failed to build {object}: {e}")))?;
    let dry = PostParams {
        dry_run: true,
        field_manager: Some(crate::k8s::FIELD_MANAGER.into()),
    };
    match api.create(&dry, &body).await {
        Ok(_) => Ok(()),
        Err(e) if in_place && crate::k8s::error::status_code(&e) == Some(409) => Ok(()),
        Err(e) if matches!(crate::k8s::error::status_code(&e), Some(400 | 422)) => {
            Err(bad(format!(
                "the recovery Cluster is invalid; nothing was changed: {}",
                crate::error::chain(&e)
            )))
        }
        Err(e) => Err(K8sError::api("dry-run create", &object)(e).into()),
    }
}

/// The Argo CD Application managing `cluster`, if it names one that exists.
async fn managing_app(kube: &Kube, ns: &str, cluster: &Value) -> Result<Option<String>, StepError> {
    let Some(name) = crate::restore::argo::managing_app(cluster) else {
        return Ok(None);
    };
    let app = crate::k8s::argo::App::new(kube, ns, &name);
    match app.get().await {
        Ok(_) => Ok(Some(name)),
        Err(K8sError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::testing::inputs;

    fn plan(with: Value) -> Result<StepPlan, StepError> {
        RestorePlan(Connector::default()).plan(&inputs(with))
    }

    #[test]
    fn the_plan_says_which_target_and_whether_in_place() {
        let in_place =
            plan(json!({"namespace": "databases", "source": "shop-cnpg", "latest": true})).unwrap();
        assert_eq!(
            in_place.description,
            "check the latest archived WAL against the object store of Cluster databases/shop-cnpg \
             and build the recovery of Cluster databases/shop-cnpg in place"
        );
        assert!(!in_place.writes, "restore.plan only reads (and dry-runs)");
        let new = plan(
            json!({"namespace": "databases", "source": "shop-cnpg", "name": "shop-r",
            "target_time": "2026-11-24T01:30:00Z"}),
        )
        .unwrap();
        assert_eq!(
            new.description,
            "check point in time 2026-11-24T01:30:00Z against the object store of Cluster \
             databases/shop-cnpg and build the recovery of new Cluster databases/shop-r"
        );
    }

    #[test]
    fn exactly_one_target_is_asked_for() {
        let two = plan(json!({"namespace": "d", "source": "c", "latest": true, "backup_id": "b"}));
        assert!(matches!(two, Err(StepError::Input { name, .. }) if name == "target"));
        let blank = plan(json!({"namespace": "d", "source": "c", "target_time": "  "}));
        assert!(matches!(blank, Err(StepError::Input { name, .. }) if name == "target"));
    }

    #[test]
    fn names_default_from_source_to_base_to_name() {
        let n = names(&inputs(
            json!({"namespace": "d", "source": "app-cnpg", "base": ""}),
        ))
        .unwrap();
        assert_eq!((n.base.as_str(), n.name.as_str()), ("app-cnpg", "app-cnpg"));
        let n = names(&inputs(
            json!({"namespace": "d", "source": "app-cnpg", "base": "app-dev-cnpg"}),
        ))
        .unwrap();
        assert_eq!(
            (n.base.as_str(), n.name.as_str()),
            ("app-dev-cnpg", "app-dev-cnpg")
        );
    }

    #[test]
    fn the_connection_uses_the_specs_database_and_secret_else_cnpgs_defaults() {
        let n = names(&inputs(
            json!({"namespace": "d", "source": "s", "name": "site-r"}),
        ))
        .unwrap();
        let named = json!({"spec": {"bootstrap": {"initdb": {"database": "site",
            "secret": {"name": "site-creds"}}}}});
        assert_eq!(
            connection(&n, &named),
            json!({"namespace": "d", "cluster": "site-r", "pod": "site-r-1",
                "database": "site", "secret": "site-creds"})
        );
        let bare = connection(&n, &json!({"spec": {}}));
        assert_eq!(
            (&bare["database"], &bare["secret"]),
            (&json!("app"), &json!("site-r-app"))
        );
    }
}
