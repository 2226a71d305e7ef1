//! `docs/interop.md` keeps the scenario matrix of the interop issue: every
//! scenario a row, every peer a column, every cell a status; and the
//! statuses are honest: a "pass" names the tests that pass it, a "known
//! failure" names its ignored test, and each named test exists.

use interop::matrix::{self, PEERS, SCENARIOS};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/interop.md"))
        .expect("docs/interop.md")
}

/// The text of every test file of this crate.
fn test_sources() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).expect("interop/tests") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            all.push_str(&std::fs::read_to_string(&path).expect("test file"));
        }
    }
    all
}

/// The names in backquotes in `cell`.
fn named(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn the_matrix_lists_every_scenario_against_every_peer() {
    let doc = doc();
    let rows = matrix::read(&doc)
        .expect("docs/interop.md has a `| scenario | BIRD | FRR | GoBGP | ExaBGP |` table");
    for scenario in SCENARIOS {
        let row = rows
            .iter()
            .find(|r| r.scenario.starts_with(scenario))
            .unwrap_or_else(|| {
                panic!("docs/interop.md: scenario `{scenario}` missing from the matrix")
            });
        assert_eq!(
            row.cells.len(),
            PEERS.len(),
            "docs/interop.md: row `{}` needs one cell per peer {PEERS:?}",
            row.scenario
        );
        for (peer, cell) in PEERS.iter().zip(&row.cells) {
            assert!(
                !cell.is_empty(),
                "docs/interop.md: `{scenario}` × {peer} has no status"
            );
        }
    }
    assert_eq!(
        rows.len(),
        SCENARIOS.len(),
        "docs/interop.md: rows {rows:?}"
    );
}

/// Every cell is "pass" with the tests that pass it, "known failure" with
/// its ignored test, or "not applicable" with a reason; every test named
/// exists (a `fn`), and a known failure's test is `#[ignore]`d.
#[test]
fn every_status_names_its_tests() {
    let doc = doc();
    let sources = test_sources();
    let rows = matrix::read(&doc).expect("the matrix");
    for row in &rows {
        for (peer, cell) in PEERS.iter().zip(&row.cells) {
            let at = format!("docs/interop.md: `{}` × {peer}: {cell:?}", row.scenario);
            let tests = named(cell);
            if cell.starts_with("pass") || cell.starts_with("known failure") {
                assert!(!tests.is_empty(), "{at}: names no test");
                for test in &tests {
                    assert!(
                        sources.contains(&format!("fn {test}(")),
                        "{at}: no test named {test} in interop/tests"
                    );
                }
            } else {
                assert!(
                    cell.starts_with("not applicable"),
                    "{at}: a status is pass, known failure or not applicable"
                );
            }
            if cell.starts_with("known failure") {
                let test = tests[0];
                let fn_at = sources.find(&format!("fn {test}(")).unwrap_or(0);
                let before = &sources[sources[..fn_at].rfind("#[test]").unwrap_or(0)..fn_at];
                assert!(
                    before.contains("#[ignore"),
                    "{at}: {test} is a known failure but not #[ignore]d"
                );
            }
        }
    }
}

#[test]
fn the_matrix_reader_finds_a_missing_scenario() {
    let doc =
        "# x\n\n| scenario | BIRD | FRR | GoBGP | ExaBGP |\n| --- | --- | --- | --- | --- |\n\
               | 1. Sessions | pending | pending | pending | — |\n\ntext\n";
    let rows = matrix::read(doc).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].scenario, "1. Sessions");
    assert_eq!(rows[0].cells, ["pending", "pending", "pending", "—"]);
    assert!(!rows.iter().any(|r| r.scenario.starts_with(SCENARIOS[1])));
    assert_eq!(matrix::read("no table"), None);
    assert_eq!(named("pass (`a`, `b`)"), ["a", "b"]);
}
