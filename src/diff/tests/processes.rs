//! The diff and a lab's programs: its supervisor and processes started, restarted with how
//! they ended, stopped and started anew when their command or namespace changed; its
//! one-shot commands run only with a namespace made anew.

use super::*;

/// A lab with a process in a node of its own, one in the host's namespace, and a node's
/// one-shot commands.
const PROCS: &str = r#"
[lab]
name = "pr"
prefix = ""

[nodes.a]
exec = ["echo seeded"]

[[nodes.a.processes]]
name = "web"
cmd = "serve --port 80"
ready = "tcp:80"

[nodes.h]
network = "host"

[[nodes.h.processes]]
cmd = "agent"
"#;

/// `PROCS` right after `up`: its namespace, its supervisor and both processes running.
fn procs_live(plan: &Plan) -> LiveLab {
    let a = NsId { dev: 4, ino: 101 };
    let host = NsId { dev: 4, ino: 1 };
    let running = |netns| crate::live::LiveProcess {
        identity: crate::live::Identity { pid: 7, start_time: 9, uid: 0, netns },
        state: crate::live::ProcessState::Running,
        started_at: 0,
        starts: 1,
        last_exit: None,
    };
    let mut lab = LiveLab { host: netns(HOST), host_id: Some(host), ..LiveLab::default() };
    lab.namespaces.insert("a".into(), NsLive::Mounted { id: a, live: Some(Box::new(netns("link 1 lo up mark"))) });
    lab.supervisor = Some(5);
    lab.processes.insert("a:web".into(), running(a));
    lab.processes.insert("h:agent".into(), running(host));
    assert_eq!(plan.ops.iter().filter(|op| op.process_key().is_some()).count(), 3);
    lab
}

#[test]
fn processes_are_started_restarted_with_how_they_ended_and_their_commands_run_once() {
    let plan = compile(&topology(PROCS));
    let record = record(&plan);
    let text = |live: &LiveLab, plan: &Plan| {
        squeeze(&render(&plan.lab, &diff(plan, Some(&record), live, &HostShares::default())))
    };
    assert_eq!(text(&procs_live(&plan), &plan), "lab pr: in sync with its file\n", "exec commands run only once");

    // Not up: the supervisor, each process, then the commands, after the namespace.
    let d = diff(&plan, None, &LiveLab::default(), &HostShares::default());
    let kinds: Vec<&str> = d.changes.iter().map(|c| crate::plan::text::kind(&c.op)).collect();
    assert_eq!(kinds, ["netns add", "link up", "supervisor start", "process start", "process start", "exec"]);

    let mut live = procs_live(&plan);
    live.processes.get_mut("a:web").unwrap().state = crate::live::ProcessState::Exited(crate::live::Exit::Code(3));
    assert_eq!(
        text(&live, &plan),
        squeeze(
            "# lab pr: 1 change\n\
             ~ process start a a:web: serve --port 80 (ready tcp:80 within 30s) (process: file running, kernel exit status 3)"
        )
    );

    // The supervisor was killed: it took every process with it.
    let mut live = procs_live(&plan);
    live.supervisor = None;
    for p in live.processes.values_mut() {
        p.state = crate::live::ProcessState::Gone;
    }
    assert_eq!(
        text(&live, &plan),
        squeeze(
            "# lab pr: 3 changes\n\
             ~ supervisor start host netlab supervise (supervisor: file running, kernel not running)\n\
             ~ process start a a:web: serve --port 80 (ready tcp:80 within 30s) (process: file running, kernel gone (its supervisor ended))\n\
             ~ process start host h:agent: agent (process: file running, kernel gone (its supervisor ended))"
        )
    );

    // A new command in the file: the old process goes, the new one starts.
    let changed = compile(&topology(&PROCS.replace("cmd = \"agent\"", "cmd = \"agent --verbose\"")));
    assert_eq!(
        text(&procs_live(&plan), &changed),
        squeeze(
            "# lab pr: 2 changes\n\
             - process stop host h:agent\n\
             ~ process start host h:agent: agent --verbose (cmd: file agent --verbose, kernel agent)"
        )
    );

    // The namespace was made anew: the process there runs in the old one.
    let mut live = procs_live(&plan);
    live.namespaces.insert("a".into(), NsLive::Absent);
    let d = diff(&plan, Some(&record), &live, &HostShares::default());
    let ops: Vec<String> = d.changes.iter().map(|c| crate::plan::text::summary(&c.op)).collect();
    assert!(ops.contains(&"process stop a a:web".to_string()), "{ops:?}");
    assert!(ops.iter().any(|o| o.starts_with("exec a a:exec.1")), "a new namespace runs its commands: {ops:?}");

    // The file drops every process: each stops, then the supervisor.
    let none = compile(&topology("[lab]\nname = \"pr\"\nprefix = \"\"\n[nodes.a]\n[nodes.h]\nnetwork = \"host\"\n"));
    assert_eq!(
        text(&procs_live(&plan), &none),
        squeeze("# lab pr: 3 changes\n- process stop a a:web\n- process stop host h:agent\n- supervisor stop host netlab supervise")
    );
}
