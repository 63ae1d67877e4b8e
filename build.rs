//! Build script: records the git commit netlab is built from, for `netlab --version`, as
//! the `NETLAB_GIT_COMMIT` environment variable of the compiler.
//!
//! From this repository's own git checkout it is HEAD's commit; from a package `cargo
//! package` made (crates.io), the one `.cargo_vcs_info.json` names; else (a tarball, no
//! git installed) "unknown". It never fails the build: a version string is not worth a
//! failed `cargo install`.
//!
//! Cargo reruns it only when HEAD moves (a checkout or a commit), not on every build:
//! it watches HEAD and the file of the branch HEAD points to, which are all a commit or a
//! checkout write.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How many hex digits of the commit to show: enough to be unique for years.
const SHORT: usize = 12;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let commit = from_git(&dir).or_else(|| from_cargo_vcs_info(&dir)).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NETLAB_GIT_COMMIT={commit}");
}

/// HEAD's commit, when `dir` is the top of a git work tree; and tells cargo what to watch.
fn from_git(dir: &Path) -> Option<String> {
    // A tarball unpacked inside some other git repository (a home directory kept in git)
    // is not built from that repository's commit.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let commit = git(dir, &["rev-parse", &format!("--short={SHORT}"), "HEAD"])?;
    // `--git-path` finds the files in a linked worktree too (HEAD in the worktree's own
    // git directory, branches in the common one).
    let git_path = |name: &str| git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p));
    if let Some(head) = git_path("HEAD") {
        watch(&head);
    }
    // On a branch (not a detached HEAD), a commit changes the branch's file, not HEAD.
    if let Some(loose) = git(dir, &["symbolic-ref", "-q", "HEAD"]).and_then(|branch| git_path(&branch)) {
        if loose.exists() {
            watch(&loose);
        } else {
            // A packed branch: a commit writes a loose file for it, in its folder.
            // (Watching a file that does not exist would rerun this on every build.)
            if let Some(packed) = git_path("packed-refs").filter(|p| p.exists()) {
                watch(&packed);
            }
            if let Some(folder) = loose.ancestors().skip(1).find(|p| p.exists()) {
                watch(folder);
            }
        }
    }
    Some(commit)
}

/// The commit `cargo package` recorded in `.cargo_vcs_info.json`:
/// `{"git": {"sha1": "<40 hex digits>"}, ...}`.
fn from_cargo_vcs_info(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let value = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let sha1 = &value[..value.find('"')?];
    (sha1.len() >= SHORT && sha1.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha1[..SHORT].to_string())
}

/// `git -C dir ARGS`'s output, trimmed; `None` when git is missing, fails or says nothing.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}
