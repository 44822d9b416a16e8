//! `spec.managed.roles` of a Cluster (CNPG's declarative role management): each role is
//! created or altered (login, superuser, createdb, password from its `passwordSecret`) or
//! dropped (`ensure: absent`); `status.managedRolesStatus` reports what was reconciled.
use base64::Engine;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::world::postgres::{quote_ident, quote_literal};
use crate::world::World;

fn password(api: &Cluster, ns: &str, role: &Value) -> Option<String> {
    let name = role.pointer("/passwordSecret/name")?.as_str()?;
    let secret = api.get_obj("", "secrets", ns, name)?;
    let b64 = secret.pointer("/data/password")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

fn role_sql(role: &Value, password: Option<&str>) -> Option<String> {
    let name = role["name"].as_str()?;
    let ident = quote_ident(name);
    if role["ensure"].as_str() == Some("absent") {
        return Some(format!("DROP ROLE IF EXISTS {ident}"));
    }
    let flag = |key: &str, yes: &str, no: &str| {
        if role[key].as_bool().unwrap_or(false) {
            yes.to_string()
        } else {
            no.to_string()
        }
    };
    let mut opts = vec![
        flag("login", "LOGIN", "NOLOGIN"),
        flag("superuser", "SUPERUSER", "NOSUPERUSER"),
        flag("createdb", "CREATEDB", "NOCREATEDB"),
    ];
    if let Some(p) = password {
        opts.push(format!("PASSWORD {}", quote_literal(p)));
    }
    let opts = opts.join(" ");
    Some(format!(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit}) THEN ALTER ROLE {ident} WITH {opts}; ELSE CREATE ROLE {ident} WITH {opts}; END IF; END $$;",
        lit = quote_literal(name)
    ))
}

/// Applies the Cluster's managed roles once its server runs; returns the roles reconciled.
pub async fn reconcile(api: &Cluster, world: &World, cluster: &Value) -> Option<Vec<String>> {
    let roles = cluster.pointer("/spec/managed/roles")?.as_array()?.clone();
    let ns = cluster["metadata"]["namespace"].as_str()?;
    let name = cluster["metadata"]["name"].as_str()?;
    let instance = world.instance(&(ns.to_string(), format!("{name}-1")))?;
    let mut done = vec![];
    for role in &roles {
        let Some(sql) = role_sql(role, password(api, ns, role).as_deref()) else {
            continue;
        };
        if instance.pg.psql("postgres", &sql).await.is_ok() {
            done.push(role["name"].as_str().unwrap_or_default().to_string());
        }
    }
    let status = json!({"status": {"managedRolesStatus": {"byStatus": {"reconciled": done}}}});
    if cluster.pointer("/status/managedRolesStatus/byStatus/reconciled")
        != status.pointer("/status/managedRolesStatus/byStatus/reconciled")
    {
        let _ = api.merge_patch(
            "postgresql.cnpg.io",
            "clusters",
            ns,
            name,
            &status,
            true,
            "cnpg-roles",
        );
    }
    Some(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sql_creates_or_alters_with_flags_and_password() {
        let role = json!({"name": "docspell", "login": true, "ensure": "present"});
        let sql = role_sql(&role, Some("pa'ss")).unwrap();
        assert!(
            sql.contains(
                "CREATE ROLE \"docspell\" WITH LOGIN NOSUPERUSER NOCREATEDB PASSWORD 'pa''ss'"
            ),
            "{sql}"
        );
        assert!(sql.contains("ALTER ROLE \"docspell\""));
        assert_eq!(
            role_sql(&json!({"name": "old", "ensure": "absent"}), None).unwrap(),
            "DROP ROLE IF EXISTS \"old\""
        );
    }
}
