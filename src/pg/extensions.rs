//! Extensions across a refresh run as the target database's owner.
//!
//! pg_dump dumps every extension that is not built in as `CREATE EXTENSION IF NOT EXISTS`
//! plus `COMMENT ON EXTENSION` (the control file's comment, or the one set since). Restored as
//! the owner (not a superuser), both work when the restore creates the extension itself (a
//! trusted one, the owner having CREATE on the database). Two cases fail the one transaction:
//! - the extension already exists on the target, owned by another role (a superuser created
//!   it, e.g. with CNPG's `postInitApplicationSQL`): the clean does not drop it, the `CREATE
//!   ... IF NOT EXISTS` is skipped, and the `COMMENT` fails with "must be owner of extension".
//!   Those comments are left out of the restore ([`Plan::keep_comments`]); the target's
//!   comment stays, and a different one is reported.
//! - the extension is missing on the target and the owner cannot create it (not trusted, or
//!   not installed): refused before anything changes, naming what to do.

use tokio_postgres::Client;

/// One extension as a side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extension {
    pub name: String,
    /// The current user owns it (or is a member of its owner).
    pub owned: bool,
    pub comment: Option<String>,
}

/// Extensions pg_dump dumps (not built in: oid past the initial catalog).
pub(crate) const LIST: &str = "SELECT e.extname::text, pg_has_role(e.extowner, 'USAGE'), \
    obj_description(e.oid, 'pg_extension') FROM pg_extension e WHERE e.oid >= 16384 ORDER BY 1";

/// Whether the current user could `CREATE EXTENSION $1` here: installed, and the user a
/// superuser or the extension trusted and the user allowed to create in the database.
pub(crate) const CREATABLE: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = $1), \
    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
    OR (has_database_privilege(current_database(), 'CREATE') AND coalesce((SELECT v.trusted \
        FROM pg_available_extension_versions v JOIN pg_available_extensions a \
          ON a.name = v.name AND a.default_version = v.version WHERE v.name = $1), false))";

/// What the refresh does about extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Extensions whose `COMMENT` is left out (they stay the target's, owned by another role).
    pub keep_comments: Vec<String>,
    /// `name`: the comments that differ and stay the target's.
    pub differing_comments: Vec<String>,
    /// Missing on the target and not creatable by its owner: `name (why)`.
    pub impossible: Vec<String>,
}

/// Lists `client`'s extensions.
pub(crate) async fn list(client: &Client) -> Result<Vec<Extension>, tokio_postgres::Error> {
    let rows = client.query(LIST, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| Extension {
            name: r.get(0),
            owned: r.get(1),
            comment: r.get(2),
        })
        .collect())
}

/// The plan for restoring `source`'s extensions into `target` (`target_client` answers
/// whether a missing one can be created).
pub(crate) async fn plan(
    source: &[Extension],
    target: &[Extension],
    target_client: &Client,
) -> Result<Plan, tokio_postgres::Error> {
    let mut plan = Plan::default();
    for s in source {
        match target.iter().find(|t| t.name == s.name) {
            Some(t) if !t.owned => {
                plan.keep_comments.push(s.name.clone());
                if t.comment != s.comment {
                    plan.differing_comments.push(s.name.clone());
                }
            }
            Some(_) => {}
            None => {
                let row = target_client.query_one(CREATABLE, &[&s.name]).await?;
                let (installed, allowed): (bool, Option<bool>) = (row.get(0), row.get(1));
                if !installed {
                    plan.impossible
                        .push(format!("{} (not installed in the target's image)", s.name));
                } else if allowed != Some(true) {
                    plan.impossible.push(format!(
                        "{} (not a trusted extension: only a superuser can create it)",
                        s.name
                    ));
                }
            }
        }
    }
    Ok(plan)
}
