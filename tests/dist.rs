//! netlab as users install it: `netlab --version`, the build script behind it, the static
//! binary `dist/build.sh` makes and the Debian package `dist/deb.sh` makes from it.
//!
//! The artefacts take a release build (about two minutes on two cores), too slow for
//! every `cargo test`: `.ci/run` builds them once, before the tests, and sets
//! NETLAB_DIST_DIR to their folder; the tests here then check them, and fail when one is
//! missing. Without NETLAB_DIST_DIR those tests say they are skipped (in CI, where a skip
//! would hide a failure, they fail). By hand:
//!
//! ```sh
//! dist/build.sh && dist/deb.sh && NETLAB_DIST_DIR=target/dist cargo test --test dist
//! ```
//!
//! The package is installed only into a throwaway root (`dpkg --root`, its own database),
//! never into the machine running the tests.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NETLAB: &str = env!("CARGO_BIN_EXE_netlab");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder of built artefacts, or `None` (with a message) when the test is to be skipped.
fn dist_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("NETLAB_DIST_DIR") {
        Some(dir) => Some(root().join(dir)),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: CI must test the artefacts: run dist/build.sh and dist/deb.sh, set NETLAB_DIST_DIR")
        }
        None => {
            eprintln!("skipping {test}: set NETLAB_DIST_DIR after dist/build.sh and dist/deb.sh to test the artefacts");
            None
        }
    }
}

/// The one file in `dir` whose name starts with `prefix` and ends with `suffix`.
fn artefact(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix) && !name.ends_with(".sha256")
        })
        .collect();
    assert_eq!(found.len(), 1, "one {prefix}*{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

fn run<I, S>(program: impl AsRef<OsStr>, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = program.as_ref();
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{}: {e}", program.to_string_lossy()))
}

/// Stdout of a command that must succeed.
fn stdout(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// PATH with the sbin folders, where chroot and the programs dpkg wants (ldconfig,
/// start-stop-daemon) are: a user's PATH often lacks them.
fn path_with_sbin() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/sbin:/usr/sbin:/sbin")
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

/// A folder removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        // Tests run in parallel threads of one process: the pid alone is not unique.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("netlab-dist-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shipped topologies.
fn topologies() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(root().join("topologies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some(OsStr::new("toml")))
        .collect();
    all.sort();
    assert!(!all.is_empty());
    all
}

/// What the netlab under test (this build's) prints as the plan of `topology`.
fn plan_of(topology: &Path) -> String {
    stdout(run(NETLAB, [OsStr::new("plan"), topology.as_os_str()]), "netlab plan")
}

// ---------------------------------------------------------------------------------------
// --version and the build script

/// The commit this build was made from, as the build script found it.
const COMMIT: &str = env!("NETLAB_GIT_COMMIT");

/// HEAD of the repository the tests run in, as `git` says; `None` outside a git checkout.
fn git_head(dir: &Path) -> Option<String> {
    let top = run("git", [OsStr::new("-C"), dir.as_os_str(), OsStr::new("rev-parse"), OsStr::new("--show-toplevel")]);
    let top = String::from_utf8(top.stdout).ok()?;
    if Path::new(top.trim()).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let head = run(
        "git",
        [OsStr::new("-C"), dir.as_os_str(), OsStr::new("rev-parse"), OsStr::new("--short=12"), OsStr::new("HEAD")],
    );
    head.status.success().then(|| String::from_utf8(head.stdout).unwrap().trim().to_string())
}

#[test]
fn version_names_the_commit_and_short_version_does_not() {
    let long = stdout(run(NETLAB, ["--version"]), "netlab --version");
    assert_eq!(long, format!("netlab {VERSION} (commit {COMMIT})\n"));
    assert_eq!(stdout(run(NETLAB, ["-V"]), "netlab -V"), format!("netlab {VERSION}\n"));
    match git_head(&root()) {
        Some(head) => assert_eq!(COMMIT, head, "built from HEAD"),
        None => assert_eq!(COMMIT, "unknown", "built outside git"),
    }
}

/// The man pages and completions come from `public_command`: were its long version (the
/// commit) in them, they would be stale after every commit.
#[test]
fn man_pages_and_completions_carry_the_version_alone() {
    let public = netlab::cli::public_command();
    assert_eq!(public.get_long_version(), None);
    assert_eq!(public.get_version(), Some(VERSION));
    for dir in ["man", "completions"] {
        for file in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("(commit "), "{} names a commit", path.display());
        }
    }
}

/// build.rs, compiled on its own and run as cargo runs it, in the places a build happens.
struct BuildScript {
    exe: PathBuf,
    _dir: Scratch,
}

impl BuildScript {
    fn compile() -> BuildScript {
        let dir = Scratch::new("build-script");
        let exe = dir.0.join("build-script");
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(rustc)
            .args(["--edition", "2021", "--crate-name", "build_script_build"])
            .arg(root().join("build.rs"))
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("rustc runs");
        assert!(out.status.success(), "build.rs compiles: {}", String::from_utf8_lossy(&out.stderr));
        BuildScript { exe, _dir: dir }
    }

    /// The commit it reports for a build in `dir`, and the files it tells cargo to watch.
    fn run_in(&self, dir: &Path, path_env: Option<&OsStr>) -> (String, Vec<PathBuf>) {
        let mut command = Command::new(&self.exe);
        command.env("CARGO_MANIFEST_DIR", dir).current_dir(dir);
        if let Some(path) = path_env {
            command.env("PATH", path);
        }
        let out = stdout(command.output().unwrap(), "build script");
        let commit = out
            .lines()
            .find_map(|l| l.strip_prefix("cargo:rustc-env=NETLAB_GIT_COMMIT="))
            .unwrap_or_else(|| panic!("no NETLAB_GIT_COMMIT in {out}"))
            .to_string();
        let watched =
            out.lines().filter_map(|l| l.strip_prefix("cargo:rerun-if-changed=")).map(PathBuf::from).collect();
        (commit, watched)
    }
}

#[test]
fn build_script_finds_the_commit_in_git_and_watches_only_what_a_commit_changes() {
    let Some(head) = git_head(&root()) else {
        eprintln!("skipping: the tests do not run in a git checkout");
        return;
    };
    let script = BuildScript::compile();
    let (commit, watched) = script.run_in(&root(), None);
    assert_eq!(commit, head);
    // HEAD and the branch's file; each must exist, or cargo would rerun it on every build.
    assert!(watched.iter().any(|p| p.ends_with("HEAD")), "{watched:?}");
    for path in &watched {
        assert!(root().join(path).exists(), "watches {}, which does not exist", path.display());
    }
    assert!(watched.len() <= 4, "watches no more than build.rs, HEAD and the branch: {watched:?}");
}

#[test]
fn build_script_says_unknown_outside_this_repository_and_never_fails() {
    let script = BuildScript::compile();

    // A source tarball: no git at all.
    let tarball = Scratch::new("tarball");
    assert_eq!(script.run_in(&tarball.0, None).0, "unknown");

    // A tarball unpacked inside someone's own git repository is not built from its commit.
    let home = Scratch::new("home-in-git");
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(&home.0).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "-c",
        "commit.gpgsign=false",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "home",
    ]);
    let unpacked = home.0.join("netlab-0.1.0");
    std::fs::create_dir(&unpacked).unwrap();
    assert_eq!(script.run_in(&unpacked, None).0, "unknown");

    // A crate from crates.io: `cargo package` recorded the commit.
    let sha1 = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(
        unpacked.join(".cargo_vcs_info.json"),
        format!("{{\n  \"git\": {{\n    \"sha1\": \"{sha1}\"\n  }},\n  \"path_in_vcs\": \"\"\n}}\n"),
    )
    .unwrap();
    assert_eq!(script.run_in(&unpacked, None).0, sha1[..12]);

    // No git installed: this very checkout gives "unknown", and the build goes on.
    let empty = Scratch::new("no-git-path");
    assert_eq!(script.run_in(&root(), Some(empty.0.as_os_str())).0, "unknown");
}

// ---------------------------------------------------------------------------------------
// The static binary

/// How an ELF file is loaded and whether it is stripped: a program interpreter
/// (PT_INTERP) and shared libraries (DT_NEEDED) make it dynamic; a symbol table section
/// (SHT_SYMTAB) means it is not stripped. Both classes and byte orders, so the check is
/// not x86_64's alone.
#[derive(Debug)]
struct Elf {
    interpreter: bool,
    needed: usize,
    symtab: bool,
}

fn read_elf(bytes: &[u8]) -> Elf {
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF file");
    let wide = match bytes[4] {
        1 => false,
        2 => true,
        class => panic!("ELF class {class}"),
    };
    let big = bytes[5] == 2;
    let uint = |at: u64, size: u64| -> u64 {
        let field = &bytes[at as usize..(at + size) as usize];
        let fold = |n: u64, b: &u8| n << 8 | u64::from(*b);
        if big {
            field.iter().fold(0, fold)
        } else {
            field.iter().rev().fold(0, fold)
        }
    };
    let word = if wide { 8 } else { 4 };
    let (phoff, phentsize, phnum) = if wide {
        (uint(0x20, 8), uint(0x36, 2), uint(0x38, 2))
    } else {
        (uint(0x1c, 4), uint(0x2a, 2), uint(0x2c, 2))
    };
    let (shoff, shentsize, shnum) = if wide {
        (uint(0x28, 8), uint(0x3a, 2), uint(0x3c, 2))
    } else {
        (uint(0x20, 4), uint(0x2e, 2), uint(0x30, 2))
    };
    const PT_DYNAMIC: u64 = 2;
    const PT_INTERP: u64 = 3;
    const DT_NULL: u64 = 0;
    const DT_NEEDED: u64 = 1;
    const SHT_SYMTAB: u64 = 2;
    let mut elf = Elf { interpreter: false, needed: 0, symtab: false };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (offset, filesz) =
            if wide { (uint(ph + 8, 8), uint(ph + 0x20, 8)) } else { (uint(ph + 4, 4), uint(ph + 0x10, 4)) };
        match uint(ph, 4) {
            PT_INTERP => elf.interpreter = true,
            PT_DYNAMIC => {
                for entry in (offset..offset + filesz).step_by(2 * word as usize) {
                    match uint(entry, word) {
                        DT_NULL => break,
                        DT_NEEDED => elf.needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    elf.symtab = (0..shnum).any(|i| uint(shoff + i * shentsize + 4, 4) == SHT_SYMTAB);
    elf
}

/// The reader can say "dynamic" and "not stripped": the netlab built for the tests is both.
#[test]
fn the_elf_reader_sees_a_dynamic_unstripped_binary() {
    let elf = read_elf(&std::fs::read(NETLAB).unwrap());
    assert!(elf.interpreter && elf.needed > 0 && elf.symtab, "{NETLAB}: {elf:?}");
}

fn static_binary(test: &str) -> Option<PathBuf> {
    let dir = dist_dir(test)?;
    Some(artefact(&dir, &format!("netlab-{VERSION}-"), ""))
}

#[test]
fn static_binary_is_static_stripped_and_checksummed() {
    let Some(binary) = static_binary("static_binary_is_static_stripped_and_checksummed") else { return };
    let bytes = std::fs::read(&binary).unwrap();
    let elf = read_elf(&bytes);
    assert!(!elf.interpreter, "{}: has a program interpreter", binary.display());
    assert_eq!(elf.needed, 0, "{}: needs shared libraries", binary.display());
    assert!(!elf.symtab, "{}: not stripped", binary.display());
    assert_checksum(&binary);
    eprintln!("{}: {} bytes", binary.display(), bytes.len());
}

#[test]
fn static_binary_says_its_version_and_plans_every_shipped_topology() {
    let Some(binary) = static_binary("static_binary_says_its_version_and_plans_every_shipped_topology") else {
        return;
    };
    // Built from this very tree: the same commit, the same plans.
    assert_eq!(stdout(run(&binary, ["--version"]), "--version"), stdout(run(NETLAB, ["--version"]), "--version"));
    for topology in topologies() {
        let plan = stdout(run(&binary, [OsStr::new("plan"), topology.as_os_str()]), "static netlab plan");
        assert_eq!(plan, plan_of(&topology), "{}", topology.display());
    }
}

/// A root holding nothing but the binary and a topology: no C library, no loader, no
/// iproute2, no /proc. It still runs.
#[test]
fn static_binary_runs_in_an_empty_root() {
    let Some(binary) = static_binary("static_binary_runs_in_an_empty_root") else { return };
    let empty = Scratch::new("empty-root");
    std::fs::copy(&binary, empty.0.join("netlab")).unwrap();
    let topology = root().join("topologies/veth-pair.toml");
    std::fs::copy(&topology, empty.0.join("lab.toml")).unwrap();
    // chroot needs CAP_SYS_CHROOT: root has it, anyone has it in a user namespace of their own.
    let is_root = stdout(run("id", ["-u"]), "id") == "0\n";
    let in_root = |args: &[&str]| {
        let mut command = if is_root { Command::new("chroot") } else { Command::new("unshare") };
        if !is_root {
            command.args(["--user", "--map-root-user", "chroot"]);
        }
        command.arg(&empty.0).arg("/netlab").args(args).env("PATH", path_with_sbin()).output().unwrap()
    };
    assert_eq!(
        stdout(in_root(&["--version"]), "--version in an empty root"),
        format!("netlab {VERSION} (commit {COMMIT})\n")
    );
    assert_eq!(stdout(in_root(&["plan", "/lab.toml"]), "plan in an empty root"), plan_of(&topology));
}

// ---------------------------------------------------------------------------------------
// The Debian package

/// A root for dpkg with a database of its own, so nothing touches this machine's dpkg.
struct DpkgRoot {
    dir: Scratch,
}

impl DpkgRoot {
    fn new() -> DpkgRoot {
        let dir = Scratch::new("dpkg-root");
        for sub in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
            std::fs::create_dir_all(dir.0.join(sub)).unwrap();
        }
        std::fs::write(dir.0.join("var/lib/dpkg/status"), "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        DpkgRoot { dir }
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.dir.0.join(inside.trim_start_matches('/'))
    }

    /// `dpkg ARGS` on this root: `--root` gives it the root's own database; the log goes
    /// there too. The maintainer scripts run without chroot (this root has no shell) and
    /// find the root in DPKG_ROOT; they only read. Path filters of this machine's dpkg
    /// configuration (some images leave out man pages) are undone.
    fn dpkg(&self, args: &[&OsStr]) -> Output {
        let root = self.dir.0.as_os_str();
        let mut command = Command::new("dpkg");
        command
            .arg(format!("--root={}", root.to_str().unwrap()))
            .arg(format!("--log={}", self.path("var/log/dpkg.log").display()))
            .args(["--force-script-chrootless", "--force-not-root", "--path-include=*"])
            .args(args)
            .env("PATH", path_with_sbin());
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "dpkg {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every path under the root, relative to it.
    fn tree(&self) -> BTreeSet<PathBuf> {
        fn walk(dir: &Path, base: &Path, into: &mut BTreeSet<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                into.insert(path.strip_prefix(base).unwrap().to_path_buf());
                if path.is_dir() && !path.is_symlink() {
                    walk(&path, base, into);
                }
            }
        }
        let mut all = BTreeSet::new();
        walk(&self.dir.0, &self.dir.0, &mut all);
        all
    }
}

/// The regular files in the package, by path (`usr/bin/netlab`).
fn package_files(deb: &Path) -> BTreeSet<String> {
    let listing = stdout(run("dpkg-deb", [OsStr::new("--contents"), deb.as_os_str()]), "dpkg-deb --contents");
    listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| l.split_whitespace().last().unwrap().trim_start_matches("./").to_string())
        .collect()
}

/// What the package must hold: whatever man/, completions/ and topologies/ hold now.
fn expected_files() -> BTreeSet<String> {
    let names = |dir: &str, ext: &str| -> Vec<String> {
        std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(ext))
            .collect()
    };
    let mut files: BTreeSet<String> = [
        "usr/bin/netlab",
        "usr/share/bash-completion/completions/netlab",
        "usr/share/zsh/vendor-completions/_netlab",
        "usr/share/fish/vendor_completions.d/netlab.fish",
        "usr/share/doc/netlab/copyright",
        "usr/share/doc/netlab/changelog.gz",
        "usr/share/doc/netlab/README.md.gz",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    files.extend(names("man", ".1").into_iter().map(|page| format!("usr/share/man/man1/{page}.gz")));
    files.extend(names("topologies", ".toml").into_iter().map(|t| format!("usr/share/doc/netlab/examples/{t}")));
    files
}

fn gunzip(path: &Path) -> Vec<u8> {
    let out = run("gzip", [OsStr::new("-dc"), path.as_os_str()]);
    assert!(out.status.success(), "gzip -dc {}", path.display());
    out.stdout
}

/// The subcommands a user is offered: the visible ones.
fn subcommands() -> Vec<String> {
    netlab::cli::public_command().get_subcommands().map(|s| s.get_name().to_string()).collect()
}

/// What bash offers after `netlab CUR`, from the completion function `setup` registers,
/// and the file that function came from.
fn bash_complete(setup: &str, cur: &str, env: &[(&str, &OsStr)]) -> (Vec<String>, String) {
    let script = format!(
        r#"{setup}
spec=$(complete -p netlab) || {{ echo "no completion for netlab" >&2; exit 3; }}
fn=${{spec##* -F }}; fn=${{fn%% *}}
shopt -s extdebug; declare -F "$fn"; shopt -u extdebug
COMP_WORDS=(netlab "$1"); COMP_CWORD=1; COMP_LINE="netlab $1"; COMP_POINT=${{#COMP_LINE}}
"$fn" netlab "$1" netlab
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    let mut command = Command::new("bash");
    command.args(["--norc", "--noprofile", "-c", &script, "bash", cur]);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = stdout(command.output().unwrap(), "bash completion");
    // `declare -F` under extdebug says `NAME LINE FILE`.
    let mut lines = out.lines();
    let from = lines.next().unwrap_or_default().splitn(3, ' ').nth(2).unwrap_or_default().to_string();
    (lines.map(String::from).collect(), from)
}

/// `sha256sum --check` of `file`'s `.sha256` beside it.
fn assert_checksum(file: &Path) {
    let name = file.file_name().unwrap().to_str().unwrap();
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", &format!("{name}.sha256")])
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

/// Whether a check that needs `tool` can run: outside CI a missing tool skips it, with a
/// message; in CI (.ci/run installs them all) it fails.
fn can_check_with(tool: &str, present: bool, test: &str) -> bool {
    if !present && std::env::var_os("CI").is_some() {
        panic!("{test}: CI must have {tool}");
    }
    if !present {
        eprintln!("{test}: no {tool} here, so not checked with it");
    }
    present
}

/// The man pages in man/, by name (`netlab-up`).
fn man_pages() -> Vec<String> {
    std::fs::read_dir(root().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".1").map(String::from))
        .collect()
}

/// The installed files are the artefact binary and the repository's files, byte for byte.
fn assert_installed_files(at: &dyn Fn(&str) -> PathBuf, binary: &Path) {
    assert_eq!(std::fs::read(at("usr/bin/netlab")).unwrap(), std::fs::read(binary).unwrap());
    for (installed, source) in [
        ("usr/share/bash-completion/completions/netlab", "completions/netlab.bash"),
        ("usr/share/zsh/vendor-completions/_netlab", "completions/_netlab"),
        ("usr/share/fish/vendor_completions.d/netlab.fish", "completions/netlab.fish"),
    ] {
        assert_eq!(std::fs::read(at(installed)).unwrap(), std::fs::read(root().join(source)).unwrap(), "{installed}");
    }
    for page in man_pages() {
        let gz = at(&format!("usr/share/man/man1/{page}.1.gz"));
        assert_eq!(gunzip(&gz), std::fs::read(root().join(format!("man/{page}.1"))).unwrap(), "{page}");
    }
}

/// man finds every page: given the man directory, and from PATH alone (man-db looks in
/// ../share/man of each PATH directory), as after a real install; and shows it.
fn assert_man_finds_the_pages(at: &dyn Fn(&str) -> PathBuf) {
    let man_dir = at("usr/share/man");
    for page in man_pages() {
        let found =
            stdout(run("man", [OsStr::new("-M"), man_dir.as_os_str(), OsStr::new("-w"), OsStr::new(&page)]), "man -w");
        assert_eq!(found.trim(), at(&format!("usr/share/man/man1/{page}.1.gz")).to_str().unwrap());
    }
    let path = format!("{}:{}", at("usr/bin").display(), std::env::var("PATH").unwrap_or_default());
    let found = Command::new("man").args(["-w", "netlab"]).env("PATH", path).env_remove("MANPATH").output().unwrap();
    assert_eq!(stdout(found, "man -w netlab").trim(), at("usr/share/man/man1/netlab.1.gz").to_str().unwrap());
    let shown = Command::new("man").arg("-M").arg(&man_dir).args(["-P", "cat", "netlab-plan"]).output().unwrap();
    assert!(stdout(shown, "man netlab-plan").contains("netlab-plan"));
}

/// What dpkg printed, the maintainer scripts' folded `netlab: ` lines joined into one.
fn printed(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().map(|l| l.strip_prefix("netlab: ").unwrap_or(l)).collect::<Vec<_>>().join(" ")
}

#[test]
fn debian_package_installs_where_tools_look_and_removes_every_file() {
    let test = "debian_package_installs_where_tools_look_and_removes_every_file";
    let Some(dist) = dist_dir(test) else { return };
    let deb = artefact(&dist, &format!("netlab_{VERSION}_"), ".deb");
    let binary = artefact(&dist, &format!("netlab-{VERSION}-"), "");
    eprintln!("{}: {} bytes", deb.display(), std::fs::metadata(&deb).unwrap().len());
    assert_checksum(&deb);

    // What is in it follows man/, completions/ and topologies/, nothing more or less.
    let (packed, expected) = (package_files(&deb), expected_files());
    let missing: Vec<_> = expected.difference(&packed).collect();
    let extra: Vec<_> = packed.difference(&expected).collect();
    assert!(missing.is_empty() && extra.is_empty(), "the package lacks {missing:?} and has {extra:?} besides");

    let dpkg_root = DpkgRoot::new();
    let before = dpkg_root.tree();
    let installed = dpkg_root.dpkg(&[OsStr::new("--install"), deb.as_os_str()]);
    let said = printed(&installed);
    assert!(!said.contains("labs are up"), "no lab is up, yet: {said}");
    let at = |p: &str| dpkg_root.path(p);
    assert_installed_files(&at, &binary);
    if can_check_with("man (man-db)", have("man"), test) {
        assert_man_finds_the_pages(&at);
    }

    // bash: the completion file sourced directly offers every subcommand (and not the
    // hidden `forward`).
    let completion = at("usr/share/bash-completion/completions/netlab");
    let (offered, _) = bash_complete(&format!("source {}", completion.display()), "", &[]);
    for sub in subcommands() {
        assert!(offered.contains(&sub), "bash offers {sub}: {offered:?}");
    }
    assert!(!offered.contains(&"forward".to_string()), "{offered:?}");
    // And bash-completion's own loader finds it where it looks, under XDG_DATA_DIRS.
    let loader = Path::new("/usr/share/bash-completion/bash_completion");
    if can_check_with("bash-completion", loader.exists(), test) {
        let setup = format!(
            "source {}\nif declare -F _comp_load >/dev/null; then _comp_load netlab; else __load_completion netlab; fi",
            loader.display()
        );
        let (share, nowhere) = (at("usr/share"), at("nowhere"));
        let env = [("XDG_DATA_DIRS", share.as_os_str()), ("BASH_COMPLETION_USER_DIR", nowhere.as_os_str())];
        let (offered, from) = bash_complete(&setup, "pl", &env);
        assert_eq!(offered, ["plan"]);
        assert_eq!(Path::new(&from), completion, "bash-completion loaded the package's file");
    }

    // The installed binary plans the installed examples as this build plans the originals.
    for topology in topologies() {
        let example = at("usr/share/doc/netlab/examples").join(topology.file_name().unwrap());
        let plan =
            stdout(run(at("usr/bin/netlab"), [OsStr::new("plan"), example.as_os_str()]), "installed netlab plan");
        assert_eq!(plan, plan_of(&topology), "{}", example.display());
    }

    // Labs that are up: an upgrade (here: the same package again) and a removal say so,
    // and go through.
    std::fs::create_dir_all(at("run/netlab/demo")).unwrap();
    std::fs::write(at("run/netlab/demo.json"), "{}").unwrap();
    std::fs::write(at("run/netlab/demo/demo-a:tun0.pid"), "4242\n").unwrap();
    // Its supervisor, and a process it runs (which keeps its files in processes/).
    std::fs::write(at("run/netlab/demo/supervisor.pid"), "4243\n").unwrap();
    std::fs::create_dir_all(at("run/netlab/demo/processes")).unwrap();
    std::fs::write(at("run/netlab/demo/processes/a:web.pid"), "4244\n").unwrap();
    let upgraded = dpkg_root.dpkg(&[OsStr::new("--install"), deb.as_os_str()]);
    let said = printed(&upgraded);
    assert!(said.contains("labs are up: demo"), "{said}");
    assert!(said.contains("the 3 processes netlab started for them"), "{said}");
    assert!(said.contains(&format!("keep running netlab {VERSION}")), "{said}");

    let admindir = at("var/lib/dpkg");
    let listed =
        run("dpkg-query", [OsStr::new("--admindir"), admindir.as_os_str(), OsStr::new("-L"), OsStr::new("netlab")]);
    let listed = stdout(listed, "dpkg-query --listfiles");
    assert!(listed.lines().any(|l| l == "/usr/bin/netlab"), "{listed}");

    let removed = dpkg_root.dpkg(&[OsStr::new("--remove"), OsStr::new("netlab")]);
    let said = printed(&removed);
    assert!(said.contains("labs are up: demo") && said.contains("netlab down --lab NAME"), "{said}");
    dpkg_root.dpkg(&[OsStr::new("--purge"), OsStr::new("netlab")]);

    // Every file it put there is gone, folders too: what is left is what was there before,
    // dpkg's own database and log, and the lab records this test made.
    for file in listed.lines().filter(|f| *f != "/.") {
        assert!(!at(file).exists() || before.contains(Path::new(file.trim_start_matches('/'))), "left behind: {file}");
    }
    let left: Vec<PathBuf> = dpkg_root
        .tree()
        .into_iter()
        .filter(|p| {
            !before.contains(p) && !p.starts_with("var/lib/dpkg") && !p.starts_with("var/log") && !p.starts_with("run")
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
