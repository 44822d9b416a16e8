//! Argo CD around a refresh (issue 14, item 6), on the synestra scenario: with `selfHeal: true`
//! on the dev Application, refresh-dev removes `syncPolicy.automated` before it stops the app
//! (it is absent while the Job restores) and puts the policy back exactly; `migrations resync`
//! writes the sync operation the Argo CD API server would (revision, the spec's syncOptions and
//! retry, prune as asked).
//!
//! The sandbox's Argo CD does not implement selfHeal (it would scale the stopped app back), so
//! this proves the pause and its exact undo, not the race selfHeal would cause without it.

use std::io::{BufRead, BufReader};

use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use crate::harness::World;
use crate::sandbox::{replicas, Kube};

const APP: &str = "web-synestra-io-dev";

fn application(kube: &Kube) -> Value {
    kube.get("Application", "argocd", APP)
        .expect("the dev Application")
}

#[test]
fn refresh_dev_pauses_selfheal_and_restores_it_exactly_and_sync_copies_the_spec() {
    let (w, kube) = (World::new(), Kube::start());
    kube.scenario("synestra.yaml");
    let policy = json!({
        "automated": {"prune": true, "selfHeal": true},
        "syncOptions": ["ApplyOutOfSyncOnly=true", "PruneLast=true"],
        "retry": {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}}
    });
    let patch = Patch::Merge(json!({"spec": {"syncPolicy": policy}}));
    kube.block_on(
        kube.api("Application", "argocd")
            .patch(APP, &PatchParams::default(), &patch),
    )
    .unwrap();
    let before = application(&kube)["spec"]["syncPolicy"].clone();
    assert_eq!(before["automated"]["selfHeal"], true);

    let mut child = kube
        .cmd(&w, &["-o", "json", "refresh-dev", "synestra-io", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut during = None;
    let mut seen = vec![];
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if during.is_none() && line.contains(cnpgops::refresh::job::RESTORE_START) {
            during = Some(application(&kube)["spec"]["syncPolicy"].clone());
        }
        seen.push(line);
    }
    assert_eq!(child.wait().unwrap().code(), Some(0), "{seen:#?}");
    let during = during.unwrap_or_else(|| panic!("never saw the restore start: {seen:#?}"));
    assert!(
        during.get("automated").is_none_or(Value::is_null),
        "automated sync is off while the Job restores: {during:#}"
    );
    assert_eq!(
        during["syncOptions"], before["syncOptions"],
        "only `automated` is touched"
    );
    let after = application(&kube)["spec"]["syncPolicy"].clone();
    assert_eq!(after, before, "the sync policy is exactly as before");
    assert_eq!(replicas(&kube, "web-synestra-io-dev", "web"), 2);

    // The sync operation as the API server builds it: read back from what Argo CD ran.
    let w2 = World::new();
    kube.run(&w2, &["migrations", "resync", "synestra-io", "--yes"])
        .code(0);
    let app = application(&kube);
    let op = &app["status"]["operationState"]["operation"];
    assert_eq!(op["sync"]["syncOptions"], before["syncOptions"], "{op:#}");
    assert_eq!(op["retry"], before["retry"], "{op:#}");
    assert_eq!(
        op["sync"]["prune"], true,
        "dev prunes by default (auto): {op:#}"
    );
    assert_eq!(
        op["sync"]["revision"], app["spec"]["source"]["targetRevision"],
        "{op:#}"
    );
    assert_eq!(application(&kube)["spec"]["syncPolicy"], before);
}
