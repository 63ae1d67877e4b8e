//! What the in-memory kernel shows of a lab, as `Linux::observe_lab` would find it: the
//! namespaces, links, addresses, routes, qdiscs, sysctls, files, forwarders, nftables
//! tables, drops and relays, the lab's supervisor and processes that a plan's and a
//! record's ops touch, within a scope.

use super::super::observe::Look;
use super::*;

impl FakeKernel {
    /// What `Linux::observe_lab` would find: everything `ops` (a plan and a record) touch.
    pub fn live(&self, ops: &[&Op]) -> LiveLab {
        self.live_within(ops, Scope::All)
    }

    /// The same, within `scope` only.
    pub fn live_within(&self, ops: &[&Op], scope: Scope) -> LiveLab {
        let host_id = Some(NsId { dev: NSFS_DEV, ino: HOST });
        let mut lab = LiveLab { host_id, ..LiveLab::default() };
        if scope.covers(&Netns::Host) {
            lab.host = self.netns_live(HOST, scope.families(&Netns::Host));
        }
        let looks: Vec<Look> = ops.iter().map(|op| Look::of(op)).filter(|l| l.within(scope)).collect();
        for look in &looks {
            let Look::Namespace { name, read } = *look else { continue };
            let found = match self.named(name) {
                Named::Absent => NsLive::Absent,
                Named::Unmounted => NsLive::Unmounted,
                Named::Mounted(id) => {
                    let families = scope.families(&Netns::Named(name.to_string()));
                    let live = read.then(|| Box::new(self.netns_live(id.ino, families)));
                    match lab.namespaces.get(name) {
                        // A name read once (as a lab's own) stays read.
                        Some(NsLive::Mounted { live: Some(_), .. }) => continue,
                        Some(_) | None => NsLive::Mounted { id, live },
                    }
                }
            };
            lab.namespaces.insert(name.to_string(), found);
        }
        for look in &looks {
            match *look {
                Look::Sysctl { netns, key } => {
                    if let Ok(v) = self.read_sysctl(netns, key) {
                        lab.sysctls.insert((netns.clone(), key.to_string()), v);
                    }
                }
                Look::File { netns, file } => {
                    let content = self.world.files.get(&(netns.to_string(), file)).map(|c| c.clone().into_bytes());
                    lab.files.insert((netns.to_string(), file), content);
                }
                Look::Forwarder { netns, dev } => {
                    let running = self.world.forwarders.get(&(netns.clone(), dev.to_string()));
                    let running = running.map(|(_, args)| Running { pid: 4242, args: args.clone() });
                    lab.forwarders.insert((netns.clone(), dev.to_string()), running);
                }
                Look::Table { netns, family, name } => {
                    let Ok(stack) = self.stack_of(netns) else { continue };
                    let found = self.world.stacks[&stack].tables.get(&(family, name.to_string())).map(|t| {
                        let mut handle = 0;
                        LiveTable {
                            family,
                            name: name.to_string(),
                            mark: Some(t.mark.clone()),
                            chains: t
                                .chains
                                .iter()
                                .map(|c| LiveChain {
                                    chain: c.clone(),
                                    rules: t
                                        .rules
                                        .keys()
                                        .filter(|(chain, _)| *chain == c.name)
                                        .map(|(_, comment)| {
                                            handle += 1;
                                            LiveRule { comment: Some(comment.clone()), handle }
                                        })
                                        .collect(),
                                })
                                .collect(),
                        }
                    });
                    lab.tables.insert((netns.clone(), family, name.to_string()), found);
                }
                Look::Process { ref key } => {
                    let identity = |stack: u64| Identity {
                        pid: 4243,
                        start_time: 1,
                        uid: 0,
                        netns: NsId { dev: NSFS_DEV, ino: stack },
                    };
                    let found = match (self.world.processes.get(key), self.world.ended.get(key)) {
                        (Some(stack), _) => Some((identity(*stack), ProcessState::Running)),
                        (None, Some(exit)) => Some((identity(u64::MAX), ProcessState::Exited(*exit))),
                        (None, None) => None,
                    };
                    if let Some((identity, state)) = found {
                        let last_exit = self.world.ended.get(key).map(|e| (*e, 0));
                        lab.processes
                            .insert(key.clone(), LiveProcess { identity, state, started_at: 0, starts: 1, last_exit });
                    }
                }
                Look::Supervisor => lab.supervisor = self.world.supervisor.then_some(4200),
                Look::Drop { netns, dev } => {
                    let found = self.stack_of(netns).ok().and_then(|st| self.world.stacks[&st].drops.get(dev));
                    let found = found.map(|&(loss, carrier)| LiveDrop::Ours { loss, carrier });
                    lab.drops.insert((netns.clone(), dev.to_string()), found);
                }
                Look::Relay { netns, a } => {
                    let running = self.world.relays.get(&(netns.clone(), a.to_string())).map(|(_, b, imps)| {
                        let args = ["relay", "--a", a, "--b", b].map(str::to_string).to_vec();
                        LiveRelay { running: Running { pid: 4343, args }, impairments: Some(imps.clone()) }
                    });
                    lab.relays.insert((netns.clone(), a.to_string()), running);
                }
                Look::Namespace { .. } | Look::Qdiscs { .. } | Look::InNamespace | Look::Nothing => {}
            }
        }
        lab
    }

    /// What `/run/netns/<name>` holds.
    pub fn named(&self, name: &str) -> Named {
        match self.world.names.get(name) {
            Some(id) => Named::Mounted(NsId { dev: NSFS_DEV, ino: *id }),
            None => Named::Absent,
        }
    }

    fn netns_live(&self, stack: u64, families: Families) -> LiveNetns {
        let Some(s) = self.world.stacks.get(&stack) else { return LiveNetns::default() };
        let index = |name: &str| s.links.get(name).map(|l| l.index);
        let links = s
            .links
            .iter()
            .map(|(name, l)| LiveLink {
                index: l.index,
                name: name.clone(),
                kind: l.kind.map(|k| k.kernel_name().to_string()),
                mtu: Some(l.mtu),
                mac: l.mac.clone(),
                up: l.up,
                master: l.master.as_deref().and_then(index),
                alias: l.alias.clone(),
                group: l.group,
                peer_index: l
                    .peer
                    .as_ref()
                    .and_then(|(ps, pn)| self.world.stacks.get(ps)?.links.get(pn))
                    .map(|p| p.index),
                vxlan: l.vxlan.map(|(vni, port)| VxlanInfo {
                    vni: Some(vni),
                    local: l.tunnel.map(|t| t.0),
                    remote: l.tunnel.map(|t| t.1),
                    port: Some(port),
                }),
                ipip: (l.kind == Some(DeviceKind::Ipip)).then(|| (l.tunnel.map(|t| t.0), l.tunnel.map(|t| t.1))),
                hairpin: l.master.as_ref().map(|_| l.hairpin),
            })
            .collect();
        let addrs = s
            .addrs
            .iter()
            .filter(|(_, address, _)| if address.addr().is_ipv4() { families.ipv4 } else { families.ipv6 })
            .filter_map(|(dev, address, peer)| Some(LiveAddr { index: index(dev)?, address: *address, peer: *peer }))
            .collect();
        let routes = s
            .routes
            .iter()
            .filter(|(dst, _)| if dst.addr().is_ipv4() { families.ipv4 } else { families.ipv6 })
            .map(|(dst, r)| LiveRoute {
                table: crate::live::MAIN_TABLE,
                dst: *dst,
                via: r.via,
                oif: index(&r.dev),
                by_kernel: false,
                unicast: true,
            })
            .collect();
        let mut live = LiveNetns::new(links, addrs, routes);
        // As the kernel dumps them: netem without its distribution.
        live.qdiscs = s
            .links
            .values()
            .filter_map(|l| {
                let (kind, imp) = l.qdisc.clone()?;
                let impairment = Some(Impairment { distribution: Distribution::Uniform, ..imp });
                Some(LiveQdisc { index: l.index, kind: kind.name().to_string(), impairment })
            })
            .collect();
        live
    }
}
