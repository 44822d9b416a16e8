//! Profiles: the seed-000 default, the seed-003 shared-cluster layout from a file, the guard.

use super::*;

#[test]
fn the_default_is_seed_000() {
    let r = Resolved::new("default", &Profile::default(), "synestra-io", "prod", "dev");
    assert_eq!(r.source.cluster, "synestra-io-cnpg");
    assert_eq!(r.target.cluster, "synestra-io-dev-cnpg");
    assert_eq!(r.target.namespace, "databases");
    assert_eq!(r.target.app_namespace, "web-synestra-io-dev");
    assert_eq!(r.target.app_secret, "web-synestra-io-dev-env");
    assert_eq!(r.target.app_secret_key, "DATABASE_URI");
    assert_eq!(r.target.argo_app, "web-synestra-io-dev");
    assert!(r.is_prod(&r.source) && !r.is_prod(&r.target));
    let scope = r.scope();
    assert_eq!(scope["target"]["cluster"], "synestra-io-dev-cnpg");
    assert_eq!(scope["target"]["prod"], false);
    assert_eq!(scope["source"]["prod"], true);
}

#[test]
fn a_target_naming_the_prod_cluster_is_prod_whatever_the_env_is_called() {
    let p = Profile {
        cluster: "{app}-cnpg".into(),
        ..Profile::default()
    };
    let r = Resolved::new("x", &p, "shop", "prod", "staging");
    assert!(!r.target.prod);
    assert!(r.is_prod(&r.target), "same cluster and database as prod");
}

const SHARED: &str = r#"
profile: shared
profiles:
  shared:
    cluster_namespace: databases
    prod_cluster: postgresql-shared
    cluster: postgresql-shared
    database_resource: "{app}-{env}"
    credentials_secret: "{app}-{env}-postgresql-credentials"
    app_namespace: "{app}-{env}"
    app_selector: "app.kubernetes.io/name={app}"
    app_secret: "{app}-{env}-db"
    app_secret_key: DB_PASSWORD
    argo_app: "{app}-{env}"
"#;

#[test]
fn the_shared_cluster_layout_of_seed_003_is_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, SHARED).unwrap();
    let (name, p) = load(Some(&path), None).unwrap();
    assert_eq!(name, "shared");
    let r = Resolved::new(&name, &p, "docspell", "prod", "dev");
    assert_eq!(r.target.cluster, "postgresql-shared");
    assert_eq!(r.target.database_resource, "docspell-dev");
    assert_eq!(r.source.database_resource, "docspell-prod");
    assert_eq!(
        r.target.credentials_secret,
        "docspell-dev-postgresql-credentials"
    );
    assert_eq!(r.target.app_selector, "app.kubernetes.io/name=docspell");
    assert!(!r.is_prod(&r.target), "same cluster, other database");
    assert!(r.is_prod(&r.source));
    let (_, default) = load(Some(&path), Some("default")).unwrap();
    assert_eq!(default, Profile::default());
}

#[test]
fn config_errors_name_the_file_and_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, SHARED).unwrap();
    let err = load(Some(&path), Some("nope")).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("config.yaml"), "{err}");
    std::fs::write(&path, "profiles: {x: {clutser: a}}\n").unwrap();
    let err = load(Some(&path), None).unwrap_err().to_string();
    assert!(err.contains("config.yaml"), "{err}");
    let missing = dir.path().join("missing.yaml");
    assert!(
        load(Some(&missing), None).is_err(),
        "an explicit --config must exist"
    );
}
