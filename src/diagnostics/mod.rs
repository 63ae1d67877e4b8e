//! Mistakes in a topology file, located and explained.
//!
//! Every check in the pipeline reports a [`Problem`] with the byte span of the offending
//! text; [`Invalid`] gathers all of them for one file and renders them the way a person
//! wants to read them: file:line:column, the line itself with carets under the mistake, and
//! a hint where one helps.

mod excerpt;

use std::fmt::{self, Write as _};
use std::ops::Range;

use excerpt::Excerpt;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, ThemeCharacters, ThemeStyles};

/// One thing wrong with a topology file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub span: Range<usize>,
    /// Short text printed under the carets.
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Problem { message: message.into(), span, label: None, help: None }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a "did you mean" hint when `wrong` is a likely misspelling of one of `known`,
    /// otherwise lists what is known (when the list is short enough to read).
    pub fn suggest<'a>(self, wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Self {
        let known: Vec<&str> = known.into_iter().collect();
        if let Some(best) = closest(wrong, &known) {
            return self.help(format!("did you mean `{best}`?"));
        }
        match known.len() {
            0 => self,
            1..=8 => self.help(format!("known: {}", known.join(", "))),
            _ => self,
        }
    }
}

/// All the problems of one file, with the text they point into.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub path: String,
    pub source: String,
    pub problems: Vec<Problem>,
}

impl Invalid {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        LineCounter::new(&self.source).line_col(offset)
    }

    /// Renders every problem, in file order, followed by a one-line count.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

/// Every problem, in file order, followed by a one-line count. Text from the file (values,
/// the path, the lines shown) is made safe for a terminal and cut where it is long, so a
/// hostile file cannot act on the reviewer's terminal or flood it.
impl fmt::Display for Invalid {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plain ASCII, no colour: the same bytes on a terminal, in a CI log and in a test.
        let theme = GraphicalTheme { characters: ThemeCharacters::ascii(), styles: ThemeStyles::none() };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1).with_width(100);
        let path = shown_within(&self.path, MESSAGE_MAX);
        let mut lines = LineCounter::new(&self.source);
        for problem in &self.problems {
            let (line, col) = lines.line_col(problem.span.start);
            let message = shown_within(&problem.message, MESSAGE_MAX);
            // The first line is greppable on its own: `error: path:line:col: message`.
            writeln!(out, "error: {path}:{line}:{col}: {message}")?;
            let (excerpt, span) = Excerpt::new(&path, &self.source, problem.span.clone(), line);
            let label = problem.label.as_deref().map(|l| shown_within(l, MESSAGE_MAX));
            let mut diag =
                MietteDiagnostic::new(message).with_label(LabeledSpan::new(label, span.start, span.end - span.start));
            if let Some(help) = &problem.help {
                diag = diag.with_help(shown_within(help, MESSAGE_MAX));
            }
            let report = miette::Report::new(diag).with_source_code(excerpt);
            let mut rendered = String::new();
            handler.render_report(&mut rendered, report.as_ref())?;
            out.write_str(&rendered)?;
            out.write_char('\n')?;
        }
        let n = self.problems.len();
        writeln!(out, "{path}: {n} problem{}; nothing was changed", if n == 1 { "" } else { "s" })
    }
}

/// Longest value echoed in a message; longer ones are cut, with their length.
pub const ECHO_MAX: usize = 200;
/// Longest message, label or help printed (a safety net: values in them are cut already).
const MESSAGE_MAX: usize = 2000;

/// A value from the file, as a message shows it: characters a terminal would act on are
/// escaped (`\u{1b}`), and a value over [`ECHO_MAX`] bytes is cut, with its length.
pub fn shown(value: &str) -> String {
    shown_within(value, ECHO_MAX)
}

/// `value` whole (a path, which a cut would make wrong), with what a terminal would act
/// on escaped as in [`shown`].
pub fn shown_whole(value: &str) -> String {
    shown_within(value, value.len())
}

fn shown_within(value: &str, max: usize) -> String {
    let cut = excerpt::floor_boundary(value, value.len().min(max));
    let mut out = String::with_capacity(cut + 16);
    for c in value[..cut].chars() {
        if is_special(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    if cut < value.len() {
        let _ = write!(out, "... ({} bytes)", value.len());
    }
    out
}

/// Characters that a terminal acts on or that change how the text around them reads,
/// instead of being shown: control characters (C0 with tab and newline, DEL, C1: ESC starts
/// the sequences that move the cursor and erase lines) and Unicode's invisible format
/// characters (bidirectional overrides reorder what follows; zero-width ones hide).
pub fn is_special(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{ad}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{180e}'
            | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}')
}

/// `\t`, `\n`, `\r` and `\u{1b}`-style escapes, as in Rust and TOML source.
fn escape_into(out: &mut String, c: char) {
    let _ = write!(out, "{}", c.escape_default());
}

/// Line and column of offsets taken in increasing order, in time proportional to the
/// file, not to the number of problems times the file.
struct LineCounter<'a> {
    source: &'a str,
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'a> LineCounter<'a> {
    fn new(source: &'a str) -> Self {
        LineCounter { source, offset: 0, line: 1, line_start: 0 }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&mut self, offset: usize) -> (usize, usize) {
        let offset = excerpt::floor_boundary(self.source, offset.min(self.source.len()));
        if offset < self.offset {
            *self = LineCounter::new(self.source);
        }
        for (i, b) in self.source.as_bytes()[self.offset..offset].iter().enumerate() {
            if *b == b'\n' {
                self.line += 1;
                self.line_start = self.offset + i + 1;
            }
        }
        self.offset = offset;
        (self.line, self.source[self.line_start..offset].chars().count() + 1)
    }
}

/// The known name closest to `wrong`, if it is close enough to be a typo.
pub fn closest<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(1);
    let near = known.iter().map(|k| (edit_distance(wrong, k), *k)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d);
    if let Some((_, k)) = near {
        return Some(k);
    }
    // A name cut short (`user` for `userspace`), when it starts only one known name.
    let mut starts = known.iter().filter(|k| wrong.chars().count() >= 3 && k.starts_with(wrong));
    match (starts.next(), starts.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// Edit distance over chars where swapping two neighbours counts as one edit (optimal
/// string alignment): `wbe` for `web` is the commonest typo there is, and plain
/// Levenshtein calls it two edits, too far for a three-letter name.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: the one before last is needed for transpositions.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let substitute = prev[j] + usize::from(a[i] != b[j]);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let line_col = |source, offset| LineCounter::new(source).line_col(offset);
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
        assert_eq!(line_col("é\nx", 1), (1, 1), "inside a character: the character's column");
        let mut counter = LineCounter::new("a\nb\nc");
        assert_eq!([4, 2, 0].map(|o| counter.line_col(o)), [(3, 1), (2, 1), (1, 1)], "offsets in any order");
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(closest("ns3", &["ns1", "node3"]), Some("ns1"));
        assert_eq!(closest("adresses", &["addresses", "mtu"]), Some("addresses"));
        assert_eq!(closest("zzzz", &["addresses", "mtu"]), None);
        assert_eq!(closest("wbe", &["web", "db"]), Some("web"));
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "acb"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
