//! Layers point one way: each module of src/ may use only the modules below it (see
//! ARCHITECTURE.md). A `use crate::...` that points up (the kernel reaching into `apply`,
//! `diff` into the kernel, the state into the kernel...) fails here. Test code (`tests.rs`,
//! inline `mod tests`, the fake kernel and the test helpers) may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each module may use, below it.
const ALLOWED: &[(&str, &[&str])] = &[
    ("spec", &[]),
    ("diagnostics", &[]),
    ("timing", &[]),
    ("impairment", &[]),
    ("places", &[]),
    ("firewall", &[]),
    ("topology", &["spec", "diagnostics", "impairment", "firewall"]),
    ("tunnel", &["topology"]),
    ("impair", &["tunnel", "topology", "impairment"]),
    ("graph", &["topology"]),
    ("plan", &["topology", "tunnel", "impairment", "impair", "firewall"]),
    ("live", &["topology", "impairment", "firewall"]),
    ("process", &["live", "places", "topology"]),
    ("state", &["plan", "live", "topology", "places"]),
    ("sharing", &["plan", "live", "state", "topology", "places"]),
    ("ownership", &["plan", "live", "state", "topology", "firewall"]),
    (
        "kernel",
        &[
            "plan",
            "live",
            "ownership",
            "process",
            "topology",
            "tunnel",
            "timing",
            "places",
            "impair",
            "impairment",
            "firewall",
        ],
    ),
    ("diff", &["plan", "live", "ownership", "sharing", "state", "topology", "impairment", "firewall"]),
    ("apply", &["kernel", "plan", "state", "timing", "topology"]),
    ("verify", &["diff", "kernel", "live", "plan", "sharing", "state", "timing", "topology"]),
    ("error", &["apply", "diagnostics", "diff", "kernel", "ownership", "plan", "state", "topology"]),
    ("run", &["kernel", "live", "plan", "process", "timing", "topology"]),
    ("cli", &["tunnel", "impair", "impairment"]),
    (
        "commands",
        &[
            "apply",
            "cli",
            "diff",
            "error",
            "graph",
            "impair",
            "impairment",
            "kernel",
            "live",
            "ownership",
            "plan",
            "process",
            "run",
            "sharing",
            "state",
            "timing",
            "topology",
            "tunnel",
            "verify",
            "diagnostics",
            "firewall",
            "places",
        ],
    ),
];

/// The module a `crate::NAME` names (the crate root re-exports a few items).
fn module_of(name: &str) -> &str {
    match name {
        "load" | "load_str" | "Topology" => "topology",
        "Error" | "Result" => "error",
        other => other,
    }
}

/// The modules a piece of source names as `crate::X` or in `crate::{X, Y::z}`.
fn used(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: the first segment of each.
            let (mut depth, mut item, mut end) = (0, String::new(), group.len());
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(first_segment(&item));
            rest = &group[end..];
        } else {
            out.insert(first_segment(rest));
        }
    }
    out.remove("");
    out.into_iter().map(|m| module_of(&m).to_string()).collect()
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// A file's code without its inline tests (`#[cfg(test)]` then `mod tests {`, at its end).
fn without_tests(text: &str) -> &str {
    let mut at = 0;
    while let Some(i) = text[at..].find("#[cfg(test)]") {
        let start = at + i;
        let after = text[start + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod tests {") {
            return &text[..start];
        }
        at = start + 1;
    }
    text
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let name = file.file_name().unwrap().to_string_lossy();
        let fake = name == "fake.rs" || rel.starts_with("kernel/fake");
        if ["lib", "main", "testing"].contains(&module.as_str()) || name == "tests.rs" || fake {
            continue;
        }
        let may = allowed.get(module.as_str()).unwrap_or_else(|| panic!("module {module} has no place in ALLOWED"));
        seen.insert(module.clone());
        let text = std::fs::read_to_string(&file).unwrap();
        for used in used(without_tests(&text)) {
            if used != module && !may.contains(&used.as_str()) {
                wrong.push(format!("{} uses crate::{used}", rel.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "modules that use one above them:\n{}", wrong.join("\n"));
    assert!(seen.len() >= 15, "too few modules looked at: {seen:?}");
}

#[test]
fn the_checker_sees_uses_in_every_form() {
    let text = "use crate::kernel::{Linux, OpError};\nuse crate::{apply::Printer, plan::{Op, Plan}, Result};\n\
                fn f() { crate::timing::timing(\"x\", 1, t); crate::load(p) }\n#[cfg(test)]\nmod tests {\n use crate::commands;\n}";
    let found: Vec<String> = used(without_tests(text)).into_iter().collect();
    assert_eq!(found, ["apply", "error", "kernel", "plan", "timing", "topology"]);
}
