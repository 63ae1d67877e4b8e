//! The few lines of a file that one problem is shown with.
//!
//! miette is given an [`Excerpt`] instead of the whole file, for three reasons:
//! - cost: miette scans its source from the start for every span it reads, so a file with
//!   many problems took time proportional to problems x file size, and every problem copied
//!   the whole file;
//! - size: a 50 MB line (a generated hostname) was printed whole;
//! - safety: a control character in the file (a raw ESC in a comment, say) would reach the
//!   reviewer's terminal, which acts on it.
//!
//! An ordinary excerpt is the file's own lines, byte for byte, so what miette prints is
//! exactly what it printed from the whole file. Only lines that are very long or hold
//! characters a terminal acts on are rewritten: cut to a window around the problem and with
//! those characters escaped.

use std::ops::Range;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use super::{escape_into, is_special};

/// Lines longer than this are cut to a window around the problem.
const LINE_MAX: usize = 512;
/// How much of a cut line is shown before the problem, and in all.
const WINDOW_BEFORE: usize = 80;
const WINDOW: usize = 240;
/// A span over more lines than this is shown by its first line only.
const SPAN_LINES_MAX: usize = 8;
/// Lines of context around the span that miette may ask for (it is set to 1).
const CONTEXT: usize = 2;

/// What miette reads for one problem.
pub(super) struct Excerpt {
    name: String,
    text: String,
    /// 0-based line number of the excerpt's first line in the file.
    first_line: usize,
    /// 0-based line of the excerpt that holds the span's start, and how many bytes of it
    /// were cut or added before the start (so miette's column stays the file's).
    start_line: usize,
    column_shift: isize,
}

impl Excerpt {
    /// The excerpt of `source` around `span`, whose start is on 1-based line `line`; and
    /// the span, moved into the excerpt.
    pub(super) fn new(name: &str, source: &str, span: Range<usize>, line: usize) -> (Excerpt, Range<usize>) {
        let start = floor_boundary(source, span.start.min(source.len()));
        let mut end = ceil_boundary(source, span.end.clamp(start, source.len()));
        // Where the span's first line ends: a span over many lines is shown on its first.
        let first_line_end = line_end(source, start);
        if end > first_line_end && source[first_line_end..end].matches('\n').count() >= SPAN_LINES_MAX {
            end = first_line_end;
        }
        let mut from = line_start(source, start);
        let mut first_line = line - 1;
        for _ in 0..CONTEXT {
            if from == 0 {
                break;
            }
            from = line_start(source, from - 1);
            first_line -= 1;
        }
        let mut to = line_end(source, end.max(start));
        for _ in 0..CONTEXT {
            if to == source.len() {
                break;
            }
            to = line_end(source, to + 1);
        }
        let region = &source[from..to];
        let clean = region.split('\n').all(|l| l.len() <= LINE_MAX)
            && !region.char_indices().any(|(i, c)| shown_escaped(c) && !is_line_break(region, i, c));
        let start_line = source[from..start].matches('\n').count();
        let excerpt = |text, column_shift| Excerpt { name: name.into(), text, first_line, start_line, column_shift };
        if clean {
            return (excerpt(region.to_string(), 0), start - from..end - from);
        }
        let (text, moved, column_shift) = rewrite(region, start - from..end - from);
        (excerpt(text, column_shift), moved)
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self.text.as_str().read_span(span, context_lines_before, context_lines_after)?;
        let mut column = contents.column();
        if context_lines_before == 0 && contents.line() == self.start_line {
            column = column.saturating_add_signed(self.column_shift);
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line() + self.first_line,
            column,
            contents.line_count(),
        )))
    }
}

/// The region with each long line cut to a window around the span (or to its start) and
/// special characters escaped; the span moved along, and the column shift of its line.
fn rewrite(region: &str, span: Range<usize>) -> (String, Range<usize>, isize) {
    let mut out = String::new();
    let (mut moved_start, mut moved_end) = (None, None);
    let mut column_shift = 0;
    let mut line_from = 0;
    for line in region.split_inclusive('\n') {
        let line_to = line_from + line.len();
        let body = line.strip_suffix('\n').map_or(line, |b| b.strip_suffix('\r').unwrap_or(b));
        let body_to = line_from + body.len();
        let holds_start = (line_from..=body_to).contains(&span.start) && moved_start.is_none();
        let mut window = line_from..body_to;
        if body.len() > LINE_MAX {
            let anchor = if holds_start { span.start } else { line_from };
            let from = if anchor - line_from > WINDOW_BEFORE { anchor - WINDOW_BEFORE / 2 } else { line_from };
            let from = line_from + floor_boundary(body, from - line_from);
            let to = line_from + floor_boundary(body, (from + WINDOW - line_from).min(body.len()));
            window = from..to.max(from);
        }
        let out_line_start = out.len();
        if window.start > line_from {
            out.push_str("...");
        }
        for (i, c) in body[window.start - line_from..window.end - line_from].char_indices() {
            let at = window.start + i;
            if at == span.start && moved_start.is_none() {
                moved_start = Some(out.len());
            }
            if at == span.end && moved_start.is_some() && moved_end.is_none() {
                moved_end = Some(out.len());
            }
            if shown_escaped(c) {
                escape_into(&mut out, c);
            } else {
                out.push(c);
            }
        }
        // A span that starts or ends past the window (or at the line's end) is put there.
        if holds_start && moved_start.is_none() {
            moved_start = Some(out.len());
        }
        if moved_start.is_some() && moved_end.is_none() && span.end <= line_to {
            moved_end = Some(out.len());
        }
        if holds_start {
            let shown_before = moved_start.unwrap_or(out.len()) - out_line_start;
            column_shift = (span.start - line_from) as isize - shown_before as isize;
        }
        if window.end < body_to {
            out.push_str("...");
        }
        if line.ends_with('\n') {
            out.push('\n');
        }
        line_from = line_to;
    }
    let start = moved_start.unwrap_or(out.len());
    let end = moved_end.unwrap_or(out.len()).max(start);
    (out, start..end, column_shift)
}

/// Characters of a line that are escaped when it is shown; a tab is not: miette expands it.
fn shown_escaped(c: char) -> bool {
    is_special(c) && c != '\t'
}

/// A `\r` that ends a line (CRLF) or a `\n` is a line break, not a character to escape.
fn is_line_break(text: &str, i: usize, c: char) -> bool {
    c == '\n' || (c == '\r' && text[i + 1..].starts_with('\n'))
}

/// Offset of the start of the line that holds `at`.
fn line_start(source: &str, at: usize) -> usize {
    source[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Offset of the `\n` that ends the line holding `at`, or the end of the source.
fn line_end(source: &str, at: usize) -> usize {
    source[at..].find('\n').map_or(source.len(), |i| at + i)
}

pub(super) fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt(source: &str, span: Range<usize>, line: usize) -> (String, Range<usize>, usize, isize) {
        let (e, moved) = Excerpt::new("f", source, span, line);
        (e.text, moved, e.first_line, e.column_shift)
    }

    #[test]
    fn ordinary_lines_are_the_files_own() {
        let source = "a\nb\nc = 1\nd\ne\nf\n";
        let (text, span, first, shift) = excerpt(source, 8..9, 3);
        assert_eq!((text.as_str(), span, first, shift), ("a\nb\nc = 1\nd\ne", 8..9, 0, 0));
        let (text, span, first, _) = excerpt(source, 14..15, 6);
        assert_eq!((text.as_str(), span, first), ("d\ne\nf\n", 4..5, 3));
    }

    #[test]
    fn a_long_line_is_cut_around_the_problem() {
        let value = "a".repeat(1000);
        let source = format!("[nodes.a]\nhostname = \"{value}\"\n");
        let start = source.find('"').unwrap();
        let (text, span, _, shift) = excerpt(&source, start..start + value.len() + 2, 2);
        assert!(text.len() < 2 * WINDOW, "{text}");
        assert_eq!(&text[span.start..span.start + 2], "\"a");
        assert!(text.ends_with("...\n"));
        assert_eq!(shift, 0, "the window starts at the line's start: nothing before the span was cut");

        let source = format!("x = \"{value}\" # bad\n");
        let at = source.find(" # bad").unwrap();
        let (text, span, _, shift) = excerpt(&source, at..at + 6, 1);
        assert!(text.starts_with("...") && text.len() < 2 * WINDOW, "{text}");
        assert_eq!(&text[span], " # bad");
        assert_eq!(shift, (at - text.find(" # bad").unwrap()) as isize);
    }

    #[test]
    fn special_characters_are_escaped() {
        let source = "# a \u{1b}[2J comment\nname = 1\n";
        let at = source.find("name").unwrap();
        let (text, span, _, _) = excerpt(source, at..at + 4, 2);
        assert_eq!(text, "# a \\u{1b}[2J comment\nname = 1\n");
        assert_eq!(&text[span], "name");
        let (text, span, _, _) = excerpt("a = \"\u{202e}x\"\n", 4..10, 1);
        assert_eq!(&text[span], "\"\\u{202e}x\"");
    }

    #[test]
    fn a_span_over_many_lines_is_shown_by_its_first() {
        let source = "x = [\n".to_string() + &"1,\n".repeat(100) + "]\n";
        let (text, span, _, _) = excerpt(&source, 4..source.len() - 1, 1);
        assert_eq!(&text[span], "[");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn crlf_is_a_line_break() {
        let (text, span, _, _) = excerpt("a = 1\r\nb = 2\r\n", 7..8, 2);
        assert_eq!((text.as_str(), span), ("a = 1\r\nb = 2\r\n", 7..8));
    }
}
