//! Discovery precedence, manifest path checks, schema matching, fan-out order.

mod support;

use codex_flow::{default_roots, FlowCatalog, FlowError, FlowEvent};
use serde_json::json;
use support::{result_script, FlowTree};

#[test]
fn installed_flow_wins_over_source_flow_and_folders_are_sorted() {
    let tree = FlowTree::new();
    tree.file(
        "flows/a/flow.toml",
        "name = \"dup\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\n",
    );
    tree.file("flows/a/s.sh", &result_script("completed"));
    tree.file(
        ".codex/flows/z/flow.toml",
        "name = \"dup\"\nversion = 2\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\n",
    );
    tree.file(".codex/flows/z/s.sh", &result_script("completed"));
    tree.sh_flow(
        "flows",
        "c-second",
        "second",
        "s",
        "t",
        &result_script("completed"),
    );
    tree.sh_flow(
        "flows",
        "b-first",
        "first",
        "s",
        "t",
        &result_script("completed"),
    );
    // A folder without flow.toml is not a flow.
    tree.file("flows/notes/README.md", "not a flow");

    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let names: Vec<&str> = catalog.flows().iter().map(|f| f.name()).collect();
    assert_eq!(names, ["dup", "first", "second"]);
    assert_eq!(
        catalog.flow("dup").unwrap().manifest.version.to_string(),
        "2"
    );
    assert_eq!(catalog.shadowed().len(), 1);
    assert!(catalog.shadowed()[0].root.ends_with("flows/a"));
}

#[test]
fn fan_out_follows_discovery_then_manifest_order() {
    let tree = FlowTree::new();
    let two_steps = |name: &str| {
        format!(
            "name = \"{name}\"\nversion = 1\n[[steps]]\nname = \"second\"\nscript = \"s.sh\"\n[steps.trigger]\ntype = \"go\"\n[[steps]]\nname = \"untriggered\"\nscript = \"s.sh\"\n[[steps]]\nname = \"first\"\nscript = \"s.sh\"\n[steps.trigger]\ntype = \"go\"\n"
        )
    };
    tree.file("flows/alpha/flow.toml", &two_steps("alpha"));
    tree.file("flows/alpha/s.sh", &result_script("completed"));
    tree.file(".codex/flows/zeta/flow.toml", &two_steps("zeta"));
    tree.file(".codex/flows/zeta/s.sh", &result_script("completed"));
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let event = FlowEvent::new("e1", "go", json!({}));
    let order: Vec<String> = catalog
        .match_event(&event)
        .iter()
        .map(|m| format!("{}/{}", m.flow.name(), m.step().name()))
        .collect();
    assert_eq!(
        order,
        ["zeta/second", "zeta/first", "alpha/second", "alpha/first"]
    );
    assert!(catalog
        .match_event(&FlowEvent::new("e2", "go.other", json!({})))
        .is_empty());
}

#[test]
fn payload_schema_decides_the_match_and_explains_refusals() {
    let tree = FlowTree::new();
    tree.file(
        "flows/rel/flow.toml",
        "name = \"rel\"\nversion = 1\n[[steps]]\nname = \"a\"\nscript = \"a.sh\"\n[steps.trigger]\ntype = \"release\"\nschema = \"schemas/release.json\"\n[[steps]]\nname = \"b\"\nscript = \"a.sh\"\n[steps.trigger]\ntype = \"release\"\nschema = \"schemas/release.json\"\n",
    );
    tree.file("flows/rel/a.sh", &result_script("completed"));
    tree.file(
        "flows/rel/schemas/release.json",
        r#"{"type":"object","required":["repo","tag"],"properties":{"tag":{"type":"string","pattern":"^rust-v"},"repo":{"type":"string"}}}"#,
    );
    let catalog = FlowCatalog::load(&default_roots(tree.cwd())).unwrap();
    let flow = catalog.flow("rel").unwrap();
    // Both steps name the same schema file: compiled once, shared.
    assert!(std::sync::Arc::ptr_eq(
        flow.steps[0].schema.as_ref().unwrap(),
        flow.steps[1].schema.as_ref().unwrap()
    ));

    let good = FlowEvent::new(
        "e1",
        "release",
        json!({"repo": "openai/codex", "tag": "rust-v1.2.3"}),
    );
    assert_eq!(catalog.match_event(&good).len(), 2);

    let bad = FlowEvent::new("e2", "release", json!({"tag": "v1.2.3"}));
    assert!(catalog.match_event(&bad).is_empty());
    let (matches, mismatches) = catalog.explain_match(&bad);
    assert!(matches.is_empty());
    assert_eq!(mismatches.len(), 2);
    let messages: Vec<String> = mismatches[0]
        .violations
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("at /tag:") && m.contains("rust-v")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("at /:") && m.contains("repo")),
        "{messages:?}"
    );
}

#[test]
fn step_paths_must_stay_inside_the_flow_folder() {
    let cases = [
        ("script = \"../outside.sh\"", "steps[0].script"),
        ("script = \"/bin/sh\"", "steps[0].script"),
        ("script = \"s.sh\"\ncwd = \"..\"", "steps[0].cwd"),
        ("script = \"link.sh\"", "steps[0].script"),
        (
            "script = \"s.sh\"\n[steps.trigger]\ntype = \"t\"\nschema = \"../schema.json\"",
            "steps[0].trigger.schema",
        ),
    ];
    for (step_body, field) in cases {
        let tree = FlowTree::new();
        tree.file("outside.sh", &result_script("completed"));
        tree.file("flows/schema.json", "{}");
        tree.file(
            "flows/f/flow.toml",
            &format!("name = \"f\"\nversion = 1\n[[steps]]\nname = \"s\"\n{step_body}\n"),
        );
        tree.file("flows/f/s.sh", &result_script("completed"));
        std::os::unix::fs::symlink(
            tree.cwd().join("outside.sh"),
            tree.cwd().join("flows/f/link.sh"),
        )
        .unwrap();
        let err = FlowCatalog::load(&default_roots(tree.cwd())).unwrap_err();
        assert!(
            matches!(err, FlowError::PathEscape { .. }),
            "{step_body}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(field) && text.contains("escapes the flow folder"),
            "{text}"
        );
        assert!(text.contains("flows/f/flow.toml"), "{text}");
        // Nothing outside was touched.
        assert!(tree.cwd().join("outside.sh").is_file());
    }
}

#[test]
fn broken_schema_files_are_clear_errors() {
    let tree = FlowTree::new();
    tree.file(
        "flows/f/flow.toml",
        "name = \"f\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\n[steps.trigger]\ntype = \"t\"\nschema = \"schema.json\"\n",
    );
    tree.file("flows/f/s.sh", &result_script("completed"));
    tree.file("flows/f/schema.json", "this is { not json");
    let err = FlowCatalog::load(&default_roots(tree.cwd())).unwrap_err();
    assert!(matches!(err, FlowError::Schema { .. }));
    let text = err.to_string();
    assert!(
        text.contains("flows/f/schema.json") && text.contains("not JSON"),
        "{text}"
    );

    tree.file("flows/f/schema.json", r#"{"type": "no-such-type"}"#);
    let text = FlowCatalog::load(&default_roots(tree.cwd()))
        .unwrap_err()
        .to_string();
    assert!(text.contains("invalid JSON Schema"), "{text}");
}

#[test]
fn discovery_reports_every_broken_flow_and_keeps_the_good_ones() {
    let tree = FlowTree::new();
    tree.sh_flow(
        "flows",
        "good",
        "good",
        "s",
        "t",
        &result_script("completed"),
    );
    tree.file("flows/bad1/flow.toml", "name = \"bad1\"\n");
    tree.file(
        "flows/bad2/flow.toml",
        "name = \"bad2\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"missing.sh\"\n",
    );
    let discovery = FlowCatalog::discover(&default_roots(tree.cwd()));
    assert_eq!(discovery.catalog.flows().len(), 1);
    assert_eq!(discovery.problems.len(), 2);
    let texts: Vec<String> = discovery
        .problems
        .iter()
        .map(|(_, e)| e.to_string())
        .collect();
    assert!(
        texts[0].contains("bad1/flow.toml") && texts[0].contains("version"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("steps[0].script") && texts[1].contains("missing.sh"),
        "{texts:?}"
    );
}

#[test]
fn unknown_manifest_keys_are_rejected_with_the_key_named() {
    let tree = support::FlowTree::new();
    tree.file(
        "flows/typo/flow.toml",
        "name = \"typo\"\nversion = 1\n[[steps]]\nname = \"s\"\nscript = \"s.sh\"\ntimeoutMs = 1000\n",
    );
    tree.file("flows/typo/s.sh", "#!/bin/sh\n");
    let err = codex_flow::FlowCatalog::load(&codex_flow::default_roots(tree.cwd())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("timeoutMs") && text.contains("steps[0]"),
        "{text}"
    );
}
