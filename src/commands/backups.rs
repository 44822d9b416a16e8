//! `cnpgops backups APP [--env prod] [-o json]`: the app's Cluster (naming profile), its object
//! store, every base backup, the WAL archive per timeline and the recoverability window, beside
//! CNPG's own view and where the two disagree; the S3 request count last.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::Context;
use crate::backup_catalog::cnpg::{self, CnpgView};
use crate::backup_catalog::{self, BackupCatalog};
use crate::cli::BackupsArgs;
use crate::error::Error;
use crate::k8s::{Kube, ObjectRef};

/// The Cluster of `app` in `env` (naming profile), and a connected client.
pub(super) async fn target(
    ctx: &Context,
    app: &str,
    env: &str,
) -> Result<(Kube, ObjectRef), Error> {
    let (_, profile) = ctx.naming_profile()?;
    let names = profile.env(app, env);
    let kube = ctx
        .kube
        .get()
        .await
        .map_err(backup_catalog::CatalogError::kube(
            "the Kubernetes connection",
        ))?;
    let cluster = ObjectRef::new("Cluster", Some(&names.namespace), &names.cluster);
    Ok((kube, cluster))
}

/// Everything `-o json` prints.
#[derive(Serialize)]
struct Listing<'a> {
    cluster: String,
    store: &'a backup_catalog::store::StoreSpec,
    catalog: &'a BackupCatalog,
    cnpg: &'a CnpgView,
    disagreements: Vec<String>,
}

pub(super) async fn run(ctx: &Context, args: BackupsArgs) -> Result<(), Error> {
    let (kube, cluster) = target(ctx, &args.app, &args.env).await?;
    let ns = cluster.namespace.clone().unwrap_or_default();
    let located = backup_catalog::locate(&kube, &ns, &cluster.name).await?;
    let s3 = backup_catalog::connect(&kube, &located, &ctx.redactor).await?;
    let layout = &located.spec.layout;
    let mut cache = match backup_catalog::cache::default_dir() {
        Some(dir) if !args.no_cache => {
            backup_catalog::cache::Cache::open(&dir, &format!("{}|{}", s3.endpoint(), layout.url()))
        }
        _ => backup_catalog::cache::Cache::disabled(),
    };
    // CNPG's view comes from the API server, the catalog from S3: both at once.
    let (cat, view) = tokio::join!(
        backup_catalog::read(&s3, layout, &mut cache),
        cnpg::read(&kube, &located)
    );
    let (cat, view) = (cat?, view?);
    let listing = Listing {
        cluster: cluster.to_string(),
        store: &located.spec,
        catalog: &cat,
        cnpg: &view,
        disagreements: cnpg::disagreements(&cat, &view),
    };
    match ctx.global.output {
        crate::ui::Format::Json => ctx.print_json(&listing),
        crate::ui::Format::Text => ctx.print(&render(&listing)),
    }
    Ok(())
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

fn size(bytes: Option<u64>) -> String {
    match bytes {
        None => "-".into(),
        Some(b) if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        Some(b) => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

/// Rows padded to the widest cell of each column.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let width: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&width)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn backup_rows(cat: &BackupCatalog) -> Vec<Vec<String>> {
    let header = ["ID", "NAME", "STATUS", "BEGIN", "END", "TL", "SIZE", "WAL"];
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for b in &cat.backups {
        let i = b.info.as_ref();
        let text = |f: fn(&backup_catalog::backup_info::BackupInfo) -> Option<String>| {
            i.and_then(f).unwrap_or_else(|| "-".into())
        };
        rows.push(vec![
            b.id.clone(),
            text(|i| i.name.clone()),
            b.status().to_string(),
            time(i.and_then(|i| i.begin_time)),
            time(i.and_then(|i| i.end_time)),
            text(|i| i.timeline.map(|t| t.to_string())),
            size(i.and_then(|i| i.size)),
            wal_range(i),
        ]);
    }
    rows
}

/// `BEGIN..END` WAL of a backup; `-` when neither is known.
fn wal_range(info: Option<&backup_catalog::backup_info::BackupInfo>) -> String {
    let (begin, end) = info.map_or((None, None), |i| (i.begin_wal.clone(), i.end_wal.clone()));
    match (begin, end) {
        (None, None) => "-".into(),
        (b, e) => format!("{}..{}", b.unwrap_or_default(), e.unwrap_or_default()),
    }
}

fn render(l: &Listing) -> String {
    let spec = l.store;
    let endpoint = spec.endpoint.as_deref().unwrap_or("AWS S3");
    let mut out = format!(
        "{}: {}, server {} at {} ({endpoint})\n\n",
        l.cluster,
        spec.form.describe(),
        spec.layout.server,
        l.catalog.url
    );
    out.push_str(&table(&backup_rows(l.catalog)));
    for b in &l.catalog.backups {
        let why = b
            .problem
            .clone()
            .or(b.info.as_ref().and_then(|i| i.error.clone()));
        if let Some(why) = why {
            out.push_str(&format!("  {}: {why}\n", b.id));
        }
    }
    out.push_str(&render_archive(l.catalog));
    out.push_str(&render_cnpg(l));
    out.push_str(&format!("S3 requests: {}\n", l.catalog.requests));
    out
}

fn render_archive(cat: &BackupCatalog) -> String {
    let mut out = String::from("\nWAL archive:");
    if cat.archive.timelines.is_empty() {
        out.push_str(" empty\n");
    } else {
        out.push('\n');
    }
    for t in &cat.archive.timelines {
        let dash = || "-".to_string();
        out.push_str(&format!(
            "  timeline {}: {} .. {}{} (archived {})\n",
            t.timeline,
            t.first.clone().unwrap_or_else(dash),
            t.last.clone().unwrap_or_else(dash),
            if t.ends_partial { " (partial)" } else { "" },
            time(t.last_archived_at)
        ));
    }
    match &cat.window {
        Some(w) => out.push_str(&format!(
            "Recoverability window: {} .. {} (timeline {}; from the end of backup {}, to {})\n",
            time(Some(w.earliest)),
            time(Some(w.latest)),
            w.timeline,
            w.first_backup,
            w.last_wal
                .as_ref()
                .map(|s| format!("WAL {s}"))
                .unwrap_or_else(|| format!("the end of backup {}", w.last_backup))
        )),
        None => out.push_str("Recoverability window: none (no completed backup)\n"),
    }
    out
}

fn render_cnpg(l: &Listing) -> String {
    let v = l.cnpg;
    let dash = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "\nCNPG's view ({}): firstRecoverabilityPoint {}, lastSuccessfulBackup {}\n",
        v.source,
        dash(&v.first_recoverability_point),
        dash(&v.last_successful_backup)
    );
    if !v.backups.is_empty() {
        let mut rows = vec![["BACKUP", "METHOD", "PHASE", "BACKUP ID", "STOPPED"]
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()];
        for b in &v.backups {
            let phase = match &b.error {
                Some(e) => format!("{} ({e})", b.phase),
                None => b.phase.clone(),
            };
            rows.push(vec![
                b.name.clone(),
                b.method.clone(),
                phase,
                dash(&b.backup_id),
                dash(&b.stopped_at),
            ]);
        }
        out.push_str(&table(&rows));
    }
    if l.disagreements.is_empty() {
        out.push_str("CNPG and the object store agree.\n");
    } else {
        out.push_str("Where CNPG and the object store disagree:\n");
        for d in &l.disagreements {
            out.push_str(&format!("  - {d}\n"));
        }
    }
    out
}
