//! Mistakes in a topology file, located and explained.
//!
//! Every check in the pipeline reports a [`Problem`] with the byte span of the offending
//! text; [`Invalid`] gathers all of them for one file and renders them the way a person
//! wants to read them: file:line:column, the line itself with carets under the mistake, and
//! a hint where one helps.

use std::fmt::Write as _;
use std::ops::Range;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, ThemeCharacters, ThemeStyles,
};

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
        line_col(&self.source, offset)
    }

    /// Renders every problem, in file order, followed by a one-line count.
    pub fn render(&self) -> String {
        // Plain ASCII, no colour: the same bytes on a terminal, in a CI log and in a test.
        let theme = GraphicalTheme { characters: ThemeCharacters::ascii(), styles: ThemeStyles::none() };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1).with_width(100);
        let mut out = String::new();
        for problem in &self.problems {
            let (line, col) = self.line_col(problem.span.start);
            // The first line is greppable on its own: `error: path:line:col: message`.
            let _ = writeln!(out, "error: {}:{line}:{col}: {}", self.path, problem.message);
            let mut diag = MietteDiagnostic::new(problem.message.clone());
            let span = clamp(&problem.span, self.source.len());
            diag = diag.with_label(LabeledSpan::new(problem.label.clone(), span.start, span.len()));
            if let Some(help) = &problem.help {
                diag = diag.with_help(help.clone());
            }
            let report = miette::Report::new(diag).with_source_code(NamedSource::new(&self.path, self.source.clone()));
            let _ = handler.render_report(&mut out, report.as_ref());
            out.push('\n');
        }
        let n = self.problems.len();
        let _ = writeln!(out, "{}: {n} problem{}; nothing was changed", self.path, if n == 1 { "" } else { "s" });
        out
    }
}

fn clamp(span: &Range<usize>, len: usize) -> Range<usize> {
    let start = span.start.min(len);
    start..span.end.clamp(start, len)
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
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
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
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
