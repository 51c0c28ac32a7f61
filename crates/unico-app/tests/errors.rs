//! docs/errors.md is the table other programs read: every code with its exit status and
//! HTTP status, exactly as the service layer maps them.

use unico_app::Code;

#[test]
fn the_docs_table_lists_every_code_with_its_statuses() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md")).unwrap();
    let rows: Vec<(String, u8, u16)> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].parse().unwrap(), cells[3].parse().unwrap())
        })
        .collect();
    let codes: Vec<(String, u8, u16)> =
        Code::ALL.iter().map(|c| (c.as_str().to_string(), c.exit_status(), c.http_status())).collect();
    assert_eq!(rows, codes);
}
