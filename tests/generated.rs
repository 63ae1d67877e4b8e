//! The checked-in shell completions and man pages must equal what the current CLI
//! generates, so they never drift from the parser. To regenerate after changing the CLI:
//! `NETLAB_BLESS=1 cargo test --test generated`.

use std::path::{Path, PathBuf};

use clap_complete::Shell;
use netlab::cli::public_command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every generated file, by path relative to the repository, with its fresh contents.
fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for (shell, name) in [
        (Shell::Bash, "netlab.bash"),
        (Shell::Zsh, "_netlab"),
        (Shell::Fish, "netlab.fish"),
        (Shell::Elvish, "netlab.elv"),
        (Shell::PowerShell, "_netlab.ps1"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut public_command(), "netlab", &mut out);
        files.push((Path::new("completions").join(name), out));
    }
    let command = public_command();
    let mut man = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut man).expect("render man page");
    files.push((PathBuf::from("man/netlab.1"), man));
    for sub in command.get_subcommands() {
        let name = format!("netlab-{}", sub.get_name());
        let sub = sub.clone().name(&*Box::leak(name.clone().into_boxed_str()));
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page).expect("render man page");
        files.push((Path::new("man").join(format!("{name}.1")), page));
    }
    files
}

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let bless = std::env::var_os("NETLAB_BLESS").is_some();
    let mut stale = Vec::new();
    for (path, fresh) in generated() {
        let full = root().join(&path);
        if bless {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &fresh).unwrap();
        } else if std::fs::read(&full).ok().as_deref() != Some(fresh.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "out of date: {stale:?}; run `NETLAB_BLESS=1 cargo test --test generated` and commit");
}

/// The files a user installs from the repository are what the binary prints, too.
#[test]
fn the_completions_command_prints_the_checked_in_script() {
    let out = assert_cmd::Command::cargo_bin("netlab").unwrap().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let checked_in = std::fs::read(root().join("completions/netlab.bash")).unwrap();
    assert_eq!(out.stdout, checked_in);
}

/// Hidden subcommands (`forward`, which `netlab up` runs) stay out of completions and man
/// pages, though the parser knows them.
#[test]
fn hidden_subcommands_are_not_offered() {
    use clap::CommandFactory;
    let full = netlab::cli::Cli::command();
    let hidden: Vec<&str> = full.get_subcommands().filter(|s| s.is_hide_set()).map(|s| s.get_name()).collect();
    assert!(hidden.contains(&"forward"), "{hidden:?}");
    for (path, contents) in generated() {
        let text = String::from_utf8_lossy(&contents);
        // As a word between any punctuation: `netlab,forward` (bash), `'forward'`
        // (PowerShell), `netlab\-forward(1)` (roff).
        for name in &hidden {
            let named = text.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == *name);
            assert!(!named, "{name} in {}", path.display());
        }
    }
}
