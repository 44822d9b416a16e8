//! `uses: cnpg.cluster`: inspect a CNPG Cluster a runbook is about to use (a read).
//!
//! Finds the Cluster, its database and owner (from the input, a CNPG `Database` resource, or
//! `bootstrap.initdb`, or `bootstrap.recovery` for a recovered cluster), the owner's credentials Secret (which must exist), the primary Pod,
//! the image's major version and the storage size. A missing Cluster, `Database` or Secret is
//! bad input (exit 2, naming namespace/name); an unhealthy Cluster, or a production one given
//! with `refuse_prod`, is a refusal (exit 3). Outputs `connection` for the `pg.*` kinds, and
//! logs how they reach it (the `-rw` Service in-cluster, else a port-forward to the primary).

use k8s_openapi::api::core::v1::Secret;
use kube::core::DynamicObject;
use kube::Api;
use serde_json::{json, Value};

use crate::k8s::conditions::{Check, Condition};
use crate::k8s::resources;
use crate::k8s::{Connector, K8sError, Kube, ObjectRef};
use crate::runbook::{input, KindSignature};

use super::{Inputs, Outputs, Step, StepContext, StepError, StepPlan};

pub(super) struct CnpgCluster(pub Connector);

static SIGNATURE: KindSignature = KindSignature {
    name: "cnpg.cluster",
    summary: "inspect a CNPG Cluster: health, database, owner secret, image major, storage",
    inputs: &[
        input("namespace", true, "the Cluster's namespace"),
        input("name", true, "the Cluster's name"),
        input("database", false, "the database (default: bootstrap.initdb.database, `app`)"),
        input("database_resource", false, "a CNPG `Database` naming the database and owner"),
        input("secret", false, "the owner's credentials Secret (default: bootstrap.initdb.secret, else `<cluster>-app`)"),
        input("refuse_prod", false, "refuse when `prod` is true (a write target)"),
        input("prod", false, "whether the naming profile calls this production"),
        input("profile", false, "the profile name, for messages"),
    ],
    outputs: &["connection", "image", "major", "storage_bytes", "phase", "owner"],
    idempotent: true,
};

#[async_trait::async_trait]
impl Step for CnpgCluster {
    fn signature(&self) -> &'static KindSignature {
        &SIGNATURE
    }

    fn plan(&self, inputs: &Inputs) -> Result<StepPlan, StepError> {
        let (ns, name) = (inputs.str("namespace")?, inputs.str("name")?);
        Ok(StepPlan {
            description: format!(
                "inspect Cluster {ns}/{name} (health, database, owner secret, image, storage)"
            ),
            writes: false,
            prod: false,
        })
    }

    async fn run(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let i = &ctx.inputs;
        let (ns, name) = (i.str("namespace")?, i.str("name")?);
        if i.bool_or("refuse_prod", false)? && i.bool_or("prod", false)? {
            return Err(StepError::Refused(prod_refusal(&ns, &name)));
        }
        let kube = self.0.get().await?;
        let profile = i.opt_str("profile")?.unwrap_or_else(|| "default".into());
        let cluster = get(&kube, "Cluster", &ns, &name).await?.ok_or_else(|| {
            StepError::BadInput(format!(
                "failed to find Cluster {ns}/{name} (looked up by naming profile `{profile}`)"
            ))
        })?;
        let spec = |p: &str| {
            cluster
                .data
                .pointer(p)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let (database, owner) = database(&kube, i, &ns, &cluster).await?;
        let secret = match i.opt_str("secret")?.filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => boot_text(&cluster, "secret").unwrap_or(format!("{name}-app")),
        };
        let secrets: Api<Secret> = Api::namespaced(kube.client.clone(), &ns);
        let object = ObjectRef::new("Secret", Some(&ns), &secret);
        let Some(found) = secrets
            .get_opt(&secret)
            .await
            .map_err(K8sError::api("read", &object))?
        else {
            return Err(StepError::BadInput(format!(
                "failed to find Secret {ns}/{secret}, the credentials of the owner of Cluster {ns}/{name}"
            )));
        };
        // Whatever reads it later, its password is masked from now on.
        let password = found.data.as_ref().and_then(|d| d.get("password"));
        if let Some(text) = password.and_then(|p| std::str::from_utf8(&p.0).ok()) {
            ctx.redactor.learn_str(text);
        }
        let phase = spec("/status/phase").unwrap_or_default();
        if let Check::Pending(now) | Check::Never(now) =
            Condition::ClusterHealthy.check(Some(&cluster), None)
        {
            return Err(StepError::Refused(format!(
                "refused: Cluster {ns}/{name} is not healthy ({now}); nothing was changed"
            )));
        }
        let image = spec("/status/image")
            .or(spec("/spec/imageName"))
            .unwrap_or_default();
        let major = image_major(&image).or_else(|| {
            cluster
                .data
                .pointer("/spec/imageCatalogRef/major")
                .and_then(Value::as_u64)
        });
        let storage = spec("/spec/storage/size").unwrap_or_default();
        let pod = spec("/status/currentPrimary").unwrap_or(format!("{name}-1"));
        // How the steps that connect to it reach it (the same choice `pg::connect` makes).
        let via = crate::pg::connect::via(&kube, &ns, &name, &pod);
        ctx.events.log(format!(
            "Cluster {ns}/{name}: {phase}; database `{database}`, owner secret {secret}, primary {pod}, image {image}, storage {storage}; reached through {via}"
        ));
        let connection = json!({"namespace": ns, "cluster": name, "pod": pod, "database": database, "secret": secret});
        Ok(Outputs::default()
            .with("connection", connection)
            .with("image", image)
            .with("major", major.map(Value::from).unwrap_or(Value::Null))
            .with(
                "storage_bytes",
                quantity_bytes(&storage)
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            )
            .with("phase", phase)
            .with("owner", owner))
    }
}

fn prod_refusal(ns: &str, name: &str) -> String {
    format!("refused: Cluster {ns}/{name} is a production cluster and can never be a refresh target (not even with --yes or --allow-prod); nothing was changed")
}

async fn get(
    kube: &Kube,
    kind: &str,
    ns: &str,
    name: &str,
) -> Result<Option<DynamicObject>, StepError> {
    let k = resources::known(kind, None)
        .ok_or_else(|| StepError::Failed(format!("unknown kind {kind}")))?;
    let object = k.object(ns, name);
    Ok(k.api(kube, ns)
        .get_opt(name)
        .await
        .map_err(K8sError::api("read", &object))?)
}

/// `database`, `owner` or `secret` (its name) of the Cluster's bootstrap: `initdb`, or the
/// `recovery` it was recreated by (a restored or recovery-refreshed cluster).
fn boot_text(cluster: &DynamicObject, key: &str) -> Option<String> {
    let creds = crate::restore::manifest::app_credentials(&cluster.data);
    let v = creds.get(key)?;
    let v = if key == "secret" { &v["name"] } else { v };
    v.as_str().map(String::from)
}

/// The database and its owner: the input, else the `Database` resource, else bootstrap.
async fn database(
    kube: &Kube,
    i: &Inputs,
    ns: &str,
    cluster: &DynamicObject,
) -> Result<(String, String), StepError> {
    let text = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_str).map(String::from);
    let boot = |p: &str| boot_text(cluster, p);
    let boot_db = boot("database").unwrap_or_else(|| "app".into());
    let boot_owner = boot("owner").unwrap_or_else(|| boot_db.clone());
    if let Some(db) = i.opt_str("database")?.filter(|s| !s.is_empty()) {
        return Ok((db, boot_owner));
    }
    let Some(res) = i.opt_str("database_resource")?.filter(|s| !s.is_empty()) else {
        return Ok((boot_db, boot_owner));
    };
    let found = get(kube, "Database", ns, &res).await?.ok_or_else(|| {
        StepError::BadInput(format!("failed to find Database {ns}/{res} (the CNPG Database resource naming the app's database)"))
    })?;
    let name = text(&found.data, "/spec/name").unwrap_or(res.clone());
    let owner = text(&found.data, "/spec/owner").unwrap_or_default();
    Ok((name, owner))
}

/// The leading major version of an image tag (`...:15.10-bookworm` -> 15), as CNPG parses it.
pub(super) fn image_major(image: &str) -> Option<u64> {
    let image = image.split('@').next()?;
    let (_, tag) = image.rsplit_once(':').filter(|(_, t)| !t.contains('/'))?;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    let rest = &tag[digits.len()..];
    (!digits.is_empty() && (rest.is_empty() || rest.starts_with(['.', '_', '-'])))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A Kubernetes quantity (`5Gi`, `500M`, `1073741824`) in bytes.
pub(super) fn quantity_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(q.len());
    let (num, unit) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    Some((n * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_come_from_the_tag() {
        assert_eq!(
            image_major("ghcr.io/cloudnative-pg/postgresql:15.10"),
            Some(15)
        );
        assert_eq!(
            image_major("ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"),
            Some(18)
        );
        assert_eq!(
            image_major("r:5000/postgresql:16-minimal@sha256:ab"),
            Some(16)
        );
        assert_eq!(image_major("registry:5000/postgresql"), None);
        assert_eq!(image_major("postgresql:latest"), None);
    }

    #[test]
    fn quantities_are_bytes() {
        assert_eq!(quantity_bytes("5Gi"), Some(5 * 1024 * 1024 * 1024));
        assert_eq!(quantity_bytes("500M"), Some(500_000_000));
        assert_eq!(quantity_bytes("1024"), Some(1024));
        assert_eq!(quantity_bytes("lots"), None);
    }

    #[test]
    fn a_recovered_cluster_names_its_owner_and_secret_in_bootstrap_recovery() {
        let c = |boot: Value| -> DynamicObject {
            serde_json::from_value(
                json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                "metadata": {"name": "x"}, "spec": {"bootstrap": boot}}),
            )
            .unwrap()
        };
        let rec = c(
            json!({"recovery": {"source": "o", "database": "site", "owner": "site_o",
            "secret": {"name": "site-creds"}}}),
        );
        assert_eq!(boot_text(&rec, "secret").as_deref(), Some("site-creds"));
        assert_eq!(boot_text(&rec, "owner").as_deref(), Some("site_o"));
        let init = c(json!({"initdb": {"database": "db", "secret": {"name": "s"}}}));
        assert_eq!(boot_text(&init, "secret").as_deref(), Some("s"));
        assert_eq!(boot_text(&init, "database").as_deref(), Some("db"));
        assert_eq!(
            boot_text(&c(json!({"recovery": {"source": "o"}})), "secret"),
            None
        );
    }

    #[tokio::test]
    async fn a_production_target_is_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = json!({"namespace": "databases", "name": "app-cnpg", "refuse_prod": true, "prod": true});
        let (ctx, _) =
            crate::steps::testing::context(inputs, crate::engine::RunMode::Real, dir.path());
        let err = CnpgCluster(Connector::default())
            .run(&ctx)
            .await
            .unwrap_err();
        assert!(matches!(err, StepError::Refused(_)), "{err}");
        assert!(err.to_string().contains("databases/app-cnpg"), "{err}");
    }
}
