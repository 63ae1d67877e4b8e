//! Property test: mutated versions of the shipped topologies never make netlab panic.
//! Whatever the mutation, loading either succeeds (and then every renderer works) or
//! fails with located problems; through the CLI the exit code is 0 or 2, never anything else.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use netlab::plan::{self, compile};

/// xorshift64*: deterministic, so a failure reproduces from the printed case number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NOISE: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    ".",
    ":",
    "/",
    "\n",
    "\"",
    "#",
    "0",
    "1",
    "255",
    "99999999999",
    "-1",
    "host",
    "none",
    "container:",
    "/33",
    "::",
    "default",
    "ns1",
    "eth0",
    "..",
    "é",
    "\t",
    "[[links]]\n",
    "[nodes.x]\n",
    "true",
];

/// One random edit of the text, on char boundaries.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let chars: Vec<char> = text.chars().collect();
    let lines: Vec<&str> = text.lines().collect();
    let at = rng.below(chars.len());
    match rng.below(6) {
        0 => {
            let len = 1 + rng.below(6);
            chars[..at].iter().chain(chars[(at + len).min(chars.len())..].iter()).collect()
        }
        1 => {
            let noise = NOISE[rng.below(NOISE.len())];
            chars[..at].iter().collect::<String>() + noise + &chars[at..].iter().collect::<String>()
        }
        2 => {
            let mut l = lines.clone();
            let i = rng.below(l.len());
            l.insert(i, lines[i]);
            l.join("\n")
        }
        3 => {
            let mut l = lines.clone();
            l.remove(rng.below(l.len()));
            l.join("\n")
        }
        4 => {
            let mut l = lines.clone();
            let (i, j) = (rng.below(l.len()), rng.below(l.len()));
            l.swap(i, j);
            l.join("\n")
        }
        _ => {
            // Replace one digit run with another number, to reach the range checks.
            let digits: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                return text.to_string();
            }
            let start = digits[rng.below(digits.len())];
            let end = (start..chars.len()).find(|&i| !chars[i].is_ascii_digit()).unwrap_or(chars.len());
            let number = ["0", "1", "15", "31", "32", "65536", "16777216", "300", "4294967296"][rng.below(9)];
            chars[..start].iter().collect::<String>() + number + &chars[end..].iter().collect::<String>()
        }
    }
}

fn shipped() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// Everything a valid topology goes through, so a panic anywhere downstream is caught.
fn exercise(path: &str, text: &str) -> bool {
    match netlab::load_str(path, text) {
        Ok(t) => {
            let up = compile(&t);
            let down = up.teardown();
            for p in [&up, &down] {
                let _ = plan::text::render(p);
                let _ = plan::ip::render(p);
                let _ = serde_json::to_string(p).unwrap();
            }
            let _ = netlab::graph::dot(&t);
            let _ = netlab::graph::mermaid(&t);
            true
        }
        Err(invalid) => {
            assert!(!invalid.problems.is_empty(), "an invalid file reports at least one problem");
            let rendered = invalid.render();
            assert!(rendered.contains("error: "), "{rendered}");
            false
        }
    }
}

#[test]
fn mutated_topologies_never_panic() {
    let mut rng = Rng(0x5eed_f00d_cafe_0001);
    let (mut valid, mut invalid) = (0, 0);
    for (path, text) in shipped() {
        for case in 0..1500 {
            let mut mutant = text.clone();
            for _ in 0..=rng.below(3) {
                mutant = mutate(&mutant, &mut rng);
            }
            match catch_unwind(AssertUnwindSafe(|| exercise(&path, &mutant))) {
                Ok(true) => valid += 1,
                Ok(false) => invalid += 1,
                Err(_) => panic!("case {case} of {path} panicked on this input:\n{mutant}"),
            }
        }
    }
    // Both outcomes must actually be reached, or the mutations are not testing much.
    assert!(valid > 100 && invalid > 1000, "valid {valid}, invalid {invalid}");
}

#[test]
fn the_cli_exits_0_or_2_on_mutated_files() {
    let mut rng = Rng(42);
    let dir = std::env::temp_dir().join(format!("netlab-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (path, text) in shipped() {
        for case in 0..8 {
            let mutant = mutate(&mutate(&text, &mut rng), &mut rng);
            let file = dir.join(format!("case{case}.toml"));
            std::fs::write(&file, &mutant).unwrap();
            for args in [&["validate"][..], &["plan", "--format", "json"], &["graph", "--format", "mermaid"]] {
                let out = assert_cmd::Command::cargo_bin("netlab").unwrap().args(args).arg(&file).output().unwrap();
                let code = out.status.code();
                assert!(matches!(code, Some(0) | Some(2)), "{args:?} on a mutant of {path} exited {code:?}:\n{mutant}");
                if code == Some(2) {
                    assert!(out.stdout.is_empty(), "nothing on stdout for an invalid file");
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
