//! Helpers for the unit tests: temporary directories, and the shipped topologies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::apply::{apply, Printer};
use crate::kernel::fake::FakeKernel;
use crate::kernel::{Kernel, Scope};
use crate::plan::{compile_for, Capabilities, Op, Plan};
use crate::state::{Record, StateDir};

/// A directory under the system's temp dir, removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("netlab-unit-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a temp dir");
        // netlab trusts a directory of its own only when nobody else can write to it
        // (see `places`): not group-writable, whatever the umask of the test run.
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
        std::fs::set_permissions(&dir, mode).expect("chmod a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Everything in it, as paths relative to it, sorted.
    pub fn contents(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![self.0.clone()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).expect("read a temp dir").flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(&self.0).unwrap().display().to_string());
                if path.is_dir() {
                    todo.push(path);
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every topology shipped with netlab (`topologies/*.toml`, `tests/labs/*.toml`), by file
/// name, with its plan for a kernel with every device kind and, where that differs, for
/// one without ipip and netem, as here (`NAME (no ipip, netem)`): every op kind a shipped lab can make.
pub fn shipped_plans() -> Vec<(String, Plan)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["topologies", "tests/labs"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).expect("a shipped directory"))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut plans = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let topology = crate::load(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let full = compile_for(&topology, Capabilities::FULL);
        // This machine's kernel: no ipip, no netem.
        let without = compile_for(&topology, Capabilities { ipip: false, netem: false, ..Capabilities::FULL });
        let differs = without.ops != full.ops;
        plans.push((name.clone(), full));
        if differs {
            plans.push((format!("{name} (no ipip, netem)"), without));
        }
    }
    assert!(plans.len() >= 8, "the shipped topologies were not found: {plans:?}");
    plans
}

/// A topology from text, which must be valid.
pub fn topology(text: &str) -> crate::Topology {
    crate::load_str("test.toml", text).unwrap_or_else(|e| panic!("{}", e.render()))
}

/// The changes `up` would make to bring the fake kernel to `plan`, for a lab whose record
/// is `record`: empty when the kernel holds what the plan says.
pub fn changes(kernel: &mut FakeKernel, plan: &Plan, record: Option<&Record>) -> Vec<Op> {
    let known: Vec<&Op> = plan.ops.iter().chain(record.iter().flat_map(|r| r.entries.iter().map(|e| &e.op))).collect();
    let live = kernel.observe(&known, Scope::All).expect("the fake kernel shows itself");
    let d = crate::diff::diff(plan, record, &live, &crate::sharing::HostShares::default());
    assert!(d.conflicts.is_empty(), "{}: conflicts {:?}", plan.lab, d.conflicts);
    d.ops()
}

/// Brings `plan` up on the fake kernel as `up` does (the diff's ops applied, the record
/// settled), with its record in `state`.
pub fn up_on(kernel: &mut FakeKernel, plan: &Plan, state: &StateDir) -> Record {
    let mut record = state.load(&plan.lab).expect("a readable record").unwrap_or_else(|| state.new_record(&plan.lab));
    let ops = changes(kernel, plan, Some(&record));
    let mut out = Vec::new();
    apply(kernel, &mut record, &ops, &mut Printer::new(&mut out, &ops))
        .unwrap_or_else(|f| panic!("{f}\n{}", String::from_utf8_lossy(&out)));
    record.settle(plan).expect("the record is saved");
    record
}
