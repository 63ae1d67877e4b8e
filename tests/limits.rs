//! Bounds on what netlab reads and echoes: a file too large, not UTF-8, with a huge value or
//! with characters a terminal acts on is refused with exit 2 and a located message that is
//! short and safe to print, and without costing memory in proportion to the mistake.
//!
//! `NETLAB_BIN=path/to/netlab cargo test --test limits` runs these against another build
//! (the one before a fix, to see them fail).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn netlab() -> String {
    std::env::var("NETLAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netlab").to_string())
}

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("limits");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `netlab validate` of a file with these bytes.
fn validate(name: &str, bytes: &[u8]) -> Output {
    let path = dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    Command::new(netlab()).arg("validate").arg(&path).current_dir(dir()).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_file_that_is_not_utf8_is_invalid_and_located() {
    let out = validate("latin1.toml", b"[lab]\nname = \"caf\xe9\"\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let path = dir().join("latin1.toml");
    let first = format!("error: {}:2:12: byte 0xe9 at offset 17 is not UTF-8", path.display());
    assert!(err.starts_with(&first), "{err}");
    assert!(err.contains("iconv -f latin1 -t utf-8"), "{err}");
}

#[test]
fn a_file_over_16_mib_is_refused_without_reading_it() {
    // Sparse: 64 GiB on disk costs nothing, but reading it would take minutes and all memory.
    let path = dir().join("huge.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(64 << 30).unwrap();
    drop(file);
    let started = std::time::Instant::now();
    let out = Command::new(netlab()).arg("validate").arg(&path).output().unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the file is 68719476736 bytes; netlab reads topology files of at most 16 MiB"), "{err}");
    assert!(started.elapsed().as_secs() < 10, "took {:?}: it read the file", started.elapsed());
}

#[test]
fn a_pipe_over_16_mib_is_refused_too() {
    // A pipe has no size to look at: the read itself stops at the bound.
    let mut child = Command::new(netlab())
        .args(["validate", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = format!("#{}\n", "x".repeat(1023));
        for _ in 0..(17 << 10) {
            if stdin.write_all(line.as_bytes()).is_err() {
                break; // netlab stopped reading, as it should
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("netlab reads topology files of at most 16 MiB"), "{err}");
}

#[test]
fn a_huge_value_is_echoed_cut_short() {
    let hostname = "a".repeat(10 << 20);
    let out = validate(
        "long-hostname.toml",
        format!("[lab]\nname = \"x\"\n[nodes.a]\nhostname = \"{hostname}_\"\n").as_bytes(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", &err[..err.len().min(2000)]);
    assert!(err.len() < 4000, "{} bytes of stderr for one problem", err.len());
    assert!(err.contains("(10485761 bytes)` is not a valid host name"), "{err}");
    assert!(err.contains(":4:12: "), "{err}");
}

#[test]
fn no_terminal_escape_reaches_stderr() {
    let cases = [
        // A raw control character in a comment is a TOML error; its line is shown.
        ("comment", "[lab]\nname = \"x\" # \u{1b}[2J\u{7}\n"),
        // Escapes in a string are the characters themselves once parsed.
        (
            "reference",
            "[lab]\nname = \"x\"\n[nodes.a]\n[[links]]\nendpoints = [\"a:e0\", \"\\u001b[2J\\u009b\\u202e:e0\"]\n",
        ),
        ("toml message", "[lab]\nname = \"x\"\n[nodes.a]\nmtu = \"\\u001b[2J\"\n"),
    ];
    for (name, file) in cases {
        let out = validate(&format!("escapes-{}.toml", name.replace(' ', "-")), file.as_bytes());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        let bad = |c: char| (c.is_control() && c != '\n') || c == '\u{202e}';
        assert!(!err.chars().any(bad), "{name}: a control character reached stderr: {err:?}");
        assert!(err.contains("\\u{1b}[2J"), "{name}: the ESC is shown escaped: {err}");
    }
}

/// Every string of every shipped topology, and every node and network name, with an ESC
/// sequence and other characters a terminal acts on added: `netlab plan` either refuses the
/// file or prints a plan, and neither stdout nor stderr holds such a character.
#[test]
fn no_terminal_escape_reaches_a_plan_or_its_errors() {
    let nasty = "\\u001b[2J\\u0007\\u009b\\u202e";
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut runs = 0;
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut variants = Vec::new();
        // Each basic string, one at a time: its content gets the sequence appended.
        let quotes: Vec<usize> = text.match_indices('"').map(|(i, _)| i).collect();
        for pair in quotes.chunks(2).filter(|p| p.len() == 2) {
            variants.push(format!("{}{nasty}{}", &text[..pair[1]], &text[pair[1]..]));
        }
        // Each bare table name, like [nodes.web] or [networks.br0].
        for (i, _) in text.match_indices("\n[nodes.").chain(text.match_indices("\n[networks.")) {
            let dot = i + text[i..].find('.').unwrap();
            let end = i + text[i..].find(']').unwrap();
            variants.push(format!("{}.\"{}{nasty}\"{}", &text[..dot], &text[dot + 1..end], &text[end..]));
        }
        for (n, variant) in variants.iter().enumerate() {
            let name = format!("nasty-{}-{n}.toml", file.file_stem().unwrap().to_string_lossy());
            let path = dir().join(&name);
            std::fs::write(&path, variant).unwrap();
            let out = Command::new(netlab()).arg("plan").arg(&path).output().unwrap();
            runs += 1;
            let all = [out.stdout, out.stderr].concat();
            let all = String::from_utf8_lossy(&all);
            if all.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}') {
                failures.push(format!("{name} (exit {:?}):\n{all}", out.status.code()));
            }
        }
    }
    assert!(runs > 50, "only {runs} variants");
    assert!(
        failures.is_empty(),
        "{} of {runs} variants printed a control character:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The bound netlab checks is the kernel's: a bridge takes 1023 ports and refuses the
/// 1024th with EXFULL (seen in a throwaway host), and `validate` accepts a network of 1023
/// nodes and refuses one of 1024.
#[test]
fn a_bridge_takes_1023_ports_and_validate_knows_it() {
    let file = |n: usize| {
        let mut text = "[lab]\nname = \"ports\"\n\n[networks.big]\nsubnet = \"10.0.0.0/21\"\n\n[nodes]\n".to_string();
        for i in 0..n {
            text.push_str(&format!("n{i}.network = \"big\"\n"));
        }
        text
    };
    assert_eq!(validate("ports-1023.toml", file(1023).as_bytes()).status.code(), Some(0));
    let out = validate("ports-1024.toml", file(1024).as_bytes());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(":4:11: network big has 1024 ports"), "{}", stderr(&out));

    if common::skip_unless_root("a_bridge_takes_1023_ports_and_validate_knows_it") {
        return;
    }
    let host = common::Throwaway::new();
    let mut batch = "link add br0 type bridge\n".to_string();
    for i in 0..1024 {
        batch.push_str(&format!("link add p{i} type veth peer name q{i}\nlink set p{i} master br0\n"));
    }
    let path = dir().join("ports.batch");
    std::fs::write(&path, batch).unwrap();
    let out = host.sh(&format!("ip -batch {} 2>&1; ip -o link show master br0 | wc -l", path.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Exchange full"), "the kernel took a 1024th port: {text}");
    assert_eq!(text.lines().last(), Some("1023"), "{text}");
}
