//! The step registry agrees with itself, with the files under `src/steps/` and with every
//! runbook cnpgops ships.

use std::collections::BTreeSet;
use std::path::Path;

use super::{registry, Connector, KINDS};
use crate::runbook::known::BUILTIN;
use crate::runbook::Source;

/// `refresh.job` -> `RefreshJob`.
fn camel_case(name: &str) -> String {
    name.split(['.', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn steps_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/steps")
}

#[test]
fn camel_case_joins_the_words_of_a_kind_name() {
    assert_eq!(camel_case("refresh.job"), "RefreshJob");
    assert_eq!(camel_case("cnpg.delete_cluster"), "CnpgDeleteCluster");
    assert_eq!(camel_case("log"), "Log");
}

#[test]
fn kinds_are_listed_once_in_alphabetical_order() {
    let kube = Connector::default();
    let names: Vec<&str> = KINDS
        .iter()
        .map(|k| (k.build)(&kube).signature().name)
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "KINDS must be alphabetical, each kind once");
    assert_eq!(registry().signatures().count(), KINDS.len());
}

#[test]
fn kinds_agree_with_their_files() {
    let kube = Connector::default();
    for kind in KINDS {
        let name = (kind.build)(&kube).signature().name;
        assert_eq!(kind.module, name.replace('.', "_"), "module of `{name}`");
        assert_eq!(kind.type_name, camel_case(name), "type of `{name}`");
        let file = steps_dir().join(format!("{}.rs", kind.module));
        assert!(file.is_file(), "`{name}` lives in {}", file.display());
    }
}

#[test]
fn every_kind_says_what_it_does_and_what_its_inputs_mean() {
    for signature in registry().signatures() {
        assert!(
            !signature.summary.trim().is_empty(),
            "`{}` has no summary",
            signature.name
        );
        for input in signature.inputs {
            assert!(
                !input.description.trim().is_empty(),
                "input `{}` of `{}` has no description",
                input.name,
                signature.name
            );
        }
    }
}

#[test]
fn every_file_under_steps_is_a_registered_kind() {
    let registered: BTreeSet<&str> = KINDS.iter().map(|k| k.module).collect();
    let support = ["mod", "registry_tests"];
    for entry in std::fs::read_dir(steps_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            support.contains(&stem) || registered.contains(stem),
            "{} is not in KINDS",
            path.display()
        );
    }
}

#[test]
fn every_shipped_runbook_uses_registered_kinds() {
    let registry = registry();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/examples");
    let mut sources: Vec<Source> = BUILTIN
        .iter()
        .map(|(file, text)| Source::builtin(file, text))
        .collect();
    for entry in std::fs::read_dir(examples).unwrap() {
        sources.push(Source::read(&entry.unwrap().path()).unwrap());
    }
    let mut used = BTreeSet::new();
    for source in sources {
        let display = source.display.clone();
        let loaded = crate::runbook::load(source, &registry)
            .unwrap_or_else(|e| panic!("{display} does not load: {e}"));
        for step in &loaded.runbook.steps {
            assert!(
                registry.get(&step.uses).is_some(),
                "{display}: step `{}` uses unknown kind `{}`",
                step.id,
                step.uses
            );
            used.insert(step.uses.clone());
        }
    }
    assert!(used.contains("refresh.job") && used.contains("restore.plan"));
}
