//! The diff and what the lab's record claims: a name the record has, now holding someone
//! else's namespace, is not searched or renamed; an entry that was only pending is no
//! claim on what is found; and what is in the way and another lab's is named with it.

use super::*;

#[test]
fn a_container_mode_name_that_names_a_strangers_namespace_is_in_the_way() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    // d is the lab's (recorded, made), but its name now holds a namespace that is not.
    kernel.namespaces.insert("d", Some((999, None)));
    let got = diff_text(&plan, Some(&record(&plan)), &kernel);
    assert_eq!(
        got,
        "# lab fx: 0 changes\n! namespace name d is taken by another namespace that netlab did not make; remove it \
         (ip netns del d)\n"
    );
}

#[test]
fn a_namespace_name_the_file_dropped_that_holds_a_strangers_namespace_is_not_searched() {
    let before = compile(&topology("[lab]\nname = \"fx\"\nprefix = \"\"\n[nodes.a]\n[nodes.b]\n"));
    let after = compile(&topology("[lab]\nname = \"fx\"\nprefix = \"\"\n[nodes.b]\n"));
    // The lab made a; someone replaced it with their own namespace, with a route.
    let theirs = "link 1 lo up\nlink 2 eth9 kind=veth up\naddr 2 10.9.0.1/24\nroute 10.8.0.0/16 via=10.9.0.254 dev=2";
    let kernel = Kernel {
        host: HOST.lines().take(7).collect::<Vec<_>>().join("\n"),
        namespaces: BTreeMap::from([
            ("a", Some((999, Some(theirs.to_string())))),
            ("b", Some((102, Some("link 1 lo up mark".into())))),
        ]),
        sysctls: Vec::new(),
        files: Vec::new(),
        forwarders: Vec::new(),
    };
    assert_eq!(diff_text(&after, Some(&record(&before)), &kernel), "lab fx: in sync with its file\n");
}

#[test]
fn a_file_whose_writing_was_pending_is_not_the_labs_to_overwrite() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    kernel.files[0].2 = "10.9.9.9 mine\n".into();
    // Recorded as written: drift, put back. Recorded while being written (a kill before the
    // write): whose the file is cannot be told, so it is in the way.
    let mut record = record(&plan);
    assert!(diff_text(&plan, Some(&record), &kernel).contains("~ file write"));
    let file = record.entries.iter_mut().find(|e| matches!(e.op, Op::FileWrite { .. })).unwrap();
    file.pending = true;
    let got = diff_text(&plan, Some(&record), &kernel);
    assert_eq!(
        got,
        "# lab fx: 0 changes\n! /etc/netns/a/hosts exists and netlab did not write it; remove it or drop the node's \
         hostname/hosts/dns\n"
    );
}

#[test]
fn what_is_in_the_way_and_another_labs_is_named_with_that_lab() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    kernel.host =
        format!("{}\nlink 20 fx-up kind=veth up alias=netlab:db", HOST.lines().take(7).collect::<Vec<_>>().join("\n"));
    kernel.namespaces = BTreeMap::from([("a", Some((201, Some("link 1 lo up alias=netlab:db".into()))))]);
    kernel.forwarders.clear();
    kernel.sysctls.clear();
    kernel.files.clear();
    let d = diff(&plan, None, &kernel.live(&plan, None), &HostShares::default());
    let conflicts: Vec<String> = d.conflicts.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        conflicts,
        [
            "namespace a already exists and is lab db's (its lo carries `netlab:db`); take that lab down (netlab \
             down --lab db) or choose another [lab] prefix",
            "link fx-up in the host already exists and is lab db's (`netlab:db` alias); take that lab down (netlab \
             down --lab db) or rename the interface",
        ]
    );
}
