//! Unit tests of CRD loading and custom-resource admission against the embedded CRDs.

use serde_json::{json, Value};

use super::*;

fn yaml(s: &str) -> Value {
    serde_saphyr::from_str(s).expect("test YAML parses")
}

fn crd(group: &str, plural: &str) -> &'static CrdInfo {
    find_crd(group, plural).expect("embedded CRD exists")
}

fn cluster_crd() -> &'static CrdInfo {
    crd("postgresql.cnpg.io", "clusters")
}

fn minimal_cluster() -> Value {
    yaml(
        r#"
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: pg
  namespace: default
spec:
  instances: 1
  storage:
    size: 1Gi
"#,
    )
}

fn invalid(result: Result<Admitted, AdmitError>) -> Vec<Cause> {
    match result {
        Err(AdmitError::Invalid(causes)) => causes,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn cause_for<'a>(causes: &'a [Cause], field: &str) -> &'a Cause {
    causes
        .iter()
        .find(|c| c.field == field)
        .unwrap_or_else(|| panic!("no cause for {field} in {causes:?}"))
}

#[test]
fn builtin_crds_load_with_names_and_subresources() {
    let crds = builtin_crds();
    assert_eq!(crds.len(), 7);
    let expected = [
        ("postgresql.cnpg.io", "clusters", "Cluster", "v1", true),
        ("postgresql.cnpg.io", "backups", "Backup", "v1", true),
        (
            "postgresql.cnpg.io",
            "scheduledbackups",
            "ScheduledBackup",
            "v1",
            true,
        ),
        ("postgresql.cnpg.io", "databases", "Database", "v1", true),
        ("postgresql.cnpg.io", "poolers", "Pooler", "v1", true),
        (
            "barmancloud.cnpg.io",
            "objectstores",
            "ObjectStore",
            "v1",
            true,
        ),
        (
            "argoproj.io",
            "applications",
            "Application",
            "v1alpha1",
            false,
        ),
    ];
    for (group, plural, kind, version, status) in expected {
        let c = crd(group, plural);
        assert_eq!(c.kind, kind);
        assert_eq!(c.version, version);
        assert_eq!(c.list_kind, format!("{kind}List"));
        assert_eq!(c.singular, kind.to_lowercase());
        assert!(c.namespaced, "{kind} is namespaced");
        assert_eq!(c.status_subresource, status, "{kind} status subresource");
        assert_eq!(c.name, format!("{plural}.{group}"));
        c.schema.compile().expect("validator compiles");
    }

    let cluster = cluster_crd();
    assert_eq!(cluster.api_version(), "postgresql.cnpg.io/v1");
    assert_eq!(
        cluster.scale,
        Some(ScaleSubresource {
            spec_replicas_path: ".spec.instances".into(),
            status_replicas_path: ".status.instances".into(),
            label_selector_path: Some(".status.selector".into()),
        })
    );
    let columns: Vec<&str> = cluster
        .printer_columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Age", "Instances", "Ready", "Status", "Primary"]);
    assert_eq!(cluster.printer_columns[1].json_path, ".status.instances");
    assert_eq!(cluster.printer_columns[1].type_, "integer");

    let pooler = crd("postgresql.cnpg.io", "poolers");
    let scale = pooler.scale.as_ref().expect("Pooler has scale");
    assert_eq!(scale.label_selector_path, None);
    assert!(crd("postgresql.cnpg.io", "backups").scale.is_none());

    let app = crd("argoproj.io", "applications");
    assert_eq!(app.short_names, ["app", "apps"]);
    assert!(app.scale.is_none());
    assert_eq!(
        app.schema.openapi_v3()["properties"]["spec"]["required"],
        json!(["destination", "project"])
    );
    assert!(find_crd("postgresql.cnpg.io", "nope").is_none());
}

#[test]
fn minimal_cluster_is_admitted_with_defaults() {
    let admitted = cluster_crd()
        .schema
        .admit(minimal_cluster(), FieldValidation::Strict)
        .expect("minimal cluster is valid");
    assert!(admitted.warnings.is_empty());
    let spec = &admitted.object["spec"];
    assert_eq!(spec["instances"], 1);
    assert_eq!(spec["storage"]["size"], "1Gi");
    assert_eq!(spec["logLevel"], "info");
    assert_eq!(spec["primaryUpdateStrategy"], "unsupervised");
    assert_eq!(spec["primaryUpdateMethod"], "restart");
    assert_eq!(spec["enableSuperuserAccess"], false);
    assert_eq!(spec["smartShutdownTimeout"], 180);
    // A defaulted object gets its own children defaulted.
    assert_eq!(
        spec["replicationSlots"],
        json!({
            "highAvailability": {"enabled": true, "slotPrefix": "_cnpg_"},
            "updateInterval": 30
        })
    );
    // Defaults inside an existing object; no parent object is created for defaults.
    assert_eq!(spec["storage"]["resizeInUseVolumes"], true);
    assert!(spec.get("walStorage").is_none());
    assert!(spec.get("monitoring").is_none());
    assert_eq!(
        admitted.object["metadata"],
        json!({"name": "pg", "namespace": "default"})
    );
}

#[test]
fn integral_floats_become_integers() {
    let mut obj = minimal_cluster();
    obj["spec"]["instances"] = json!(3.0);
    let admitted = cluster_crd()
        .schema
        .admit(obj.clone(), FieldValidation::Strict)
        .expect("3.0 is an integer");
    assert_eq!(admitted.object["spec"]["instances"].to_string(), "3");
    obj["spec"]["instances"] = json!(2.5);
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    assert_eq!(
        cause_for(&causes, "spec.instances").message,
        r#"Invalid value: "number": spec.instances in body must be of type integer: "number""#
    );
}

#[test]
fn defaults_apply_to_every_array_item() {
    let mut obj = minimal_cluster();
    obj["spec"]["plugins"] =
        json!([{"name": "barman-cloud.cloudnative-pg.io"}, {"name": "x", "enabled": false}]);
    let admitted = cluster_crd()
        .schema
        .admit(obj, FieldValidation::Strict)
        .expect("valid");
    let plugins = &admitted.object["spec"]["plugins"];
    assert_eq!(plugins[0]["enabled"], true);
    assert_eq!(plugins[0]["isWALArchiver"], false);
    assert_eq!(plugins[1]["enabled"], false);
}

#[test]
fn wrong_type_is_field_value_type_invalid() {
    let mut obj = minimal_cluster();
    obj["spec"]["instances"] = json!("three");
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    let c = cause_for(&causes, "spec.instances");
    assert_eq!(c.reason, "FieldValueTypeInvalid");
    assert_eq!(
        c.message,
        r#"Invalid value: "string": spec.instances in body must be of type integer: "string""#
    );
}

#[test]
fn int_or_string_rejects_other_types_like_kube() {
    let mut obj = minimal_cluster();
    obj["spec"]["resources"] = json!({"limits": {"cpu": "500m", "memory": true}});
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    let messages: Vec<String> = causes.iter().map(ToString::to_string).collect();
    assert!(
        messages.contains(&r#"spec.resources.limits.memory: Invalid value: "boolean": spec.resources.limits.memory in body must be of type integer,string: "boolean""#.to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&r#"<nil>: Invalid value: "": "spec.resources.limits.memory" must validate at least one schema (anyOf)"#.to_string()),
        "{messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("limits.cpu")),
        "{messages:?}"
    );
}

#[test]
fn unknown_bootstrap_method_per_field_validation() {
    let mut obj = minimal_cluster();
    obj["spec"]["bootstrap"] = json!({"foo": {}, "initdb": {"database": "app", "bar": 1}});
    let schema = &cluster_crd().schema;

    let err = schema
        .admit(obj.clone(), FieldValidation::Strict)
        .expect_err("strict rejects unknown fields");
    assert_eq!(
        err,
        AdmitError::UnknownFields(vec![
            "spec.bootstrap.foo".into(),
            "spec.bootstrap.initdb.bar".into()
        ])
    );
    assert_eq!(
        err.to_string(),
        r#"strict decoding error: unknown field "spec.bootstrap.foo", unknown field "spec.bootstrap.initdb.bar""#
    );

    let warned = schema
        .admit(obj.clone(), FieldValidation::Warn)
        .expect("warn admits");
    assert_eq!(
        warned.warnings,
        [
            r#"unknown field "spec.bootstrap.foo""#,
            r#"unknown field "spec.bootstrap.initdb.bar""#
        ]
    );
    assert_eq!(
        warned.object["spec"]["bootstrap"],
        json!({"initdb": {"database": "app"}})
    );

    let ignored = schema
        .admit(obj, FieldValidation::Ignore)
        .expect("ignore admits");
    assert!(ignored.warnings.is_empty());
    assert_eq!(ignored.object, warned.object);
}

#[test]
fn unknown_fields_in_array_items_and_metadata_are_reported() {
    let mut obj = minimal_cluster();
    obj["spec"]["plugins"] = json!([{"name": "a"}, {"name": "b", "colour": "red"}]);
    obj["metadata"]["labels"] = json!({"app": "pg"});
    obj["metadata"]["bogus"] = json!(1);
    obj["extra"] = json!(true);
    let err = cluster_crd()
        .schema
        .admit(obj.clone(), FieldValidation::Strict)
        .expect_err("strict");
    assert_eq!(
        err,
        AdmitError::UnknownFields(vec![
            "extra".into(),
            "metadata.bogus".into(),
            "spec.plugins[1].colour".into()
        ])
    );
    let admitted = cluster_crd()
        .schema
        .admit(obj, FieldValidation::Ignore)
        .expect("ignore");
    assert_eq!(
        admitted.object["metadata"],
        json!({"name": "pg", "namespace": "default", "labels": {"app": "pg"}})
    );
    assert!(admitted.object.get("extra").is_none());
    assert_eq!(admitted.object["apiVersion"], "postgresql.cnpg.io/v1");
}

#[test]
fn nulls_are_pruned_or_defaulted_unless_nullable() {
    let mut obj = minimal_cluster();
    obj["spec"]["description"] = Value::Null;
    obj["spec"]["logLevel"] = Value::Null;
    obj["spec"]["postgresql"] = json!({"parameters": {"max_connections": "100", "work_mem": null}});
    let admitted = cluster_crd()
        .schema
        .admit(obj, FieldValidation::Strict)
        .expect("nulls do not make it invalid");
    let spec = &admitted.object["spec"];
    assert!(
        spec.get("description").is_none(),
        "null without default pruned"
    );
    assert_eq!(
        spec["logLevel"], "info",
        "null with default gets the default"
    );
    assert_eq!(
        spec["postgresql"]["parameters"],
        json!({"max_connections": "100"})
    );

    let schema = StructuralSchema::new(json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "keep": {"type": "string", "nullable": true},
                    "drop": {"type": "string"},
                    "list": {"type": "array", "items": {"type": "string"}}
                }
            }
        }
    }))
    .expect("schema");
    let admitted = schema
        .admit(
            json!({"spec": {"keep": null, "drop": null}}),
            FieldValidation::Strict,
        )
        .expect("valid");
    assert_eq!(admitted.object, json!({"spec": {"keep": null}}));
    // A null array item is not pruned: validation reports it.
    let causes = invalid(schema.admit(
        json!({"spec": {"list": ["a", null]}}),
        FieldValidation::Strict,
    ));
    assert_eq!(
        causes,
        [Cause {
            reason: "FieldValueTypeInvalid".into(),
            message:
                r#"Invalid value: "null": spec.list[1] in body must be of type string: "null""#
                    .into(),
            field: "spec.list[1]".into(),
        }]
    );
}

#[test]
fn preserve_unknown_fields_are_kept() {
    let app = yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: pg-app
  namespace: argocd
spec:
  project: default
  destination:
    server: https://kubernetes.default.svc
    namespace: databases
  source:
    repoURL: https://github.com/example/deploy.git
    targetRevision: main
    path: charts/pg
    helm:
      releaseName: pg
      valuesObject:
        cluster:
          instances: 3
          anything: {goes: [1, {here: null}]}
      notAHelmField: 1
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
      - CreateNamespace=true
"#,
    );
    let crd = crd("argoproj.io", "applications");
    let err = crd
        .schema
        .admit(app.clone(), FieldValidation::Strict)
        .expect_err("notAHelmField is unknown");
    assert_eq!(
        err,
        AdmitError::UnknownFields(vec!["spec.source.helm.notAHelmField".into()])
    );
    let admitted = crd
        .schema
        .admit(app, FieldValidation::Warn)
        .expect("admitted");
    assert_eq!(
        admitted.object["spec"]["source"]["helm"]["valuesObject"],
        json!({"cluster": {"instances": 3, "anything": {"goes": [1, {"here": null}]}}})
    );
    assert_eq!(admitted.warnings.len(), 1);
}

#[test]
fn enum_violation_is_not_supported() {
    let mut obj = minimal_cluster();
    obj["spec"]["logLevel"] = json!("verbose");
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    let c = cause_for(&causes, "spec.logLevel");
    assert_eq!(c.reason, "FieldValueNotSupported");
    assert_eq!(
        c.message,
        r#"Unsupported value: "verbose": supported values: "error", "warning", "info", "debug", "trace""#
    );
}

#[test]
fn minimum_violation_is_invalid() {
    let mut obj = minimal_cluster();
    obj["spec"]["instances"] = json!(0);
    obj["spec"]["bootstrap"] = json!({"initdb": {"walSegmentSize": 2048}});
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    assert_eq!(causes.len(), 2, "{causes:?}");
    assert_eq!(
        causes[0],
        Cause {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: 2048: spec.bootstrap.initdb.walSegmentSize in body should be less than or equal to 1024".into(),
            field: "spec.bootstrap.initdb.walSegmentSize".into(),
        }
    );
    assert_eq!(
        causes[1].message,
        "Invalid value: 0: spec.instances in body should be greater than or equal to 1"
    );
    let err = AdmitError::Invalid(causes);
    assert_eq!(
        err.status_message("Cluster.postgresql.cnpg.io", "pg"),
        "Cluster.postgresql.cnpg.io \"pg\" is invalid: [spec.bootstrap.initdb.walSegmentSize: Invalid value: 2048: spec.bootstrap.initdb.walSegmentSize in body should be less than or equal to 1024, spec.instances: Invalid value: 0: spec.instances in body should be greater than or equal to 1]"
    );
}

#[test]
fn missing_required_fields_are_reported() {
    let backup = yaml(
        r#"
apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata: {name: b1, namespace: default}
spec:
  cluster: {}
"#,
    );
    let causes = invalid(
        crd("postgresql.cnpg.io", "backups")
            .schema
            .admit(backup, FieldValidation::Strict),
    );
    assert_eq!(
        causes,
        [Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: "spec.cluster.name".into(),
        }]
    );

    let mut obj = minimal_cluster();
    obj.as_object_mut().expect("object").remove("spec");
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    assert_eq!(cause_for(&causes, "spec").reason, "FieldValueRequired");

    let mut obj = minimal_cluster();
    obj["spec"]["plugins"] = json!([{"enabled": true}]);
    let causes = invalid(cluster_crd().schema.admit(obj, FieldValidation::Strict));
    assert_eq!(
        cause_for(&causes, "spec.plugins[0].name").message,
        "Required value"
    );
}

#[test]
fn realistic_backup_objectstore_application_are_admitted() {
    let backup = yaml(
        r#"
apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata:
  name: pg-backup-1
  namespace: default
  labels: {cnpg.io/cluster: pg}
spec:
  cluster:
    name: pg
  method: plugin
  pluginConfiguration:
    name: barman-cloud.cloudnative-pg.io
    parameters:
      barmanObjectName: minio-store
"#,
    );
    let admitted = crd("postgresql.cnpg.io", "backups")
        .schema
        .admit(backup, FieldValidation::Strict)
        .expect("backup admitted");
    assert_eq!(
        admitted.object["spec"]["target"],
        Value::Null,
        "no default for target"
    );
    assert_eq!(admitted.object["spec"]["method"], "plugin");

    let store = yaml(
        r#"
apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata:
  name: minio-store
  namespace: default
spec:
  retentionPolicy: "30d"
  configuration:
    destinationPath: s3://backups/
    endpointURL: http://minio:9000
    s3Credentials:
      accessKeyId: {name: minio, key: ACCESS_KEY_ID}
      secretAccessKey: {name: minio, key: ACCESS_SECRET_KEY}
    wal:
      compression: gzip
      maxParallel: 4
    data:
      jobs: 2
  instanceSidecarConfiguration:
    env:
      - name: AWS_REGION
        value: us-east-1
"#,
    );
    let admitted = crd("barmancloud.cnpg.io", "objectstores")
        .schema
        .admit(store, FieldValidation::Strict)
        .expect("object store admitted");
    let sidecar = &admitted.object["spec"]["instanceSidecarConfiguration"];
    assert_eq!(sidecar["logLevel"], "info");
    assert_eq!(sidecar["retentionPolicyIntervalSeconds"], 1800);

    let app = yaml(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: pg
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: https://github.com/example/deploy.git
    path: clusters/pg
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: default
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    retry:
      limit: 5
      backoff: {duration: 5s, factor: 2, maxDuration: 3m}
"#,
    );
    let admitted = crd("argoproj.io", "applications")
        .schema
        .admit(app.clone(), FieldValidation::Strict)
        .expect("application admitted");
    assert_eq!(
        admitted.object, app,
        "nothing pruned, no defaults in Application"
    );
}

#[test]
fn date_time_and_byte_formats_are_checked() {
    let backup_crd = crd("postgresql.cnpg.io", "backups");
    let mut backup = yaml(
        r#"
apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata: {name: b1}
spec: {cluster: {name: pg}}
status:
  startedAt: "2025-01-02T03:04:05Z"
  stoppedAt: "2025-01-02T03:04:05.123+02:00"
  backupLabelFile: "aGVsbG8="
"#,
    );
    backup_crd
        .schema
        .admit(backup.clone(), FieldValidation::Strict)
        .expect("valid formats");
    backup["status"]["startedAt"] = json!("yesterday");
    backup["status"]["backupLabelFile"] = json!("not base64!");
    let causes = invalid(backup_crd.schema.admit(backup, FieldValidation::Strict));
    assert_eq!(
        cause_for(&causes, "status.startedAt").message,
        r#"Invalid value: "yesterday": status.startedAt in body must be of type date-time: "yesterday""#
    );
    assert_eq!(
        cause_for(&causes, "status.backupLabelFile").reason,
        "FieldValueTypeInvalid"
    );
}

#[test]
fn length_pattern_and_item_limits_use_kube_wording() {
    let schema = StructuralSchema::new(json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                    "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                    "hosts": {"type": "array", "minItems": 1, "items": {"type": "string"}}
                }
            }
        }
    }))
    .expect("schema");
    let causes = invalid(schema.admit(
        json!({"spec": {"name": "X", "tags": ["a", "b", "c"], "hosts": []}}),
        FieldValidation::Strict,
    ));
    let rendered: Vec<String> = causes.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "spec.hosts: Invalid value: 0: spec.hosts in body should have at least 1 items",
            "spec.name: Invalid value: \"X\": spec.name in body should be at least 2 chars long",
            "spec.name: Invalid value: \"X\": spec.name in body should match '^[a-z]+$'",
            "spec.tags: Too many: 3: must have at most 2 items",
        ]
    );
    assert_eq!(causes[3].reason, "FieldValueTooMany");
    let causes =
        invalid(schema.admit(json!({"spec": {"name": "abcdef"}}), FieldValidation::Strict));
    assert_eq!(causes[0].reason, "FieldValueTooLong");
    assert_eq!(causes[0].message, "Too long: may not be more than 5 bytes");
}

#[test]
fn field_validation_parses_query_values() {
    assert_eq!("Strict".parse(), Ok(FieldValidation::Strict));
    assert_eq!("Warn".parse(), Ok(FieldValidation::Warn));
    assert_eq!("Ignore".parse(), Ok(FieldValidation::Ignore));
    assert_eq!("".parse(), Ok(FieldValidation::Warn));
    let err = "strict"
        .parse::<FieldValidation>()
        .expect_err("case-sensitive");
    assert_eq!(
        err.to_string(),
        r#"fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#
    );
}

#[test]
fn cause_serializes_like_status_cause() {
    let c = Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: "spec.cluster.name".into(),
    };
    assert_eq!(
        serde_json::to_value(&c).expect("serializes"),
        json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.cluster.name"})
    );
}
