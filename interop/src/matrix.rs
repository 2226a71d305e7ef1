//! The scenario matrix of `docs/interop.md` (issue "Interop suite"): the
//! scenarios the suite must cover, and the peers each runs against. A test
//! fails when the document's table lacks a scenario or a peer column.

/// The scenarios, in the order of the issue; each is a row of the table,
/// whose first cell starts with the scenario's number and name.
pub const SCENARIOS: [&str; 9] = [
    "1. Sessions",
    "2. Routes and attributes",
    "3. TCP-MD5 and GTSM",
    "4. Hold timer, shutdown, route refresh",
    "5. Graceful restart",
    "6. ECMP",
    "7. Flat network end to end",
    "8. Route reflection",
    "9. Bad input (RFC 7606, RFC 4271)",
];

/// The peer columns of the table.
pub const PEERS: [&str; 4] = ["BIRD", "FRR", "GoBGP", "ExaBGP"];

/// One row of the matrix as read from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The first cell.
    pub scenario: String,
    /// The status per peer column, in [`PEERS`] order.
    pub cells: Vec<String>,
}

/// Reads the markdown table whose header starts with `| scenario |` and
/// names the [`PEERS`]. Returns `None` when there is no such table.
pub fn read(doc: &str) -> Option<Vec<Row>> {
    let split = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut lines = doc.lines().skip_while(|l| {
        let cells = split(l);
        !(l.trim_start().starts_with('|')
            && cells
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case("scenario"))
            && cells.get(1..=PEERS.len()).is_some_and(|h| h == PEERS))
    });
    lines.next()?;
    lines.next()?; // the | --- | line
    Some(
        lines
            .take_while(|l| l.trim_start().starts_with('|'))
            .map(|l| {
                let mut cells = split(l);
                let scenario = if cells.is_empty() {
                    String::new()
                } else {
                    cells.remove(0)
                };
                Row { scenario, cells }
            })
            .collect(),
    )
}
