//! CNPG's view against the store's: agreement, and each kind of disagreement.

use serde_json::json;

use super::*;
use crate::backup_catalog::base::judge;
use crate::backup_catalog::store::{self, Form};
use crate::backup_catalog::wal::Archive;
use crate::backup_catalog::window;

fn located(status: Value) -> Located {
    let cfg = json!({"destinationPath": "s3://backups/cnpg",
        "s3Credentials": {"accessKeyId": {"name": "s", "key": "a"}, "secretAccessKey": {"name": "s", "key": "b"}}});
    Located {
        cluster: ObjectRef::new("Cluster", Some("databases"), "prod"),
        object: json!({"spec": {"backup": {"barmanObjectStore": cfg}}, "status": status}),
        object_store: None,
        spec: store::spec(Form::InTree, &cfg, "prod").unwrap(),
    }
}

fn catalog() -> BackupCatalog {
    let done = |id: &str, end: &str| {
        judge(
            id.into(),
            Some(format!(
                "status=DONE\ntimeline=1\nend_wal=000000010000000000000002\nend_time={end}\n"
            )),
        )
    };
    let backups = vec![
        done("20261124T010000", "2026-11-24 01:00:05.4+00:00"),
        judge("20261124T020000".into(), Some("status=FAILED\n".into())),
        done("20261124T030000", "2026-11-24 03:00:07.9+00:00"),
    ];
    let archive = Archive::default();
    BackupCatalog {
        url: "s3://backups/cnpg/prod".into(),
        window: window::compute(&backups, &archive),
        backups,
        archive,
        requests: 0,
    }
}

fn backup(name: &str, phase: &str, id: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"cluster": {"name": "prod"}},
        "status": {"phase": phase, "backupId": id}})
}

#[test]
fn agreeing_views_have_no_disagreement() {
    let l = located(json!({"firstRecoverabilityPoint": "2026-11-24T01:00:05Z",
        "lastSuccessfulBackup": "2026-11-24T03:00:07Z"}));
    let others = json!({"metadata": {"name": "x"}, "spec": {"cluster": {"name": "other"}}});
    let v = view(&l, &[backup("b1", "completed", "20261124T010000"), others]);
    assert_eq!(v.backups.len(), 1, "only this Cluster's Backups");
    assert_eq!(v.source, "Cluster status");
    assert_eq!(disagreements(&catalog(), &v), Vec::<String>::new());
}

#[test]
fn each_disagreement_is_said() {
    let l = located(json!({"firstRecoverabilityPoint": "2026-11-23T00:00:00Z"}));
    let v = view(
        &l,
        &[
            backup("gone", "completed", "20261101T000000"),
            backup("bad", "completed", "20261124T020000"),
            backup("fine", "failed", "20261124T020000"),
        ],
    );
    let d = disagreements(&catalog(), &v);
    assert_eq!(d.len(), 4, "{d:#?}");
    assert!(
        d[0].contains("Backup bad") && d[0].contains("FAILED"),
        "{}",
        d[0]
    );
    assert!(
        d[1].contains("Backup gone") && d[1].contains("no such backup"),
        "{}",
        d[1]
    );
    assert!(
        d[2].contains("firstRecoverabilityPoint 2026-11-23T00:00:00Z")
            && d[2].contains("2026-11-24T01:00:05Z"),
        "{}",
        d[2]
    );
    assert!(d[3].contains("has no lastSuccessfulBackup"), "{}", d[3]);
}

#[test]
fn the_plugin_view_comes_from_the_object_store() {
    let mut l = located(json!({}));
    l.spec.form = Form::Plugin {
        object_store: "store".into(),
    };
    l.object_store = Some(json!({"status": {"serverRecoveryWindow": {"prod": {
        "firstRecoverabilityPoint": "2026-11-24T01:00:05Z", "lastSuccessfulBackupTime": "2026-11-24T03:00:08Z"}}}}));
    let v = view(&l, &[]);
    assert_eq!(
        v.source,
        "ObjectStore store status.serverRecoveryWindow[prod]"
    );
    assert_eq!(
        v.last_successful_backup.as_deref(),
        Some("2026-11-24T03:00:08Z")
    );
    assert_eq!(
        disagreements(&catalog(), &v),
        Vec::<String>::new(),
        "within a second"
    );
}
