//! The README's examples are real: its reference topology validates and its plan excerpt
//! is what netlab prints.

use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The text of every fenced block with the given info string.
fn blocks(text: &str, info: &str) -> Vec<String> {
    let fence = format!("```{info}\n");
    text.split(&fence).skip(1).map(|rest| rest.split("```").next().unwrap().to_string()).collect()
}

#[test]
fn the_reference_example_validates() {
    let text = readme();
    let toml = blocks(&text, "toml");
    assert!(!toml.is_empty(), "the README has a toml example");
    for (i, example) in toml.iter().enumerate() {
        if let Err(invalid) = netlab::load_str(&format!("README.md toml block {i}"), example) {
            panic!("{}", invalid.render());
        }
    }
}

#[test]
fn the_plan_excerpt_is_real() {
    let text = readme();
    let plan = netlab::plan::compile(
        &netlab::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ipip.toml")).unwrap(),
    );
    let rendered = netlab::plan::text::render(&plan);
    let excerpt =
        blocks(&text, "").into_iter().find(|b| b.starts_with("# lab ipip")).expect("the README shows the ipip plan");
    for line in excerpt.lines().filter(|l| l.trim() != "...") {
        assert!(rendered.lines().any(|r| r == line), "README line not in the real plan: {line:?}\n{rendered}");
    }
}

#[test]
fn the_first_lines_give_the_two_commands() {
    let text = readme();
    let first = blocks(&text, "sh").into_iter().next().expect("a sh block at the top");
    assert!(first.contains("cargo run --release -- up topologies/"), "{first}");
    assert!(first.contains("cargo test"), "{first}");
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    let test_command = first.lines().find(|l| l.starts_with("cargo test")).unwrap().split('#').next().unwrap().trim();
    assert!(ci.contains(test_command), ".ci/run runs the README's test command `{test_command}`");
}
