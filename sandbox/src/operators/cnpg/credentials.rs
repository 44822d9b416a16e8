//! Passwords: the application owner's (from `bootstrap.initdb.secret` or the generated
//! `<cluster>-app`) and the superuser's (`enableSuperuserAccess`), re-applied to the server
//! whenever the Secret's resourceVersion changes, as CNPG's instance manager does.
use serde_json::Value;

use super::cluster::ClusterView;
use super::error::CnpgError;
use super::secrets::{credential_secret, generate_password, secret_value};
use super::Ctx;
use crate::world::postgres::{quote_ident, quote_literal};
use crate::world::Instance;

/// A role's credentials and the Secret version they came from.
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub version: String,
}

fn from_secret(c: &ClusterView, secret: &Value, what: &str) -> Result<Credentials, CnpgError> {
    let name = secret
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let get = |k: &str| {
        secret_value(secret, k).ok_or_else(|| {
            CnpgError::invalid(&c.id(), format!("{what} secret {name} has no key {k}"))
        })
    };
    Ok(Credentials {
        username: get("username")?,
        password: get("password")?,
        version: secret
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
    })
}

/// How to generate a missing credential Secret: suffix / userType, user, dbname.
struct Generated<'a> {
    kind: &'a str,
    user: &'a str,
    db: &'a str,
}

/// Reads a Secret, or creates the generated one.
fn secret_or_generate(
    ctx: &Ctx,
    c: &ClusterView,
    name: &str,
    generated: Option<Generated>,
) -> Result<Value, CnpgError> {
    if let Some(s) = ctx.api.get_obj("", "secrets", &c.ns, name) {
        return Ok(s);
    }
    let Some(g) = generated else {
        return Err(CnpgError::invalid(
            &c.id(),
            format!("secret {name} not found"),
        ));
    };
    let secret = credential_secret(c, g.kind, g.kind, g.user, &generate_password(), g.db);
    ctx.api
        .create_obj(&secret, super::MANAGER)
        .map_err(|e| CnpgError::api(&c.id(), format!("creating Secret {name}"), e))
}

/// The application owner's credentials; creates `<cluster>-app` when no secret is named.
pub fn app_credentials(ctx: &Ctx, c: &ClusterView) -> Result<Credentials, CnpgError> {
    let (name, generated) = match &c.app_secret {
        Some(n) => (n.clone(), None),
        None => (
            format!("{}-app", c.name),
            Some(Generated {
                kind: "app",
                user: &c.owner,
                db: &c.database,
            }),
        ),
    };
    let creds = from_secret(
        c,
        &secret_or_generate(ctx, c, &name, generated)?,
        "application",
    )?;
    if creds.username != c.owner {
        return Err(CnpgError::invalid(
            &c.id(),
            format!(
                "wrong username '{}' in secret {name}, expected '{}'",
                creds.username, c.owner
            ),
        ));
    }
    Ok(creds)
}

/// The superuser's credentials when `enableSuperuserAccess` is on.
pub fn superuser_credentials(ctx: &Ctx, c: &ClusterView) -> Result<Option<Credentials>, CnpgError> {
    if !c.superuser_access {
        return Ok(None);
    }
    let (name, generated) = match &c.superuser_secret {
        Some(n) => (n.clone(), None),
        None => (
            format!("{}-superuser", c.name),
            Some(Generated {
                kind: "superuser",
                user: "postgres",
                db: "*",
            }),
        ),
    };
    from_secret(
        c,
        &secret_or_generate(ctx, c, &name, generated)?,
        "superuser",
    )
    .map(Some)
}

/// Sets `role`'s password (or NULL) on the server unless this Secret version is applied.
pub async fn apply_password(
    ctx: &Ctx,
    c: &ClusterView,
    inst: &Instance,
    role: &str,
    creds: Option<&Credentials>,
) -> Result<(), CnpgError> {
    let key = (c.ns.clone(), c.name.clone(), role.to_string());
    let version = creds.map(|k| k.version.clone()).unwrap_or_default();
    if ctx.applied(&key).as_deref() == Some(version.as_str()) {
        return Ok(());
    }
    let pw = creds
        .map(|k| quote_literal(&k.password))
        .unwrap_or_else(|| "NULL".into());
    let sql = format!(
        "SET log_statement = 'none';\nALTER ROLE {} WITH PASSWORD {pw};\n",
        quote_ident(role)
    );
    inst.pg.psql("postgres", &sql).await?;
    ctx.set_applied(key, version);
    Ok(())
}

/// With superuser access off: `postgres` gets a NULL password and the generated
/// `<cluster>-superuser` Secret (if the Cluster owns it) is deleted.
pub fn drop_superuser_secret(ctx: &Ctx, c: &ClusterView) -> Result<(), CnpgError> {
    let name = format!("{}-superuser", c.name);
    let Some(s) = ctx.api.get_obj("", "secrets", &c.ns, &name) else {
        return Ok(());
    };
    let owned = s
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|r| r["uid"] == c.uid.as_str()));
    if owned {
        ctx.api
            .delete_obj("", "secrets", &c.ns, &name, None)
            .map_err(|e| CnpgError::api(&c.id(), format!("deleting Secret {name}"), e))?;
    }
    Ok(())
}
