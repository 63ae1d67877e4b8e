//! Sysctls in the in-memory kernel: per namespace, a device's only while the device is
//! there, and IPv4 forwarding one setting under all its names, as the kernel keeps it.

use super::*;

impl FakeKernel {
    pub(super) fn write_sysctl(&mut self, netns: &Netns, key: &str, value: &str) -> Result<(), OpError> {
        // Keys the kernel keeps as one setting (ip_forward, conf.all.forwarding) are one.
        let key = crate::sharing::canonical(key);
        let stack = self.stack(netns)?;
        if sysctl_device(key).is_some_and(|dev| !stack.links.contains_key(dev)) {
            return Err(Errno::ENOENT.into());
        }
        // IPv4 forwarding is one setting under several names: writing ip_forward (or
        // conf.all.forwarding) writes them all, conf.default's and every device's.
        let keys: Vec<String> = if matches!(key, "net.ipv4.ip_forward" | "net.ipv4.conf.all.forwarding") {
            let names = ["ip_forward", "conf.all.forwarding", "conf.default.forwarding"].map(str::to_string);
            let devices = stack.links.keys().map(|dev| format!("conf.{dev}.forwarding"));
            names.into_iter().chain(devices).map(|k| format!("net.ipv4.{k}")).collect()
        } else {
            vec![key.to_string()]
        };
        for key in keys {
            if value == "0" {
                stack.sysctls.remove(&key);
            } else {
                stack.sysctls.insert(key, value.to_string());
            }
        }
        Ok(())
    }

    pub(super) fn read_sysctl(&self, netns: &Netns, key: &str) -> Result<String, OpError> {
        let key = crate::sharing::canonical(key);
        let stack = &self.world.stacks[&self.stack_of(netns)?];
        if sysctl_device(key).is_some_and(|dev| !stack.links.contains_key(dev)) {
            return Err(Errno::ENOENT.into());
        }
        Ok(stack.sysctls.get(key).cloned().unwrap_or_else(|| "0".to_string()))
    }
}
