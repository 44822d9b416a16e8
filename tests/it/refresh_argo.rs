//! Argo CD around a refresh (issue 14, item 6), on the synestra scenario, with `selfHeal: true`
//! on the dev Application. The sandbox's Argo CD self-heals as Argo CD 3.x does, and a control
//! proves it in this very world (the dev Deployment scaled to 0 by hand comes back). Then
//! refresh-dev succeeds: it removes `syncPolicy.automated` before it stops the app (absent while
//! the Job restores), dev ends equal to prod, no self-heal fought the refresh, and the policy is
//! put back byte for byte. First, `migrations resync` ends the bad deploy (so selfHeal may act)
//! with the sync operation the Argo CD API server would write (revision, the spec's syncOptions
//! and retry, prune as asked).

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use crate::fingerprint::{self as fp, assert_same};
use crate::harness::World;
use crate::sandbox::{replicas, Kube};

const APP: &str = "web-synestra-io-dev";
const DEV_NS: &str = "web-synestra-io-dev";

fn application(kube: &Kube) -> Value {
    kube.get("Application", "argocd", APP)
        .expect("the dev Application")
}

/// Polls the dev Application until `pred` holds (panics after `secs`).
fn app_when(kube: &Kube, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let app = application(kube);
        if pred(&app) {
            return app;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "{what}: {app:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn heals(app: &Value) -> Option<u64> {
    app.pointer("/status/operationState/operation/sync/autoHealAttemptsCount")
        .and_then(Value::as_u64)
}

/// The control: selfHeal acts in this world. The dev Deployment scaled to 0 by hand (automated
/// sync on, the last sync successful) is scaled back to Git's 2 by an automated sync.
fn self_heal_acts(kube: &Kube) {
    let app = application(kube);
    let state = &app["status"]["operationState"];
    assert_eq!(state["phase"], "Succeeded", "{state:#}");
    let scale = Patch::Merge(json!({"spec": {"replicas": 0}}));
    kube.block_on(
        kube.api("Deployment", DEV_NS)
            .patch("web", &PatchParams::default(), &scale),
    )
    .unwrap();
    let healed = app_when(kube, 60, "self-heal", |a| {
        heals(a) == Some(1) && a["operation"].is_null()
    });
    let op = &healed["status"]["operationState"]["operation"];
    assert_eq!(op["initiatedBy"]["automated"], true, "{op:#}");
    assert_eq!(
        replicas(kube, DEV_NS, "web"),
        2,
        "self-heal scaled the app back"
    );
}

/// `migrations resync` ends the bad deploy with the sync operation the API server builds,
/// read back from what Argo CD ran.
fn resync_copies_the_spec(kube: &Kube, policy: &Value) {
    let w = World::new();
    kube.run(&w, &["migrations", "resync", "synestra-io", "--yes"])
        .code(0);
    let app = application(kube);
    let op = &app["status"]["operationState"]["operation"];
    assert_eq!(op["sync"]["syncOptions"], policy["syncOptions"], "{op:#}");
    assert_eq!(op["retry"], policy["retry"], "{op:#}");
    assert_eq!(
        op["sync"]["prune"], true,
        "dev prunes by default (auto): {op:#}"
    );
    assert_eq!(
        op["sync"]["revision"], app["spec"]["source"]["targetRevision"],
        "{op:#}"
    );
}

/// Runs refresh-dev; the sync policy seen when the restore starts.
fn refresh_dev(w: &World, kube: &Kube) -> Value {
    let mut child = kube
        .cmd(w, &["-o", "json", "refresh-dev", "synestra-io", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut during = None;
    let mut seen = vec![];
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if during.is_none() && line.contains(cnpgops::support::RESTORE_START) {
            during = Some(application(kube)["spec"]["syncPolicy"].clone());
        }
        seen.push(line);
    }
    assert_eq!(child.wait().unwrap().code(), Some(0), "{seen:#?}");
    during.unwrap_or_else(|| panic!("never saw the restore start: {seen:#?}"))
}

#[test]
fn refresh_dev_with_selfheal_on_pauses_it_makes_dev_equal_to_prod_and_restores_it_exactly() {
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
    resync_copies_the_spec(&kube, &policy);
    self_heal_acts(&kube);
    let before_app = application(&kube);
    let before = before_app["spec"]["syncPolicy"].clone();
    let before_text = serde_json::to_string(&before).unwrap();
    assert_eq!(before["automated"]["selfHeal"], true);

    let (owner, password) = ("synestra_io", "sandbox-initdb-Pa55");
    let dev_before = fp::of(&kube, "synestra-io-dev-cnpg", owner, password);
    let prod_before = fp::of(&kube, "synestra-io-cnpg", owner, password);
    assert!(
        !dev_before.diff("dev", &prod_before, "prod").is_empty(),
        "dev differs from prod before the refresh"
    );

    let during = refresh_dev(&w, &kube);
    assert!(
        during.get("automated").is_none_or(Value::is_null),
        "automated sync is off while the Job restores: {during:#}"
    );
    assert_eq!(
        during["syncOptions"], before["syncOptions"],
        "only `automated` is touched"
    );
    let after_app = application(&kube);
    let after = serde_json::to_string(&after_app["spec"]["syncPolicy"]).unwrap();
    assert_eq!(after, before_text, "the sync policy is exactly as before");
    assert_eq!(replicas(&kube, DEV_NS, "web"), 2);
    assert_eq!(
        heals(&after_app),
        heals(&before_app),
        "no self-heal fought the refresh: {:#}",
        after_app["status"]["operationState"]
    );
    let prod = fp::of(&kube, "synestra-io-cnpg", owner, password);
    let dev = fp::of(&kube, "synestra-io-dev-cnpg", owner, password);
    assert_same(("prod", &prod), ("dev", &dev), "dev after refresh-dev");
}
