//! Every KPI has one definition, written in `docs/kpis.md`: the table there and the code
//! must say the same thing.

use unico_kpi::kpis::ALL_KPIS;

#[test]
fn the_documented_definitions_are_the_implemented_ones() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/kpis.md")).unwrap();
    for k in ALL_KPIS {
        let line = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", k.name())))
            .unwrap_or_else(|| panic!("docs/kpis.md has no row for {}", k.name()));
        assert!(line.contains(k.definition()), "docs/kpis.md defines {} differently: {line}", k.name());
        let goal = if k.goal_allowed() { "| yes |" } else { "| no |" };
        assert!(line.contains(goal), "docs/kpis.md: goals on {}: {line}", k.name());
    }
    let rows =
        doc.lines().filter(|l| l.starts_with("| `") && (l.contains("| higher |") || l.contains("| lower |"))).count();
    assert_eq!(rows, ALL_KPIS.len(), "a KPI documented but not implemented");
}
