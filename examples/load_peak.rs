//! Peak memory of loading a topology, stage by stage, for `bench/memory.sh`.
//!
//! `cargo run --release --example load_peak -- FILE toml|spec|resolve` reads FILE, runs the
//! stages up to the one named (toml: toml's own parse into its document tree; spec: the
//! serde types of `netlab::spec`; resolve: the `Topology`), and prints the process's peak
//! resident memory in KiB (VmHWM): what that much of `netlab validate` costs.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, stage] = args.as_slice() else { panic!("usage: load_peak FILE toml|spec|resolve") };
    let text = std::fs::read_to_string(file).expect("a readable UTF-8 file");
    match stage.as_str() {
        "toml" => drop(toml::de::DeTable::parse(&text).map_err(|e| e.to_string())),
        "spec" => drop(netlab::spec::parse(&text).map_err(|e| e.to_string())),
        "resolve" => {
            let spec = netlab::spec::parse(&text).expect("a topology that parses");
            drop(netlab::topology::resolve(&spec));
        }
        _ => panic!("stage is toml, spec or resolve"),
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc");
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("VmHWM");
    println!("{}", hwm.trim().trim_end_matches(" kB"));
}
