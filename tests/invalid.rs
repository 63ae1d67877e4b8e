//! The corpus of invalid topologies in `tests/invalid/`: each file holds one mistake (a few
//! hold several, to show that every problem is reported in one run) and says in its leading
//! comment lines what `netlab validate` must print:
//!
//! ```text
//! # expect: 7:15: unknown node `ns3`
//! # expect-help: did you mean `ns1`?
//! ```
//!
//! One `# expect:` line per problem: the 1-based line and column the problem points at
//! (counting these comment lines too) and a substring of its message. `# expect-help:` is a
//! text that must appear in the rendering. Every file is checked and all failures are
//! reported together, so one run shows everything a change broke.

use std::path::{Path, PathBuf};

/// What one corpus file says `netlab validate` must report.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    /// (line, column, message substring), in file order.
    errors: Vec<(usize, usize, String)>,
    helps: Vec<String>,
}

/// Reads the `# expect:` / `# expect-help:` lines of the leading comment block.
fn parse_expected(text: &str) -> Result<Expected, String> {
    let mut expected = Expected { errors: Vec::new(), helps: Vec::new() };
    let mut in_header = true;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        in_header &= line.starts_with('#');
        let directive = line
            .strip_prefix("# expect:")
            .map(|r| (false, r))
            .or_else(|| line.strip_prefix("# expect-help:").map(|r| (true, r)));
        let Some((is_help, rest)) = directive else { continue };
        // An expectation further down would be silently ignored by a looser reader.
        if !in_header {
            return Err(format!("line {n}: expectations belong in the leading comment lines"));
        }
        let rest = rest.trim();
        if is_help {
            if rest.is_empty() {
                return Err(format!("line {n}: `# expect-help:` without a text"));
            }
            expected.helps.push(rest.to_string());
            continue;
        }
        let parsed = rest.split_once(": ").and_then(|(at, message)| {
            let (line, col) = at.split_once(':')?;
            Some((line.parse().ok()?, col.parse().ok()?, message.trim().to_string()))
        });
        match parsed {
            Some((line, col, message)) if line > 0 && col > 0 && !message.is_empty() => {
                expected.errors.push((line, col, message))
            }
            _ => return Err(format!("line {n}: expected `# expect: LINE:COL: MESSAGE`, found {line:?}")),
        }
    }
    if expected.errors.is_empty() {
        return Err("no `# expect:` line: a file must say which problem it holds".into());
    }
    Ok(expected)
}

/// Whitespace runs as one space: miette wraps long help lines at its width.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `netlab validate` on one file (`rel`, relative to the repository) and returns what
/// is wrong with its output; empty when it matches the file's expectations.
fn check(root: &Path, rel: &str) -> Vec<String> {
    // Lossy: a corpus file may hold bytes that are not UTF-8 on purpose (not-utf8.toml).
    let text = match std::fs::read(root.join(rel)) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return vec![format!("cannot read: {e}")],
    };
    let expected = match parse_expected(&text) {
        Ok(e) => e,
        Err(e) => return vec![e],
    };
    let out = assert_cmd::Command::cargo_bin("netlab")
        .expect("the netlab binary is built")
        .current_dir(root)
        .args(["validate", rel])
        .output()
        .expect("netlab runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut failures = Vec::new();
    if out.status.code() != Some(2) {
        failures.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    if !out.stdout.is_empty() {
        failures.push(format!("stdout is not empty: {:?}", String::from_utf8_lossy(&out.stdout)));
    }

    // `error: PATH:LINE:COL: MESSAGE`, one per problem.
    let prefix = format!("error: {rel}:");
    let mut reported: Vec<(usize, usize, &str)> = Vec::new();
    for line in stderr.lines().filter(|l| l.starts_with("error:")) {
        let parsed = line.strip_prefix(&prefix).and_then(|rest| {
            let (l, rest) = rest.split_once(':')?;
            let (c, message) = rest.split_once(": ")?;
            Some((l.parse().ok()?, c.parse().ok()?, message))
        });
        match parsed {
            Some(p) => reported.push(p),
            None => failures.push(format!("error line not of the form `{prefix}LINE:COL: MESSAGE`: {line}")),
        }
    }
    let mut used = vec![false; reported.len()];
    for (line, col, message) in &expected.errors {
        let found = reported
            .iter()
            .enumerate()
            .position(|(i, (l, c, m))| !used[i] && l == line && c == col && m.contains(message.as_str()));
        match found {
            Some(i) => used[i] = true,
            None => failures.push(format!("no error at {line}:{col} containing {message:?}")),
        }
    }
    if reported.len() != expected.errors.len() {
        failures.push(format!("{} error lines for {} `# expect:` lines", reported.len(), expected.errors.len()));
    }
    let squashed = squash(&stderr);
    for help in &expected.helps {
        if !squashed.contains(&squash(help)) {
            failures.push(format!("no help {help:?}"));
        }
    }
    let n = expected.errors.len();
    let summary = format!("{rel}: {n} problem{}; nothing was changed", if n == 1 { "" } else { "s" });
    if stderr.lines().last() != Some(summary.as_str()) {
        failures.push(format!("stderr does not end with the line {summary:?}"));
    }
    if !failures.is_empty() {
        // The actual output, so the fix (of the file or of netlab) is plain to see.
        failures.push(format!("stderr was:\n{stderr}"));
    }
    failures
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus files, relative to the repository, sorted.
fn corpus() -> Vec<String> {
    let dir = root().join("tests/invalid");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/invalid/ exists")
        .map(|e| e.expect("readable dir entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .map(|name| format!("tests/invalid/{name}"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_topology_reports_exactly_its_expected_problems() {
    let files = corpus();
    assert!(files.len() >= 30, "the corpus has {} files; it should have at least 30", files.len());
    let root = root();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|rel| {
            let f = check(&root, rel);
            (!f.is_empty()).then(|| format!("{rel}:\n  {}", f.join("\n  ")))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} files failed:\n\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

/// The checker itself must be able to fail: a file without expectations, a wrong column, a
/// missing problem and a wrong help are each caught.
#[test]
fn the_checker_rejects_wrong_expectations() {
    assert!(parse_expected("[lab]\nname = \"x\"\n").is_err(), "a file without `# expect:` passes");
    assert!(parse_expected("# expect: 5: no column\n").is_err());
    assert!(parse_expected("# expect: 1:1: x\n[lab]\n# expect: 3:1: late\n").is_err());
    assert_eq!(
        parse_expected("# expect: 7:15: unknown node `ns3`\n# expect-help: did you mean `ns1`?\n"),
        Ok(Expected { errors: vec![(7, 15, "unknown node `ns3`".into())], helps: vec!["did you mean `ns1`?".into()] })
    );

    // Real runs of netlab on altered copies of a corpus file.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("invalid-checker");
    std::fs::create_dir_all(&dir).unwrap();
    let body = "\n[lab]\nname = \"ref\"\n\n[nodes.ns1]\n[nodes.ns2]\n\n[[links]]\nendpoints = [\"ns3:veth0\", \"ns2:veth0\"]\n";
    let cases = [
        ("right", "# expect: 11:15: unknown node `ns3`\n# expect-help: did you mean `ns1`?\n", true),
        ("none", "# nothing expected\n", false),
        ("column", "# expect: 11:14: unknown node `ns3`\n", false),
        ("message", "# expect: 11:15: unknown network\n", false),
        ("extra", "# expect: 11:15: unknown node `ns3`\n# expect: 11:15: unknown node `ns3`\n", false),
        ("help", "# expect: 11:15: unknown node `ns3`\n# expect-help: did you mean `ns2`?\n", false),
    ];
    for (name, header, ok) in cases {
        // Each header is two lines, so the body's line numbers are the same in every case.
        let header = if header.lines().count() == 1 { format!("{header}#\n") } else { header.to_string() };
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, format!("{header}{body}")).unwrap();
        let failures = check(&dir, &format!("{name}.toml"));
        assert_eq!(failures.is_empty(), ok, "case {name}: {failures:#?}");
    }
}
