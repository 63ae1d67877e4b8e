//! Reading a topology file: bounded in size, and UTF-8, before anything parses it.
//!
//! A file that is too large or not UTF-8 is an invalid topology (exit 2, located like any
//! other problem), not a file that cannot be read (exit 1): the file is there, its content
//! is wrong.

use std::io::Read;
use std::path::Path;

use crate::diagnostics::{Invalid, Problem};

/// Why a topology file gave no text.
#[derive(Debug)]
pub enum Unreadable {
    /// It cannot be opened or read.
    Io(std::io::Error),
    /// It is too large or not UTF-8.
    Invalid(Invalid),
}

/// The largest topology file netlab reads. A lab of 200,000 nodes takes about 4 MiB; the
/// bound keeps a mistaken or hostile file (a 50 MB hostname) from costing gigabytes.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The text of the topology file at `path`.
pub fn read(path: &Path) -> Result<String, Unreadable> {
    let cannot_read = Unreadable::Io;
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let name = path.display().to_string();
    // The size on disk is known without reading (a pipe or /dev/stdin says 0: the bounded
    // read below catches those).
    let size = file.metadata().map_err(cannot_read)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(name, size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(name, bytes.len() as u64));
    }
    text(&name, bytes).map_err(Unreadable::Invalid)
}

/// The bytes as text; a file that is not UTF-8 is a problem at its first byte that is not.
pub fn text(path: &str, bytes: Vec<u8>) -> Result<String, Invalid> {
    let e = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let at = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    let bad: Vec<String> = bytes[at..].iter().take(e_len(&bytes[at..])).map(|b| format!("0x{b:02x}")).collect();
    let elsewhere = bytes.utf8_chunks().filter(|c| !c.invalid().is_empty()).count() - 1;
    let bytes_word = if bad.len() == 1 { "byte" } else { "bytes" };
    let mut message =
        format!("{bytes_word} {} at offset {at} is not UTF-8: a topology file is UTF-8 text", bad.join(" "));
    if elsewhere > 0 {
        message.push_str(&format!(" ({elsewhere} more place{} further on)", if elsewhere == 1 { "" } else { "s" }));
    }
    // The valid prefix is the same in the lossy text, so the offset and the line and
    // column of the problem are the file's; the bad bytes are shown as U+FFFD.
    let source = String::from_utf8_lossy(&bytes).into_owned();
    let span = at..at + '\u{fffd}'.len_utf8();
    let problem = Problem::new(span, message)
        .label("not UTF-8")
        .help("save the file as UTF-8 (from Latin-1, for example: iconv -f latin1 -t utf-8 FILE)");
    Err(Invalid { path: path.to_string(), source, problems: vec![problem] })
}

/// How many bytes the first invalid sequence of `bytes` has (at least one).
fn e_len(bytes: &[u8]) -> usize {
    bytes.utf8_chunks().next().map_or(1, |c| c.invalid().len().max(1))
}

fn too_large(path: String, size: u64) -> Unreadable {
    let message = format!(
        "the file is {size} bytes; netlab reads topology files of at most {} MiB ({MAX_FILE_BYTES} bytes)",
        MAX_FILE_BYTES >> 20
    );
    let problem = Problem::new(0..0, message)
        .help("a lab of 200,000 nodes fits in 4 MiB: look for a runaway value, or split the lab in two");
    Unreadable::Invalid(Invalid { path, source: String::new(), problems: vec![problem] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_text() {
        assert_eq!(text("f", "[lab]\nname = \"é\"\n".into()).unwrap(), "[lab]\nname = \"é\"\n");
    }

    #[test]
    fn not_utf8_points_at_the_first_bad_byte() {
        let invalid = text("f.toml", b"[lab]\nname = \"x\xff\xfey\"\n# \xe9\n".to_vec()).unwrap_err();
        let p = &invalid.problems[0];
        assert_eq!(
            p.message,
            "byte 0xff at offset 15 is not UTF-8: a topology file is UTF-8 text (2 more places further on)"
        );
        assert_eq!(invalid.line_col(p.span.start), (2, 10));
        assert!(invalid.render().starts_with("error: f.toml:2:10: byte 0xff at offset 15 is not UTF-8"));
        // A truncated sequence is one problem of several bytes.
        let invalid = text("f", b"a\xe2\x82".to_vec()).unwrap_err();
        assert_eq!(
            invalid.problems[0].message,
            "bytes 0xe2 0x82 at offset 1 is not UTF-8: a topology file is UTF-8 text"
        );
    }
}
