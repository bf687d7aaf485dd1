//! `mappings/demo.yaml` for the tests of role-backed groups alone.

/// `mappings/demo.yaml` without its `group_terms` line: the demo site's
/// role-backed groups alone, which most tests are about (the tests of
/// term-backed groups add `group_terms` themselves).
pub fn demo_roles_only() -> String {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/demo.yaml"))
            .expect("mappings/demo.yaml");
    let kept: Vec<&str> = shipped
        .lines()
        .filter(|line| !line.starts_with("group_terms:"))
        .collect();
    assert!(
        kept.len() < shipped.lines().count(),
        "demo.yaml has a group_terms line"
    );
    kept.join("\n") + "\n"
}
