//! A diff as text for people: `+` missing, `-` not wanted, `~` different (with the field:
//! file, kernel), `!` in the way; aligned like the text plan. `diff` prints it, and so
//! does `up --dry-run`.

use std::fmt::Write as _;

use super::Diff;
use crate::plan::text::{detail, kind};

pub fn render(lab: &str, d: &Diff) -> String {
    if d.in_sync() {
        return format!("lab {lab}: in sync with its file\n");
    }
    let n = d.changes.len();
    let mut out = format!("# lab {lab}: {n} change{}\n", if n == 1 { "" } else { "s" });
    let kind_w = d.changes.iter().map(|c| kind(&c.op).len()).max().unwrap_or(0);
    let ns_w = d.changes.iter().map(|c| c.op.netns().to_string().len()).max().unwrap_or(0);
    for c in &d.changes {
        let note = c
            .field
            .as_ref()
            .map_or(String::new(), |f| format!("    ({}: file {}, kernel {})", f.field, f.desired, f.actual));
        let line = format!(
            "{} {:<kind_w$}  {:<ns_w$}  {}{note}",
            c.change.symbol(),
            kind(&c.op),
            c.op.netns().to_string(),
            detail(&c.op)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for c in &d.conflicts {
        let _ = writeln!(out, "! {c}");
    }
    out
}
