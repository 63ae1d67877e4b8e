//! `impair` on a `[[links]]` entry or a bridge-mode node: each field parsed with its place
//! in the file, the combinations that make no sense (jitter without a delay, a seed in
//! kernel mode, two modes for one link), and the relay's names for a link that may be
//! impaired in userspace.

use std::ops::Range;

use super::Resolver;
use crate::diagnostics::Problem;
use crate::impairment::{value, Impairment, Percent};
use crate::spec::{ImpairMode, ImpairSpec, ImpairTable, Sp};
use crate::topology::names;
use crate::topology::{Impair, Netns};

/// What to write instead, for any impairment value.
const FIELDS: &str = "delay, jitter, distribution, loss, duplicate, corrupt, reorder, rate, limit, seed, mode, carrier";

impl Resolver<'_> {
    /// A link's `impair` (`ends`: its two endpoints, for the relay's names). One table
    /// applies to both ends (frames leaving either); a list gives one table per end.
    pub(super) fn impair(&mut self, spec: &Sp<ImpairSpec>, first: (&Netns, &str)) -> Option<Impair> {
        let (imps, mode) = match spec.get_ref() {
            ImpairSpec::Both(table) => {
                let (imp, mode) = self.impair_table(table, spec.span())?;
                ([imp.clone(), imp], mode.map(|m| *m.get_ref()))
            }
            ImpairSpec::PerEnd(tables) => {
                if tables.len() != 2 {
                    let n = tables.len();
                    self.problem(
                        Problem::new(spec.span(), format!("`impair` has {n} {} for 2 endpoints", if n == 1 { "entry" } else { "entries" }))
                            .help("one table per endpoint, in the same order, {} for none: impair = [{ delay = \"10ms\" }, {}]; or one table for both"),
                    );
                    return None;
                }
                let a = self.impair_table(tables[0].get_ref(), tables[0].span());
                let b = self.impair_table(tables[1].get_ref(), tables[1].span());
                let ((a, a_mode), (b, b_mode)) = (a?, b?);
                let mode = match (a_mode, b_mode) {
                    (Some(x), Some(y)) if x.get_ref() != y.get_ref() => {
                        self.problem(
                            Problem::new(y.span(), "the two endpoints ask for different modes")
                                .help("a link is impaired one way, in the kernel or in userspace: give `mode` once"),
                        );
                        return None;
                    }
                    (x, y) => x.or(y).map(|m| *m.get_ref()),
                };
                ([a, b], mode)
            }
        };
        // The first pair of candidates that no other impaired link of the lab has.
        let (netns, ifname) = first;
        let relay_netns = Netns::Named(names::relay_netns(&self.lab));
        let pair = |n| names::invented_relay_ends(&self.lab, &netns.to_string(), ifname, n);
        let taken = |end: &String| self.ifaces.contains_key(&(relay_netns.clone(), end.clone()));
        let relay = (0..).map(pair).find(|ends| !ends.iter().any(taken)).expect("a lab has fewer than 2^32 links");
        Some(Impair { ends: imps, mode: mode.unwrap_or(ImpairMode::Auto), relay })
    }

    /// One table: the impairment of frames leaving one end, and the mode it names.
    fn impair_table<'t>(
        &mut self,
        t: &'t ImpairTable,
        span: Range<usize>,
    ) -> Option<(Impairment, Option<&'t Sp<ImpairMode>>)> {
        let mut imp = Impairment::default();
        let mut ok = true;
        let mut field = |this: &mut Self, result: Result<(), Problem>| {
            if let Err(p) = result {
                this.problem(p);
                ok = false;
            }
        };
        if let Some(v) = &t.delay {
            field(self, text(v, "delay", value::parse_duration).map(|d| imp.delay = d));
        }
        if let Some(v) = &t.jitter {
            field(self, text(v, "jitter", value::parse_duration).map(|d| imp.jitter = d));
        }
        if let Some(v) = &t.distribution {
            field(self, text(v, "distribution", |s| s.parse()).map(|d| imp.distribution = d));
        }
        for (key, v, slot) in [
            ("loss", &t.loss, &mut imp.loss),
            ("duplicate", &t.duplicate, &mut imp.duplicate),
            ("corrupt", &t.corrupt, &mut imp.corrupt),
            ("reorder", &t.reorder, &mut imp.reorder),
        ] {
            if let Some(v) = v {
                field(self, percent(v, key).map(|p| *slot = p));
            }
        }
        if let Some(v) = &t.rate {
            field(self, rate(v).map(|r| imp.rate = Some(r)));
        }
        if let Some(v) = &t.limit {
            let limit = *v.get_ref();
            let checked = if limit == 0 {
                Err(Problem::new(v.span(), "the limit is 0 frames: nothing could ever wait")
                    .help("at least 1; netem's default is 1000"))
            } else {
                imp.limit = Some(limit);
                Ok(())
            };
            field(self, checked);
        }
        if let Some(v) = &t.seed {
            imp.seed = Some(*v.get_ref());
            if t.mode.as_ref().is_some_and(|m| *m.get_ref() == ImpairMode::Kernel) {
                field(
                    self,
                    Err(Problem::new(v.span(), "a seed needs the userspace engine, and this link is in mode \"kernel\"")
                        .help("the kernel's random draws do not make a given frame's fate repeatable: drop `seed`, or use mode = \"userspace\" (or leave mode out)")),
                );
            }
        }
        if let Some(v) = &t.carrier {
            imp.carrier = *v.get_ref();
        }
        if !ok {
            return None;
        }
        // What does not go together, at the field it is about (each sentence starts with
        // the field's name), or at the table.
        for problem in imp.problems() {
            let key = problem.split_whitespace().next().unwrap_or_default();
            let at = match key {
                "reorder" => t.reorder.as_ref().map(|v| v.span()),
                "jitter" => t.jitter.as_ref().map(|v| v.span()),
                "distribution" => t.distribution.as_ref().map(|v| v.span()),
                _ => None,
            };
            self.problem(Problem::new(at.unwrap_or(span.clone()), problem));
            ok = false;
        }
        ok.then_some((imp, t.mode.as_ref()))
    }

    /// The relay's two ends, in the relay namespace: names no other link may have there.
    pub(super) fn claim_relay_ends(&mut self, imp: &Impair, span: Range<usize>) {
        let netns = Netns::Named(names::relay_netns(&self.lab));
        for end in &imp.relay {
            self.claim_iface(&netns, end, span.clone(), "a relay end of another impaired link");
        }
    }

    /// The lab's relay namespace is netlab's: a node whose namespace would have its name
    /// is an error (only a file with impaired links needs it).
    pub(super) fn check_relay_netns(&mut self, relay_netns: &str) {
        let spec = self.spec;
        for key in spec.nodes.keys() {
            if self.own_netns(key.get_ref()).name() == Some(relay_netns) {
                self.problem(
                    Problem::new(
                        key.span(),
                        format!(
                            "node {}'s namespace would be {relay_netns}, the namespace netlab makes for the lab's \
                             impaired links",
                            key.get_ref()
                        ),
                    )
                    .help("rename the node, or set another [lab] prefix"),
                );
            }
        }
    }
}

/// A string field through its parser; the message names the field.
fn text<T>(v: &Sp<String>, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, Problem> {
    parse(v.get_ref()).map_err(|e| Problem::new(v.span(), format!("{key}: {e}")).help(help(key)))
}

/// `"1.5%"` or a number from 0 to 100.
fn percent(v: &Sp<toml::Value>, key: &str) -> Result<Percent, Problem> {
    let parsed = match v.get_ref() {
        toml::Value::String(s) => s.parse(),
        toml::Value::Integer(n) => Percent::from_number(*n as f64),
        toml::Value::Float(x) => Percent::from_number(*x),
        other => Err(format!("expected a percentage, found {}", other.type_str())),
    };
    parsed.map_err(|e| Problem::new(v.span(), format!("{key}: {e}")).help(help(key)))
}

/// `"10mbit"` or a number of bits per second.
fn rate(v: &Sp<toml::Value>) -> Result<u64, Problem> {
    let parsed = match v.get_ref() {
        toml::Value::String(s) => value::parse_rate(s),
        toml::Value::Integer(n) if *n >= 0 => value::parse_rate(&n.to_string()),
        toml::Value::Integer(n) => Err(format!("{n} is not a rate")),
        other => Err(format!("expected a rate, found {}", other.type_str())),
    };
    parsed.map_err(|e| Problem::new(v.span(), format!("rate: {e}")).help(help("rate")))
}

/// What a field's value looks like.
fn help(key: &str) -> String {
    match key {
        "delay" | "jitter" => format!("{key} = \"20ms\" (units: ns, us, ms, s)"),
        "distribution" => "distribution = \"uniform\", \"normal\", \"pareto\" or \"paretonormal\"".into(),
        "rate" => "rate = \"10mbit\": bits per second with tc's suffixes (kbit, mbit, gbit; kbps... are bytes)".into(),
        _ => format!("{key} = \"1.5%\", or a number from 0 to 100; the fields are {FIELDS}"),
    }
}
