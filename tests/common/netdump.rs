//! A normalised picture of a throwaway host's network state, for comparing two hosts that
//! should look the same (the lab `netlab up` built and the one its `plan --format ip`
//! script built, say).
//!
//! A [`Dump`] is a map from objects (`docker-web | link eth0`, `host | ipv4 route
//! default dev eth0`, `file /etc/netns/docker-web/hosts`) to their fields (`mtu` = `1500`),
//! so [`compare`] can say which namespace, which object and which field differ, and how.
//!
//! What is in it, per namespace (the root one is `host`; a namespace with several names
//! under /run/netns, a container-mode node's, is dumped once, under all its names joined
//! with ` = `):
//! - links (`ip -d -j link show`): kind, mtu, admin state up, master by name, the veth peer
//!   (or a tunnel's lower device) as `namespace:name`, vxlan/ipip id, local, remote and
//!   port, and the MAC where the topology sets one;
//! - addresses (`ip -j addr show`) with their flags (`nodad`, `tentative`...), IPv6
//!   link-local ones left out;
//! - routes of table main (`ip [-6] -j route show table main`), IPv6 link-local and
//!   multicast kernel routes left out;
//! - the sysctls it is asked for ([`Wanted`]);
//! - its nftables ruleset (`nft list ruleset`, handles left out), and each bridge port's
//!   hairpin mode and each link's device-group class when it is not the plain one (the
//!   firewall's guard reads it; the ip script sets it as `netlab up` does);
//!
//! and the files under /etc/netns with their contents, and which namespace each name under
//! /run/netns is.
//!
//! Left out on purpose: ifindex, nsids, MACs the topology does not set (random), operstate,
//! carrier-dependent route flags (`linkdown`) and statistics, which differ between two
//! builds of the same lab; and netlab's ownership marks (`ifalias` `netlab:<lab>` and the
//! device group), which `netlab up` sets and a hand-written ip script does not.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Throwaway;

/// What a dump reads besides what it finds: the sysctls and the MACs a topology sets.
/// Namespaces are by name (`None`: the root one), as in netlab's JSON plan.
#[derive(Debug, Default, Clone)]
pub struct Wanted {
    pub sysctls: BTreeSet<(Option<String>, String)>,
    pub macs: BTreeSet<(Option<String>, String)>,
    /// Every device the plan creates, to check a dump is not vacuously equal to another.
    pub devices: BTreeSet<(Option<String>, String)>,
}

impl Wanted {
    /// From the output of `netlab plan --format json`.
    pub fn from_plan(json: &str) -> Wanted {
        let plan: Value = serde_json::from_str(json).expect("plan JSON");
        let mut wanted = Wanted::default();
        let s = |v: &Value| v.as_str().map(str::to_string);
        for op in plan["ops"].as_array().expect("plan has ops") {
            let netns = s(&op["netns"]);
            match op["op"].as_str().unwrap_or_default() {
                "sysctl_set" => {
                    wanted.sysctls.insert((netns, s(&op["key"]).unwrap()));
                }
                "veth_add" => {
                    let (name, peer_netns, peer) = (s(&op["name"]).unwrap(), s(&op["peer_netns"]), s(&op["peer_name"]));
                    if op["mac"].is_string() {
                        wanted.macs.insert((netns.clone(), name.clone()));
                    }
                    if op["peer_mac"].is_string() {
                        wanted.macs.insert((peer_netns.clone(), peer.clone().unwrap()));
                    }
                    wanted.devices.insert((netns, name));
                    wanted.devices.insert((peer_netns, peer.unwrap()));
                }
                "bridge_add" | "vxlan_add" | "ipip_add" | "tun_add" => {
                    wanted.devices.insert((netns, s(&op["name"]).unwrap()));
                }
                _ => {}
            }
        }
        wanted
    }
}

pub type Fields = BTreeMap<String, String>;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Dump {
    /// object -> field -> value
    pub objects: BTreeMap<String, Fields>,
    /// namespace name (`None`: the root one) -> its label in object names
    pub labels: BTreeMap<Option<String>, String>,
}

impl Dump {
    /// The fields of a link, by the name of its namespace (`None`: the root one).
    pub fn link(&self, netns: Option<&str>, name: &str) -> Option<&Fields> {
        let label = self.labels.get(&netns.map(str::to_string))?;
        self.objects.get(&format!("{label} | link {name}"))
    }
}

/// The root namespace's label.
pub const HOST: &str = "host";

/// One namespace's raw `ip -j` and `nft` output.
struct Raw {
    /// `nft list ruleset` (empty when the namespace has none).
    nft: String,
    /// a name to give `ip -n` (`None`: the root namespace)
    name: Option<String>,
    links: Vec<Value>,
    addrs: Vec<Value>,
    routes4: Vec<Value>,
    routes6: Vec<Value>,
    /// nsid -> the name iproute2 gives it (`None`: a namespace with no name)
    nsids: BTreeMap<i64, Option<String>>,
}

fn ip(name: &Option<String>) -> String {
    match name {
        Some(n) => format!("ip -n '{n}'"),
        None => "ip".to_string(),
    }
}

/// The JSON array a command prints (nothing counts as `[]`).
fn json(host: &Throwaway, script: &str) -> Vec<Value> {
    let out = host.sh_ok(script);
    if out.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str(&out) {
        Ok(Value::Array(items)) => items,
        other => panic!("`{script}` printed no JSON array: {other:?}\n{out}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// Dumps a throwaway host's network state, normalised.
pub fn dump(host: &Throwaway, wanted: &Wanted) -> Dump {
    // Namespaces by identity: the root one, and every name under /run/netns.
    let ids = host.sh_ok(
        "echo \"$(stat -L -c %d:%i /proc/self/ns/net)\"; \
         for f in /run/netns/*; do [ -e \"$f\" ] && echo \"$(stat -L -c %d:%i \"$f\") ${f##*/}\"; done; true",
    );
    let mut lines = ids.lines();
    let root_id = lines.next().expect("root namespace id").trim().to_string();
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    groups.insert(root_id.clone(), BTreeSet::new());
    for line in lines {
        let (id, name) = line.split_once(' ').expect("id name");
        groups.entry(id.to_string()).or_default().insert(name.to_string());
    }
    let mut d = Dump::default();
    let mut raws: BTreeMap<String, Raw> = BTreeMap::new();
    for (id, names) in &groups {
        let label = if *id == root_id {
            std::iter::once(HOST.to_string()).chain(names.iter().cloned()).collect::<Vec<_>>().join(" = ")
        } else {
            names.iter().cloned().collect::<Vec<_>>().join(" = ")
        };
        if *id == root_id {
            d.labels.insert(None, label.clone());
        }
        for name in names {
            d.labels.insert(Some(name.clone()), label.clone());
            d.objects.insert(format!("netns name {name}"), Fields::from([("namespace".into(), label.clone())]));
        }
        let name = if *id == root_id { None } else { names.iter().next().cloned() };
        let ip = ip(&name);
        let nsids = json(host, &format!("{ip} -j netns list-id"))
            .iter()
            .map(|n| (n["nsid"].as_i64().expect("nsid"), n["name"].as_str().map(str::to_string)))
            .collect();
        let enter = name.as_ref().map(|n| format!("ip netns exec '{n}' ")).unwrap_or_default();
        let raw = Raw {
            nft: host.sh_ok(&format!("{enter}nft list ruleset")),
            links: json(host, &format!("{ip} -d -j link show")),
            addrs: json(host, &format!("{ip} -j addr show")),
            routes4: json(host, &format!("{ip} -4 -j route show table main")),
            routes6: json(host, &format!("{ip} -6 -j route show table main")),
            nsids,
            name,
        };
        raws.insert(label, raw);
    }

    for (label, raw) in &raws {
        d.objects.insert(format!("netns {label}"), Fields::new());
        for link in &raw.links {
            let name = text(&link["ifname"]);
            let mut f = Fields::new();
            let info = &link["linkinfo"];
            f.insert("kind".into(), text(&info["info_kind"]));
            f.insert("mtu".into(), text(&link["mtu"]));
            let flags = link["flags"].as_array().cloned().unwrap_or_default();
            f.insert("up".into(), flags.iter().any(|x| x == "UP").to_string());
            f.insert("master".into(), text(&link["master"]));
            f.insert("peer".into(), peer(label, link, &raws, &d.labels));
            if wanted.macs.iter().any(|(ns, dev)| d.labels.get(ns) == Some(label) && *dev == name) {
                f.insert("mac".into(), text(&link["address"]));
            }
            if info["info_slave_kind"] == "bridge" {
                f.insert("hairpin".into(), text(&info["info_slave_data"]["hairpin"]));
            }
            // The class bits of the group (see firewall::groups): 2 and 3 route through
            // a guarded host; the plain class is netlab's mark, not the lab's shape.
            let class = text(&link["group"]).parse::<u32>().map(|g| g >> 28).unwrap_or(0);
            if matches!(class, 2 | 3) {
                f.insert("class".into(), class.to_string());
            }
            if matches!(info["info_kind"].as_str(), Some("vxlan" | "ipip")) {
                for key in ["id", "local", "remote", "port"] {
                    f.insert(key.into(), text(&info["info_data"][key]));
                }
            }
            d.objects.insert(format!("{label} | link {name}"), f);
        }
        if !raw.nft.trim().is_empty() {
            d.objects.insert(format!("{label} | nft ruleset"), Fields::from([("ruleset".into(), raw.nft.clone())]));
        }
        for dev in &raw.addrs {
            for a in dev["addr_info"].as_array().into_iter().flatten() {
                if a["family"] == "inet6" && a["scope"] == "link" {
                    continue;
                }
                let mut f = Fields::new();
                for key in ["address", "scope", "broadcast"] {
                    f.insert(key.into(), text(&a[key]));
                }
                // iproute2's flags are the keys set to true: nodad, tentative, secondary...
                let flags: Vec<&str> = a
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, v)| **v == Value::Bool(true))
                    .map(|(k, _)| k.as_str())
                    .collect();
                f.insert("flags".into(), flags.join(","));
                d.objects.insert(
                    format!("{label} | addr {} {}/{}", text(&dev["ifname"]), text(&a["local"]), text(&a["prefixlen"])),
                    f,
                );
            }
        }
        for (family, routes) in [("ipv4", &raw.routes4), ("ipv6", &raw.routes6)] {
            for r in routes {
                let dst = text(&r["dst"]);
                let kernel = r["protocol"] == "kernel";
                if family == "ipv6" && ((kernel && dst.starts_with("fe80:")) || r["type"] == "multicast") {
                    continue;
                }
                let mut f = Fields::new();
                f.insert("type".into(), r["type"].as_str().unwrap_or("unicast").into());
                f.insert("scope".into(), r["scope"].as_str().unwrap_or("global").into());
                for key in ["gateway", "protocol", "prefsrc", "metric"] {
                    f.insert(key.into(), text(&r[key]));
                }
                let flags: Vec<String> = r["flags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .filter(|x| x != "linkdown") // carrier comes up asynchronously
                    .collect();
                f.insert("flags".into(), flags.join(","));
                let mut key = format!("{label} | {family} route {dst} dev {}", text(&r["dev"]));
                let mut n = 1;
                while d.objects.contains_key(&key) {
                    n += 1;
                    key = format!("{label} | {family} route {dst} dev {} #{n}", text(&r["dev"]));
                }
                d.objects.insert(key, f);
            }
        }
    }

    for (netns, key) in &wanted.sysctls {
        let label = d.labels.get(netns).cloned().unwrap_or_else(|| format!("(no namespace {netns:?})"));
        let value = match raws.get(&label) {
            Some(Raw { name: None, .. }) => host.sh_ok(&format!("sysctl -n '{key}'")),
            Some(Raw { name: Some(n), .. }) => host.sh_ok(&format!("ip netns exec '{n}' sysctl -n '{key}'")),
            None => "(no such namespace)".to_string(),
        };
        d.objects.insert(format!("{label} | sysctl {key}"), Fields::from([("value".into(), value.trim().into())]));
    }

    // /etc/netns: every path, and each file's contents.
    let files = host.sh_ok(
        "cd /etc/netns && find . -mindepth 1 | sort | while read -r f; do \
           printf '%s\\0' \"$f\"; if [ -d \"$f\" ]; then printf '(directory)'; else cat \"$f\"; fi; printf '\\0'; done",
    );
    let mut parts = files.split('\0');
    while let (Some(path), Some(content)) = (parts.next(), parts.next()) {
        let path = format!("/etc/netns/{}", path.trim_start_matches("./"));
        d.objects.insert(format!("file {path}"), Fields::from([("content".into(), content.into())]));
    }
    d
}

/// A link's peer (a veth's other end, a tunnel's lower device) as `namespace:name`.
fn peer(label: &str, link: &Value, raws: &BTreeMap<String, Raw>, labels: &BTreeMap<Option<String>, String>) -> String {
    if let Some(nsid) = link["link_netnsid"].as_i64() {
        // In another namespace: iproute2 names the nsid after a name under /run/netns. An
        // nsid with no name is taken for the root namespace, the only one without a name
        // in a throwaway host (`labels[None]`); the device must then exist there.
        let Some(index) = link["link_index"].as_i64() else { return format!("nsid {nsid}") };
        let Some(target) = raws[label].nsids.get(&nsid).and_then(|name| labels.get(name)) else {
            return format!("unknown nsid {nsid}");
        };
        let dev = raws[target].links.iter().find(|l| l["ifindex"].as_i64() == Some(index));
        match dev {
            Some(dev) => format!("{target}:{}", text(&dev["ifname"])),
            None => format!("{target}:ifindex {index}?"),
        }
    } else {
        match &link["link"] {
            Value::String(name) => format!("{label}:{name}"),
            _ => "-".to_string(),
        }
    }
}

/// The differences between two dumps, one line each: which object, which field, and the
/// two values (or which side lacks the object). Empty when they are the same.
pub fn compare(left: (&str, &Dump), right: (&str, &Dump)) -> Vec<String> {
    let ((ln, l), (rn, r)) = (left, right);
    let show = |f: &Fields| f.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = l.objects.keys().chain(r.objects.keys()).collect();
    for key in keys {
        match (l.objects.get(key), r.objects.get(key)) {
            (Some(a), None) => out.push(format!("{key}: only in {ln} ({})", show(a))),
            (None, Some(b)) => out.push(format!("{key}: only in {rn} ({})", show(b))),
            (Some(a), Some(b)) => {
                let fields: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for field in fields {
                    let (x, y) = (a.get(field), b.get(field));
                    if x != y {
                        let v = |v: Option<&String>| v.map(|s| format!("{s:?}")).unwrap_or_else(|| "(none)".into());
                        out.push(format!("{key}: {field}: {ln} {}, {rn} {}", v(x), v(y)));
                    }
                }
            }
            (None, None) => unreachable!(),
        }
    }
    out
}
