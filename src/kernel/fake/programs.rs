//! The lab's programs in the in-memory kernel: its supervisor, which every process and
//! command needs and which takes every process with it; processes, which hold their
//! namespace as a forwarder does; commands, recorded in the order they ran.

use super::*;

impl FakeKernel {
    pub(super) fn start_supervisor(&mut self) -> Result<(), OpError> {
        if self.world.supervisor {
            return Err(Errno::EEXIST.into());
        }
        self.world.supervisor = true;
        Ok(())
    }

    /// Everything in its PID namespace ends with it.
    pub(super) fn stop_supervisor(&mut self) -> Result<(), OpError> {
        if !std::mem::take(&mut self.world.supervisor) {
            return Err(Errno::ESRCH.into());
        }
        self.world.ended.clear();
        let stacks: Vec<u64> = std::mem::take(&mut self.world.processes).into_values().collect();
        for stack in stacks {
            self.reap(stack);
        }
        Ok(())
    }

    fn supervised(&self) -> Result<(), OpError> {
        if self.world.supervisor {
            Ok(())
        } else {
            Err(OpError::Process(ProcessError::Supervisor("the lab's supervisor is not running".into())))
        }
    }

    /// A `process_start`.
    pub(super) fn start_process(&mut self, op: &Op) -> Result<(), OpError> {
        let key = op.process_key().expect("a process op has a key");
        self.supervised()?;
        let stack = self.stack_of(&op.netns())?;
        if self.world.processes.contains_key(&key) {
            return Err(OpError::Process(ProcessError::Start {
                key: key.clone(),
                why: format!("{key} is already running"),
            }));
        }
        self.world.ended.remove(&key);
        self.world.processes.insert(key, stack);
        Ok(())
    }

    /// A `process_stop`: its record says it ended of SIGTERM.
    pub(super) fn stop_process(&mut self, op: &Op) -> Result<(), OpError> {
        let key = op.process_key().expect("a process op has a key");
        let Some(stack) = self.world.processes.remove(&key) else { return Err(Errno::ESRCH.into()) };
        self.world.ended.insert(key, Exit::Signal(15));
        self.reap(stack);
        Ok(())
    }

    /// An `exec`: recorded, nothing else.
    pub(super) fn exec(&mut self, op: &Op) -> Result<(), OpError> {
        self.supervised()?;
        self.stack_of(&op.netns())?;
        self.ran.push(op.process_key().expect("an exec has a key"));
        Ok(())
    }
}
