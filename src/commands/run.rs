//! `netlab run`: what must be known before the throwaway host is made (the file, the node,
//! what an unprivileged user cannot do), then the user namespace when not root, then the
//! throwaway itself (`crate::run`).
//!
//! Nothing here may start a thread before the user namespace is made: a process with
//! threads cannot make one. Reading the file and planning for this kernel do not (the
//! kernel is only asked about ipip by looking at its modules, without privileges).

use std::io::Write;

use crate::cli::RunArgs;
use crate::error::Refusal;
use crate::process::node::Credentials;
use crate::run::{init, refusal, userns, EXIT_NETLAB};
use crate::topology::Netns;
use crate::{Error, Result};

/// Runs `netlab run`; ends with the command's exit code (`Error::Code` when it is not 0),
/// or with 125 when netlab itself fails (the reason is printed here, as the code says who
/// failed and the message says why).
pub fn exec(args: RunArgs) -> Result<()> {
    let code = match prepare(args).and_then(|job| crate::run::start_throwaway(job).map_err(Error::Throwaway)) {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            if let Error::Invalid(_) = &e {
                eprint!("{e}");
            } else {
                eprintln!("netlab: {e}");
            }
            EXIT_NETLAB
        }
    };
    match u8::try_from(code) {
        Ok(0) => Ok(()),
        Ok(code) => Err(Error::Code(code)),
        Err(_) => Err(Error::Code(EXIT_NETLAB as u8)),
    }
}

/// Everything up to the throwaway host: the job for its PID 1.
fn prepare(args: RunArgs) -> Result<init::Job> {
    let file = args.topology.unwrap_or_else(|| "netlab.toml".into());
    let topology = crate::load(&file)?;
    let node = match &args.node {
        None => None,
        Some(name) => Some((
            name.clone(),
            match super::node_netns(&topology, name)? {
                Netns::Host => None,
                Netns::Named(n) => Some(crate::kernel::netns::node_ref(&n, None)?),
            },
        )),
    };
    if !nix::unistd::geteuid().is_root() {
        // What the lab needs of the kernel and of the ids: the plan for this kernel and a
        // fresh host, as the throwaway will be (no other lab, nothing published).
        let plan = crate::plan::compile_with(&topology, &super::host_facts::kernel(&topology));
        let mut users = Vec::new();
        for p in &topology.processes {
            if let Some(user) = &p.user {
                let who = Credentials::lookup(user).map_err(|why| Refusal::User {
                    process: format!("{}:{}", p.node, p.name),
                    user: user.clone(),
                    why,
                })?;
                users.push((format!("{}:{}", p.node, p.name), who));
            }
        }
        let mapping = refusal::check(&topology, &plan.ops, &users).map_err(Refusal::Unprivileged)?;
        userns::enter(mapping).map_err(Error::Throwaway)?;
    }
    let exe = std::env::current_exe().map_err(|e| Error::Throwaway(format!("cannot find netlab's own binary: {e}")))?;
    Ok(init::Job { exe, topology: file, lab: topology.lab.clone(), node, command: args.command })
}
