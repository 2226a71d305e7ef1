//! `docs/interop.md` keeps the scenario matrix of the interop issue: every
//! scenario a row, every peer a column, every cell a status.

use interop::matrix::{self, PEERS, SCENARIOS};

#[test]
fn the_matrix_lists_every_scenario_against_every_peer() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/interop.md"))
        .expect("docs/interop.md");
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
}
