//! The kernel engine's drops: frames arriving at a device dropped with a probability (a
//! loss) or all of them (a pulled cable), by an nftables netdev table of the lab's, one per
//! device: `netlab-<lab>.<dev>` (the `netlab-<lab>` prefix is the lab's own in nftables).
//!
//! Made with the `nft` program, as the lab's other tables are: what `plan --format ip`
//! prints is the very script `up` feeds it, one transaction that makes the table or
//! replaces it whole. The table's comment is the lab's mark followed by the drop it makes
//! (`netlab:web loss=2%,carrier=false`), so a cut link keeps the loss it comes back to;
//! reading the table back checks its rule says the same.
//!
//! The rule draws `numgen random mod 100000000` per frame and drops below the loss in
//! millionths of a percent: every loss the file can write, exactly.

use std::collections::BTreeMap;

use super::{Impairment, Percent};

/// The modulus of the draw: 100% in millionths of a percent.
const DRAWS: u64 = 100_000_000;

/// The table of the drop at `dev`'s ingress. A device name nft cannot take as a word
/// (nft has no quoting for table names) is replaced by a hash of it.
pub fn table(lab: &str, dev: &str) -> String {
    let plain = dev.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if plain {
        format!("netlab-{lab}.{dev}")
    } else {
        let h = dev.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        format!("netlab-{lab}.x{h:08x}")
    }
}

/// The comment a drop's table carries: the lab's mark (`netlab:<lab>`) and the drop.
fn comment(lab: &str, loss: Percent, carrier: bool) -> String {
    let what = Impairment { loss, carrier, ..Impairment::default() };
    format!("netlab:{lab} {what}")
}

/// Why a drop cannot be written for a device.
pub fn check_device(dev: &str) -> Result<(), String> {
    if dev.contains(['"', '\\']) {
        return Err(format!("device {dev} cannot be named in an nftables rule (it holds a quote or a backslash)"));
    }
    Ok(())
}

/// The script that makes (or replaces) the drop at `dev`'s ingress: one transaction.
pub fn set_script(lab: &str, dev: &str, loss: Percent, carrier: bool) -> String {
    let t = table(lab, dev);
    let rule = if carrier { format!("numgen random mod {DRAWS} < {} drop", loss.micro()) } else { "drop".to_string() };
    // `table X` first makes the delete harmless when there is none to replace.
    format!(
        "table netdev {t}\ndelete table netdev {t}\ntable netdev {t} {{\n\tcomment \"{}\"\n\tchain in {{\n\t\t\
         type filter hook ingress device \"{dev}\" priority 0; policy accept;\n\t\t{rule}\n\t}}\n}}\n",
        comment(lab, loss, carrier)
    )
}

/// The script that removes the drop.
pub fn delete_script(lab: &str, dev: &str) -> String {
    format!("delete table netdev {}\n", table(lab, dev))
}

/// One netdev table as `nft list ruleset netdev` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    pub comment: Option<String>,
    /// The device its ingress chain hooks.
    pub device: Option<String>,
    /// Its rules, as nft prints them.
    pub rules: Vec<String>,
}

/// The netdev tables of an `nft list ruleset netdev` (or `list table`) listing, by name.
pub fn parse_listing(text: &str) -> BTreeMap<String, Listed> {
    let mut tables = BTreeMap::new();
    let mut current: Option<(String, Listed)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("table netdev ").and_then(|r| r.strip_suffix(" {")) {
            if let Some((n, t)) = current.take() {
                tables.insert(n, t);
            }
            current = Some((name.to_string(), Listed::default()));
            continue;
        }
        let Some((_, t)) = current.as_mut() else { continue };
        if let Some(c) = line.strip_prefix("comment \"").and_then(|r| r.strip_suffix('"')) {
            t.comment = Some(c.to_string());
        } else if let Some(rest) = line.strip_prefix("type filter hook ingress device \"") {
            t.device = rest.split('"').next().map(str::to_string);
        } else if !(line.is_empty() || line == "}" || line.starts_with("chain ") || line.starts_with("type ")) {
            t.rules.push(line.to_string());
        }
    }
    if let Some((n, t)) = current {
        tables.insert(n, t);
    }
    tables
}

/// What a listed table of lab `lab` drops at `dev`: `Ok((loss, carrier))`, or why it is
/// not a drop netlab made: `Err(None)` for a table without the lab's mark (someone
/// else's), `Err(Some(what))` for the lab's table whose rule no longer says what its
/// comment does (changed by hand).
pub fn state(lab: &str, dev: &str, t: &Listed) -> Result<(Percent, bool), Option<String>> {
    let mark = format!("netlab:{lab} ");
    let Some(said) = t.comment.as_deref().and_then(|c| c.strip_prefix(&mark)) else { return Err(None) };
    let imp: Impairment = said.parse().map_err(|_| Some(format!("a comment netlab did not write: {said}")))?;
    let want = comment(lab, imp.loss, imp.carrier);
    let rule =
        if imp.carrier { format!("numgen random mod {DRAWS} < {} drop", imp.loss.micro()) } else { "drop".to_string() };
    if t.comment.as_deref() != Some(want.as_str()) || t.device.as_deref() != Some(dev) || t.rules != [rule] {
        return Err(Some(format!("the table does not drop what its comment says ({said})")));
    }
    Ok((imp.loss, imp.carrier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_named_by_lab_and_device() {
        assert_eq!(table("web", "e0"), "netlab-web.e0");
        assert_eq!(table("web", "veth1a2b3c4d"), "netlab-web.veth1a2b3c4d");
        let odd = table("web", "e+0");
        assert!(odd.starts_with("netlab-web.x") && odd.len() == "netlab-web.x".len() + 8, "{odd}");
        assert_ne!(table("web", "e+0"), table("web", "e+1"));
        assert!(check_device("a\"b").is_err() && check_device("e0").is_ok());
    }

    #[test]
    fn the_script_reads_back_as_what_it_drops() {
        let loss: Percent = "1.5%".parse().unwrap();
        let script = set_script("web", "e0", loss, true);
        assert!(script.contains("numgen random mod 100000000 < 1500000 drop"), "{script}");
        assert!(script.contains("comment \"netlab:web loss=1.5%\""), "{script}");
        // What `nft list ruleset netdev` prints for it (nft 1.0.6).
        let listing = "table netdev netlab-web.e0 {\n\tcomment \"netlab:web loss=1.5%\"\n\tchain in {\n\t\t\
                       type filter hook ingress device \"e0\" priority filter; policy accept;\n\t\t\
                       numgen random mod 100000000 < 1500000 drop\n\t}\n}\n\
                       table netdev theirs {\n\tchain in {\n\t\ttype filter hook ingress device \"e1\" priority filter; policy accept;\n\t\tdrop\n\t}\n}\n";
        let tables = parse_listing(listing);
        assert_eq!(tables.len(), 2);
        assert_eq!(state("web", "e0", &tables["netlab-web.e0"]), Ok((loss, true)));
        assert_eq!(state("web", "e1", &tables["theirs"]), Err(None), "no mark: not the lab's");
        assert_eq!(state("other", "e0", &tables["netlab-web.e0"]), Err(None), "another lab's mark");
        // A pulled cable keeps the loss it comes back to.
        let cut = parse_listing(
            "table netdev netlab-web.e0 {\n\tcomment \"netlab:web loss=1.5%,carrier=false\"\n\tchain in {\n\t\t\
             type filter hook ingress device \"e0\" priority filter; policy accept;\n\t\tdrop\n\t}\n}\n",
        );
        assert_eq!(state("web", "e0", &cut["netlab-web.e0"]), Ok((loss, false)));
        // Changed by hand: the rule says another thing than the comment.
        let mut changed = tables["netlab-web.e0"].clone();
        changed.rules = vec!["drop".into()];
        assert!(state("web", "e0", &changed).unwrap_err().unwrap().contains("does not drop what its comment says"));
        assert_eq!(delete_script("web", "e0"), "delete table netdev netlab-web.e0\n");
    }
}
