//! The lab's programs, as the kernel side runs them through `crate::process`: its
//! supervisor (started, ended), its processes (started inside their node and waited for
//! until ready, stopped) and its one-shot commands (run to their end). What each is told
//! is put together here: the node's namespace and /etc files, its user's ids, its
//! environment, its directories.
//!
//! A process is the supervisor's child, in the supervisor's PID namespace; starting one
//! with no supervisor running is an error (the plan starts the supervisor first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;

use super::{netns, Applied, OpError};
use crate::live::{LiveProcess, Named, ProcessState};
use crate::process::node::Credentials;
use crate::process::{self, files as pfiles, Launch, ProcessError, Supervisor};
use crate::topology::{Netns, Ready};

/// `PATH` for processes when netlab's own has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One program to start or run, as an op describes it.
pub(super) struct Program<'a> {
    pub node: &'a str,
    /// The process's name, or `exec.N`.
    pub name: String,
    pub netns: &'a Netns,
    pub cmd: &'a str,
    pub ready: Option<&'a Ready>,
    pub within: Duration,
    pub user: Option<&'a str>,
    pub env: &'a BTreeMap<String, String>,
}

impl Program<'_> {
    fn key(&self) -> String {
        format!("{}:{}", self.node, self.name)
    }
}

/// The program ops of one batch, each with its place in the batch.
#[derive(Default)]
pub(super) struct Batch<'a> {
    /// Supervisor starts (`true`) and stops.
    pub supervisor: Vec<(usize, bool)>,
    pub starts: Vec<(usize, Program<'a>)>,
    /// Process stops, by `NODE:NAME`.
    pub stops: Vec<(usize, String)>,
    pub execs: Vec<(usize, Program<'a>)>,
}

/// Where programs run and keep their files.
pub(super) struct Place<'a> {
    /// The lab's directory (/run/netlab/<lab>).
    pub dir: &'a Path,
    /// Their working directory: the topology file's (`None`: /).
    pub workdir: Option<&'a Path>,
}

impl Place<'_> {
    /// Applies a batch's program ops, each outcome in its place in `results`: processes
    /// stopped all at once, started all at once and waited for together; commands one
    /// after the other.
    pub fn apply(&self, batch: Batch, results: &mut [Option<Result<Applied, OpError>>]) {
        let done = |r: Result<(), OpError>| Some(r.map(|()| Applied::Done));
        for (i, start) in batch.supervisor {
            results[i] = done(if start { self.start_supervisor() } else { self.stop_supervisor() });
        }
        if !batch.stops.is_empty() {
            let keys: Vec<String> = batch.stops.iter().map(|(_, k)| k.clone()).collect();
            for ((i, _), r) in batch.stops.iter().zip(self.stop_processes(&keys)) {
                results[*i] = done(r);
            }
        }
        if !batch.starts.is_empty() {
            let (at, programs): (Vec<usize>, Vec<_>) = batch.starts.into_iter().unzip();
            for (i, r) in at.into_iter().zip(self.start_processes(&programs)) {
                results[i] = done(r);
            }
        }
        if !batch.execs.is_empty() {
            let (at, programs): (Vec<usize>, Vec<_>) = batch.execs.into_iter().unzip();
            for (i, r) in at.into_iter().zip(self.run(&programs)) {
                results[i] = done(r);
            }
        }
    }

    /// Everything the supervisor needs to start `p`: its namespace by name, file and
    /// identity, its user's ids (looked up here), its whole environment and directory.
    fn launch(&self, p: &Program, own_dir: bool) -> Result<Launch, OpError> {
        let key = p.key();
        let start_error = |why: String| OpError::Process(ProcessError::Start { key: key.clone(), why });
        let netns = match p.netns {
            Netns::Host => None,
            Netns::Named(name) => {
                let id = match netns::lookup(name)? {
                    Named::Mounted(id) => Some(id),
                    Named::Absent | Named::Unmounted => {
                        return Err(start_error(format!("namespace {name} does not exist")))
                    }
                };
                Some(netns::node_ref(name, id)?)
            }
        };
        let user = p.user.map(Credentials::lookup).transpose().map_err(start_error)?;
        let own = own_dir.then(|| pfiles::own_dir(self.dir, &key));
        let lab = self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (home, name) = match &user {
            Some(u) => (u.home.display().to_string(), u.name.clone()),
            None => ("/root".to_string(), "root".to_string()),
        };
        let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
        let mut env: BTreeMap<String, String> = BTreeMap::from([
            ("PATH".into(), path),
            ("HOME".into(), home),
            ("USER".into(), name.clone()),
            ("LOGNAME".into(), name),
            ("NETLAB_LAB".into(), lab),
            ("NETLAB_NODE".into(), p.node.to_string()),
            ("NETLAB_PROCESS".into(), p.name.clone()),
        ]);
        if let Some(own) = &own {
            env.insert("NETLAB_DIR".into(), own.display().to_string());
        }
        // The file's variables last: they may set any of the above.
        env.extend(p.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(Launch {
            key,
            cmd: p.cmd.to_string(),
            netns,
            user,
            env: env.into_iter().collect(),
            cwd: self.workdir.map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
            own_dir: own,
        })
    }

    fn supervisor(&self) -> Result<Supervisor, OpError> {
        Supervisor::find(self.dir)
            .ok_or_else(|| OpError::Process(ProcessError::Supervisor("the lab's supervisor is not running".into())))
    }

    /// Starts the lab's supervisor.
    pub fn start_supervisor(&self) -> Result<(), OpError> {
        if Supervisor::find(self.dir).is_some() {
            return Err(Errno::EEXIST.into());
        }
        let exe = std::env::current_exe()
            .map_err(|e| OpError::Process(ProcessError::Supervisor(format!("cannot find netlab's own binary: {e}"))))?;
        Supervisor::start(&exe, self.dir).map_err(|e| OpError::Process(ProcessError::Supervisor(e.to_string())))?;
        Ok(())
    }

    /// Ends the supervisor, and with it every process of the lab; removes their files.
    pub fn stop_supervisor(&self) -> Result<(), OpError> {
        match process::stop_lab(self.dir, process::STOP_GRACE)? {
            true => Ok(()),
            false => Err(Errno::ESRCH.into()),
        }
    }

    /// Starts every process, then waits for each to be ready, all at once. One that does
    /// not get ready is stopped again: a failed start leaves nothing running.
    pub fn start_processes(&self, programs: &[Program]) -> Vec<Result<(), OpError>> {
        let supervisor = match self.supervisor() {
            Ok(s) => s,
            Err(e) => return programs.iter().map(|_| Err(e.clone())).collect(),
        };
        let started: Vec<Result<Launch, OpError>> = programs
            .iter()
            .map(|p| {
                let launch = self.launch(p, true)?;
                process::start(&supervisor, &launch).map_err(OpError::Process)?;
                Ok(launch)
            })
            .collect();
        std::thread::scope(|s| {
            let waits: Vec<_> = programs
                .iter()
                .zip(started)
                .map(|(p, launch)| {
                    let supervisor = &supervisor;
                    s.spawn(move || {
                        let launch = launch?;
                        let Some(check) = p.ready else { return Ok(()) };
                        let ready = process::wait_ready(supervisor, &launch, check, p.within);
                        if ready.is_err() {
                            let _ = process::stop(supervisor, &launch.key, Duration::from_secs(1));
                        }
                        ready.map_err(OpError::Process)
                    })
                })
                .collect();
            waits
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(OpError::Io("a readiness check panicked".into()))))
                .collect()
        })
    }

    /// Stops processes, all at once; one that was not running is already gone (ESRCH).
    pub fn stop_processes(&self, keys: &[String]) -> Vec<Result<(), OpError>> {
        let Some(supervisor) = Supervisor::find(self.dir) else {
            // No supervisor: nothing of the lab's runs (its PID namespace went with it).
            return keys.iter().map(|_| Err(Errno::ESRCH.into())).collect();
        };
        std::thread::scope(|s| {
            let stops: Vec<_> = keys
                .iter()
                .map(|key| {
                    let supervisor = &supervisor;
                    s.spawn(move || match process::stop(supervisor, key, process::STOP_GRACE) {
                        Ok(Some(_)) => Ok(()),
                        Ok(None) => Err(Errno::ESRCH.into()),
                        Err(e) => Err(OpError::Process(e)),
                    })
                })
                .collect();
            stops
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(OpError::Io("stopping panicked".into()))))
                .collect()
        })
    }

    /// Runs one-shot commands, one after the other, in order.
    pub fn run(&self, programs: &[Program]) -> Vec<Result<(), OpError>> {
        let supervisor = match self.supervisor() {
            Ok(s) => s,
            Err(e) => return programs.iter().map(|_| Err(e.clone())).collect(),
        };
        programs
            .iter()
            .map(|p| {
                let launch = self.launch(p, false)?;
                process::run(&supervisor, &launch, process::EXEC_TIMEOUT).map_err(OpError::Process)
            })
            .collect()
    }
}

/// What the record of the process `key` shows, `None` when it has none. A process that
/// has just ended, while its supervisor runs, is not yet recorded as ended: the supervisor
/// writes how it ended as soon as it reaps it. That one is waited for, briefly, rather
/// than shown as gone with its supervisor.
pub(super) fn observe_process(dir: &Path, key: &str) -> std::io::Result<Option<LiveProcess>> {
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    loop {
        let Some(record) = pfiles::ProcessRecord::load(dir, key)? else { return Ok(None) };
        let live = record.live();
        if live.state != ProcessState::Gone || std::time::Instant::now() >= deadline || Supervisor::find(dir).is_none()
        {
            return Ok(Some(live));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
