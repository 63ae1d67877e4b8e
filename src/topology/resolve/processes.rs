//! A node's processes (`[[nodes.X.processes]]`) and one-shot commands (`exec`): names
//! (given, or the program's), commands, readiness checks, timeouts, users and
//! environments, each checked where it is written.

use std::collections::{BTreeMap, HashMap};

use super::Resolver;
use crate::diagnostics::{is_special, shown, Problem};
use crate::spec::{ProcessSpec, Sp};
use crate::topology::names::check_process_name as check_name;
use crate::topology::{parse_duration, Alias, ExecCommand, Netns, Node, Process, Ready, DEFAULT_READY_TIMEOUT};

impl Resolver<'_> {
    pub(super) fn processes(&mut self, nodes: &[Node], aliases: &[Alias]) -> (Vec<Process>, Vec<ExecCommand>) {
        let by_name: HashMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        let (mut processes, mut execs) = (Vec::new(), Vec::new());
        for (key, node) in &self.spec.nodes {
            let name = key.get_ref().as_str();
            let spec = node.get_ref();
            // The name a node is entered by: its own, a container-mode node's second name.
            let netns = by_name.get(name).map(|n| match aliases.iter().find(|a| a.node == n.name) {
                Some(alias) => Netns::Named(alias.name.clone()),
                None => n.netns.clone(),
            });
            for (i, cmd) in spec.exec().iter().enumerate() {
                let Some(cmd) = self.command(cmd, "an exec command") else { continue };
                if let Some(netns) = &netns {
                    execs.push(ExecCommand { node: name.to_string(), netns: netns.clone(), n: i + 1, cmd });
                }
            }
            let mut names: HashMap<String, bool> = HashMap::new();
            for p in spec.processes() {
                let Some(process) = self.process(name, p.get_ref(), &mut names) else { continue };
                if let Some(netns) = &netns {
                    processes.push(Process { netns: netns.clone(), ..process });
                }
            }
        }
        (processes, execs)
    }

    /// One process of node `node`; `names` holds the names taken in the node so far (and
    /// whether each was given, for the message).
    fn process(&mut self, node: &str, p: &ProcessSpec, names: &mut HashMap<String, bool>) -> Option<Process> {
        let cmd = self.command(&p.cmd, "a process's cmd");
        let name = match &p.name {
            Some(n) => match check_name(n.get_ref()) {
                Ok(()) => Some((n.get_ref().clone(), n.span(), true)),
                Err(e) => {
                    self.error(n.span(), e);
                    None
                }
            },
            None => match cmd.as_deref().map(program_name) {
                Some(Some(program)) => Some((program, p.cmd.span(), false)),
                Some(None) => {
                    self.problem(
                        Problem::new(
                            p.cmd.span(),
                            "this process needs a `name`: its command starts with no program name",
                        )
                        .help("add `name = \"...\"` (A-Z, a-z, 0-9, _, . and -)"),
                    );
                    None
                }
                None => None,
            },
        };
        if let Some((name, span, given)) = &name {
            if let Some(first_given) = names.insert(name.clone(), *given) {
                let how = |given: bool| if given { "given" } else { "the program's name, as no `name` is given" };
                self.problem(
                    Problem::new(span.clone(), format!("node {node} has two processes named {name}"))
                        .label(how(*given))
                        .help(format!(
                            "the first one's name is {}; give each process a `name` of its own",
                            how(first_given)
                        )),
                );
            }
        }
        let ready = p.ready.as_ref().and_then(|r| {
            let parsed = match unprintable(r.get_ref()) {
                Some(c) => Err(format!("a readiness check cannot hold `{}` ({UNPRINTABLE})", c.escape_default())),
                None => r.get_ref().parse::<Ready>(),
            };
            parsed.map_err(|e| self.error(r.span(), e)).ok()
        });
        let ready_timeout = match &p.ready_timeout {
            None => Some(DEFAULT_READY_TIMEOUT),
            Some(t) => parse_duration(t.get_ref()).map_err(|e| self.error(t.span(), e)).ok(),
        };
        if let (Some(t), None) = (&p.ready_timeout, &p.ready) {
            self.problem(
                Problem::new(t.span(), "`ready_timeout` without `ready`: there is nothing to wait for")
                    .help("add a check, like `ready = \"tcp:8000\"`, or remove ready_timeout"),
            );
        }
        let user = p.user.as_ref().and_then(|u| match check_user(u.get_ref()) {
            Ok(()) => Some(u.get_ref().clone()),
            Err(e) => {
                self.error(u.span(), e);
                None
            }
        });
        let mut env = BTreeMap::new();
        for (k, v) in p.env.iter() {
            let key_ok = check_env_name(k.get_ref()).map_err(|e| self.error(k.span(), e)).is_ok();
            let bad = unprintable(v.get_ref());
            if let Some(c) = bad {
                self.error(
                    v.span(),
                    format!("an environment value cannot hold `{}` ({UNPRINTABLE})", c.escape_default()),
                );
            }
            let value_ok = bad.is_none();
            if key_ok && value_ok {
                env.insert(k.get_ref().clone(), v.get_ref().clone());
            }
        }
        Some(Process {
            node: node.to_string(),
            name: name?.0,
            netns: Netns::Host,
            cmd: cmd?,
            ready,
            ready_timeout: ready_timeout?,
            user,
            env,
        })
    }

    /// A command to run with `sh -c`: not empty, no NUL.
    fn command(&mut self, cmd: &Sp<String>, what: &str) -> Option<String> {
        let text = cmd.get_ref();
        if text.trim().is_empty() {
            self.problem(
                Problem::new(cmd.span(), format!("{what} is empty")).help("write the command to run, as for sh -c"),
            );
            return None;
        }
        if let Some(c) = unprintable(text) {
            self.error(cmd.span(), format!("{what} cannot hold `{}` ({UNPRINTABLE})", c.escape_default()));
            return None;
        }
        Some(text.clone())
    }
}

/// Why a command or value may not hold a character: NUL ends it for the kernel, and the
/// others a terminal would act on in `netlab plan`, which shows it.
const UNPRINTABLE: &str = "NUL, control and invisible characters are refused; tab and newline are fine";

/// The first character of `text` that a command or environment value may not hold.
fn unprintable(text: &str) -> Option<char> {
    text.chars().find(|&c| c != '\n' && c != '\t' && is_special(c))
}

/// The name a process gets when the file gives none: its program's, the first word of its
/// command without its directory (`/usr/bin/redis-server --port 1` gives `redis-server`),
/// when that is a good name.
fn program_name(cmd: &str) -> Option<String> {
    let first = cmd.split_whitespace().next()?;
    let base = first.rsplit('/').next()?;
    check_name(base).ok().map(|()| base.to_string())
}

/// A user as /etc/passwd names one, or a uid.
fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && !user.starts_with('-')
        && user.len() <= 32
        && user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not a user name or a uid: like \"nobody\" or \"65534\"", shown(user)))
    }
}

/// An environment variable's name: `[A-Za-z_][A-Za-z0-9_]*`.
fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an environment variable name: letters, digits and _, not starting with a digit",
            shown(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_named_after_its_program() {
        assert_eq!(program_name("python3 -m http.server 8000").as_deref(), Some("python3"));
        assert_eq!(program_name("/usr/bin/redis-server --port 1").as_deref(), Some("redis-server"));
        assert_eq!(program_name("FOO=1 prog"), None);
        assert_eq!(program_name("   "), None);
    }
}
