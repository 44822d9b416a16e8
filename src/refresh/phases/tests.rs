//! Phase timing from marker lines, and the Job script's list split run with the real awk.

use std::time::{Duration, Instant};

use super::*;
use crate::refresh::job_manifest::DUMP_DONE;

#[test]
fn phases_last_until_the_next_one_and_repeats_add_up() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut t = Timeline::new(t0);
    t.feed(DUMP_START, at(800));
    t.feed(DUMP_DONE, at(2000)); // not a phase of its own: the restore's start is
    t.feed(RESTORE_START, at(2000));
    t.feed(
        "pg_restore: processing data for table \"public.a\"",
        at(2100),
    );
    for (line, ms) in [
        ("cnpgops: phase clean", 2050),
        ("cnpgops: phase schema", 2300),
        ("cnpgops: phase data", 2500),
        ("cnpgops: phase indexes", 5500),
        ("cnpgops: phase constraints", 7000),
        ("cnpgops: phase commit", 7100),
        (RESTORE_DONE, 7300),
        ("cnpgops: phase ", 7350),
    ] {
        t.feed(line, at(ms));
    }
    let got: Vec<(String, u64)> = t
        .finish(at(7400))
        .into_iter()
        .map(|p| (p.phase, p.ms))
        .collect();
    let want = [
        ("job_start", 800),
        ("dump", 1200),
        ("restore", 50),
        ("clean", 250),
        ("schema", 200),
        ("data", 3000),
        ("indexes", 1500),
        ("constraints", 100),
        ("commit", 200),
        ("job_finish", 100),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(n, m)| (n.to_string(), *m)).collect();
    assert_eq!(got, want);
    let mut again = Timeline::new(t0);
    again.feed("cnpgops: phase data", at(10));
    again.feed("cnpgops: phase schema", at(30));
    again.feed("cnpgops: phase data", at(40));
    let p = again.finish(at(100));
    assert_eq!(p[1].phase, "data");
    assert_eq!(p[1].ms, 20 + 60, "a repeated phase adds up");
    assert_eq!(summary(&p[..2]), "job_start 0.0s, data 0.1s");
}

/// A `pg_restore --list` as PostgreSQL 15 prints it for pgbench plus a view, a foreign key, a
/// trigger and a materialized view.
const LIST: &str = ";
; Archive created at 2026-12-05 20:00:00 UTC
;
215; 1259 16390 TABLE public pgbench_accounts app
216; 1259 16393 TABLE public pgbench_branches app
217; 1259 16396 VIEW public v app
218; 1259 16399 SEQUENCE public s app
3340; 0 16390 TABLE DATA public pgbench_accounts app
3341; 0 16393 TABLE DATA public pgbench_branches app
3342; 0 0 SEQUENCE SET public s app
3190; 2606 16410 CONSTRAINT public pgbench_accounts pgbench_accounts_pkey app
3191; 1259 16412 INDEX public i app
3192; 2606 16414 FK CONSTRAINT public pgbench_accounts fk app
3193; 2620 16416 TRIGGER public pgbench_accounts t app
3194; 1259 16418 INDEX public late app
3350; 0 16420 MATERIALIZED VIEW DATA public mv app
";

/// The entry ids of each phase's segment after `toc_split` (the Job's function, real awk).
fn split(list_text: &str) -> Vec<Vec<String>> {
    split_after(list_text, "")
}

/// As [`split`], `toc_split LIST AFTER`.
fn split_after(list_text: &str, after: &str) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("toc");
    std::fs::write(&list, list_text).unwrap();
    let script = format!("{}\ntoc_split \"$1\" {after}", shell());
    let status = std::process::Command::new("bash")
        .args(["-c", &script, "bash"])
        .arg(&list)
        .status()
        .expect("bash runs");
    assert!(status.success());
    RESTORE_PHASES
        .iter()
        .map(|phase| {
            let text = std::fs::read_to_string(format!("{}.{phase}", list.display())).unwrap();
            text.lines()
                .map(|l| l.split(';').next().unwrap().to_string())
                .collect()
        })
        .collect()
}

fn ids(list_text: &str) -> Vec<String> {
    list_text
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(|l| l.split(';').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_list_splits_into_phases_in_its_own_order() {
    let parts = split(LIST);
    assert_eq!(parts[0], ["215", "216", "217", "218"]);
    assert_eq!(parts[1], ["3340", "3341", "3342"]);
    assert_eq!(parts[2], ["3190", "3191"]);
    assert_eq!(parts[3], ["3192", "3193", "3194", "3350"]);
    assert_eq!(
        parts.concat(),
        ids(LIST),
        "the segments, one after another, are the list"
    );
    // A TABLE in a schema named DATA reads as data and starts that phase early: time moves
    // between phases, the order never changes.
    let odd = LIST.replace(
        "TABLE public pgbench_branches",
        "TABLE DATA pgbench_branches",
    );
    let parts = split(&odd);
    assert_eq!(parts[0], ["215"]);
    assert_eq!(parts.concat(), ids(&odd));
}

#[test]
fn a_post_data_list_splits_into_index_builds_and_the_rest() {
    // Stream mode's post-data archive: no schema or data entries to start from.
    let post: String = LIST
        .lines()
        .filter(|l| {
            ["3190", "3191", "3192", "3193", "3194", "3350"].contains(&l.split(';').next().unwrap())
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let parts = split_after(&post, "data");
    assert!(parts[0].is_empty() && parts[1].is_empty(), "{parts:?}");
    assert_eq!(parts[2], ["3190", "3191"]);
    assert_eq!(parts[3], ["3192", "3193", "3194", "3350"]);
    // Without AFTER, an index build before any data reads as schema: the reason AFTER exists.
    assert_eq!(
        split(&post)[0],
        ["3190", "3191", "3192", "3193", "3194", "3350"]
    );
}

/// What bash prints running the Job's phase functions, then `tail`.
fn run(tail: &str) -> String {
    let script = format!("{}\n{tail}", shell());
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn marker_statements_raise_a_warning_psql_prints_at_once() {
    assert_eq!(
        run("{ phase data; echo 'SELECT 1;'; }"),
        "DO $$BEGIN RAISE WARNING 'cnpgops: phase data'; END$$;\nSELECT 1;\n"
    );
    let t0 = Instant::now();
    let mut t = Timeline::new(t0);
    t.feed("psql:<stdin>:12: WARNING:  cnpgops: phase indexes", t0);
    assert_eq!(t.finish(t0)[1].phase, "indexes");
}
