//! Concurrency (issue 8): a person's CLI run and a CronJob-style run (`--yes --state kubernetes
//! --state-namespace cnpgops -o json`) of refresh-dev started at the same moment. On the same
//! target exactly one proceeds and the other is refused (exit 3) naming the holder (the winner's
//! run id); on different targets (dev and a second env, staging) both succeed. Either way the
//! locks are released and dev ends equal to prod.

use std::process::{Command, Output, Stdio};

use crate::fingerprint as fp;
use crate::harness::World;
use crate::refresh_world as rw;
use crate::sandbox::{deployment, Kube};

const OWNER: &str = "synestra_io";
const PASSWORD: &str = "sandbox-initdb-Pa55";
const CRON: &[&str] = &[
    "--yes",
    "--state",
    "kubernetes",
    "--state-namespace",
    "cnpgops",
    "-o",
    "json",
];

/// Starts every command, then waits for all of them.
fn at_once(cmds: Vec<Command>) -> Vec<(i32, String)> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().expect("cnpgops starts")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let Output {
                status,
                stdout,
                stderr,
            } = c.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
            (status.code().unwrap_or(-1), text)
        })
        .collect()
}

/// The run id a run printed (`starting run ID` or the JSON report's `run_id`).
fn run_id(text: &str) -> String {
    find_run_id(text).unwrap_or_else(|| panic!("no run id in:\n{text}"))
}

/// The first `YYYYMMDD-HHMMSS-xxxx` in `text`.
fn find_run_id(text: &str) -> Option<String> {
    text.as_bytes().windows(20).find_map(|w| {
        let s = std::str::from_utf8(w).ok()?;
        let ok = s.char_indices().all(|(i, c)| match i {
            8 | 15 => c == '-',
            16..=19 => c.is_ascii_hexdigit(),
            _ => c.is_ascii_digit(),
        });
        ok.then(|| s.to_string())
    })
}

fn world(kube: &Kube) {
    kube.scenario("synestra.yaml");
    kube.namespace("cnpgops");
}

/// No Lease left but CNPG's own (each instance manager's primary Lease, owned by its Cluster).
fn no_leases(kube: &Kube) {
    let cnpgs = |l: &serde_json::Value| {
        let owners = l["metadata"]["ownerReferences"].as_array();
        owners.is_some_and(|o| o.iter().any(|r| r["kind"] == "Cluster"))
    };
    let leases = kube.list("Lease", "databases", "");
    let left: Vec<_> = leases.iter().filter(|l| !cnpgs(l)).collect();
    assert!(left.is_empty(), "locks left: {left:#?}");
}

fn dev_equals_prod(kube: &Kube, dev: &str) {
    let prod = fp::of(kube, "synestra-io-cnpg", OWNER, PASSWORD);
    let dev_fp = fp::of(kube, dev, OWNER, PASSWORD);
    fp::assert_same(("prod", &prod), (dev, &dev_fp), "dev equals prod");
}

#[test]
fn same_target_at_once_one_proceeds_the_other_is_refused_naming_the_holder() {
    let (w, kube) = (World::new(), Kube::start());
    world(&kube);
    let cli = kube.cmd(&w, &["refresh-dev", "synestra-io", "--yes"]);
    let mut cron_args = vec!["refresh-dev", "synestra-io"];
    cron_args.extend_from_slice(CRON);
    let cron = kube.cmd(&w, &cron_args);
    let results = at_once(vec![cli, cron]);
    let codes: Vec<i32> = results.iter().map(|r| r.0).collect();
    let winner = results.iter().find(|r| r.0 == 0);
    let loser = results.iter().find(|r| r.0 == 3);
    let (Some(winner), Some(loser)) = (winner, loser) else {
        panic!("expected one 0 and one 3, got {codes:?}:\n{results:#?}");
    };
    let holder = run_id(&winner.1);
    assert!(
        loser.1.contains(&format!("{holder}@")) && loser.1.contains("delete lease"),
        "the refusal names the holder {holder} and how to break a dead lock:\n{}",
        loser.1
    );
    eprintln!(
        "same target: exit codes {codes:?}; refused: {}",
        loser.1.lines().find(|l| l.contains("@")).unwrap_or("")
    );
    no_leases(&kube);
    dev_equals_prod(&kube, "synestra-io-dev-cnpg");
}

#[test]
fn different_targets_at_once_both_succeed() {
    let (w, kube) = (World::new(), Kube::start());
    world(&kube);
    // A second non-production env of the same app, named by the default profile.
    kube.namespace("web-synestra-io-staging");
    deployment(&kube, "web-synestra-io-staging", "web", 1);
    kube.create("apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: synestra-io-staging-cnpg, namespace: databases}\nspec:\n  instances: 1\n  imageName: ghcr.io/cloudnative-pg/postgresql:15.10\n  storage: {size: 5Gi}\n  bootstrap: {initdb: {database: synestra_io, owner: synestra_io, secret: {name: synestra-io-initdb-secret}}}\n");
    rw::wait_healthy(&kube, "synestra-io-staging-cnpg");
    let cli = kube.cmd(&w, &["refresh-dev", "synestra-io", "--yes"]);
    let mut cron_args = vec!["refresh-dev", "synestra-io", "--to", "staging"];
    cron_args.extend_from_slice(CRON);
    let cron = kube.cmd(&w, &cron_args);
    let results = at_once(vec![cli, cron]);
    for (code, text) in &results {
        assert_eq!(*code, 0, "{text}");
    }
    assert_ne!(run_id(&results[0].1), run_id(&results[1].1));
    no_leases(&kube);
    dev_equals_prod(&kube, "synestra-io-dev-cnpg");
    dev_equals_prod(&kube, "synestra-io-staging-cnpg");
}
