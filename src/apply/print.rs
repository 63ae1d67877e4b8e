//! What a run prints as it goes: each op as it is done, aligned like the text plan.

use std::io::Write;

use crate::plan::Op;

/// Prints ops as they are done, aligned like the text plan.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    columns: crate::plan::text::Columns,
}

impl<'a> Printer<'a> {
    pub fn new(out: &'a mut dyn Write, ops: &[Op]) -> Printer<'a> {
        Printer { out, columns: crate::plan::text::Columns::of(ops) }
    }

    pub fn line(&mut self, label: &str, op: &Op, note: &str) {
        let _ = writeln!(self.out, "{}", self.columns.line(label, op, note));
    }

    pub fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}
