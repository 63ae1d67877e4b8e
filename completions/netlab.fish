# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_netlab_global_optspecs
    string join \n h/help V/version
end

function __fish_netlab_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_netlab_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_netlab_using_subcommand
    set -l cmd (__fish_netlab_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c netlab -n "__fish_netlab_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_needs_command" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "validate" -d 'Check a topology file and report every problem in it, with file, line and column'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "plan" -d 'Print the ordered kernel operations that bring the lab up (or, with --down, take it down)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "graph" -d 'Draw the topology: namespaces, bridges, links and tunnels, with addresses'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "up" -d 'Build the lab, or bring a lab that is up in line with its file (only the difference)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "down" -d 'Remove everything the lab made, from its record: also after the file changed or is gone (--lab)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "diff" -d 'Compare the lab in the kernel with its file: + missing, - not wanted, ~ different'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "status" -d 'The labs that are up; with a topology or --lab, one lab\'s nodes, interfaces and addresses'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "link" -d 'Cut or restore a link: set every end of NODE:IF\'s link down, pull its cable, or restore it'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "impair" -d 'Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "exec" -d 'Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "port" -d 'A node\'s published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "logs" -d 'Show the output of a node\'s processes (stdout and stderr, the newest part kept)'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "run" -d 'Bring the lab up in a throwaway host of its own, run CMD there, take the lab down'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c netlab -n "__fish_netlab_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c netlab -n "__fish_netlab_using_subcommand validate" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand validate" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand plan" -l format -d 'Output format' -r -f -a "text\t'Numbered and aligned, one operation a line'
json\t'{"version": 1, "lab": ..., "direction": "up", "ops": [{"op": "netns_add", ...}]}'
ip\t'A shell script of iproute2 commands that builds the same lab'"
complete -c netlab -n "__fish_netlab_using_subcommand plan" -l down -d 'Print the teardown plan instead: what `down` removes, in order'
complete -c netlab -n "__fish_netlab_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand plan" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand graph" -l format -d 'Output format: Graphviz dot (`dot -Tsvg`) or a Mermaid flowchart' -r -f -a "dot\t''
mermaid\t''"
complete -c netlab -n "__fish_netlab_using_subcommand graph" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand graph" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l format -d 'Output format: each operation as it is applied, or one JSON summary at the end' -r -f -a "text\t'For people'
json\t'For scripts: one JSON document (see the README for its shape)'"
complete -c netlab -n "__fish_netlab_using_subcommand up" -l dry-run -d 'Print the operations `up` would apply, without applying them'
complete -c netlab -n "__fish_netlab_using_subcommand up" -l verify -d 'After applying, read back the namespaces the run touched and compare them with the file again: exit 1, with the lab up, listing what the kernel does not hold (it undoes some changes by itself). Reading back takes time: see the README'
complete -c netlab -n "__fish_netlab_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand up" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand down" -l lab -d 'The lab to remove, by name, instead of by its topology file' -r
complete -c netlab -n "__fish_netlab_using_subcommand down" -l format -d 'Output format: each operation as it is applied, or one JSON summary at the end' -r -f -a "text\t'For people'
json\t'For scripts: one JSON document (see the README for its shape)'"
complete -c netlab -n "__fish_netlab_using_subcommand down" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand down" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand diff" -l format -d 'Output format' -r -f -a "text\t'One change a line: + missing, - not wanted, ~ different (field: file, kernel)'
json\t'{"version": 1, "lab": ..., "in_sync": ..., "changes": [{"change": "add", "op": ...}]}'"
complete -c netlab -n "__fish_netlab_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand diff" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand status" -l lab -d 'The lab to show, by name' -r
complete -c netlab -n "__fish_netlab_using_subcommand status" -l format -d 'Output format' -r -f -a "text\t'For people'
json\t'For scripts: one JSON document (see the README for its shape)'"
complete -c netlab -n "__fish_netlab_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand status" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand link" -l lab -d 'The lab, by name, instead of a topology file' -r
complete -c netlab -n "__fish_netlab_using_subcommand link" -l format -d 'Output format' -r -f -a "text\t'For people'
json\t'For scripts: one JSON document (see the README for its shape)'"
complete -c netlab -n "__fish_netlab_using_subcommand link" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand link" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l lab -d 'The lab, by name, instead of a topology file' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l delay -d 'Added to every frame\'s trip, like "20ms"' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l jitter -d 'How far a frame\'s delay strays from --delay' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l distribution -d 'The shape of the jitter: uniform, normal, pareto or paretonormal' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l loss -d 'The share of frames lost, like "1%"' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l duplicate -d 'The share of frames sent twice' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l corrupt -d 'The share of frames with one bit flipped' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l reorder -d 'The share of frames that skip the delay (needs --delay)' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l rate -d 'Bits per second of link-layer frames, with tc\'s suffixes: "10mbit"' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l limit -d 'Frames that may wait at once (default 1000)' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l seed -d 'Makes each frame\'s fate the same on every run (userspace only)' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l carrier -d 'off: every frame is dropped while both ends stay up (a pulled cable)' -r
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l format -d 'Output format' -r -f -a "text\t'For people'
json\t'For scripts: one JSON document (see the README for its shape)'"
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l both -d 'Both directions of the link get the impairment'
complete -c netlab -n "__fish_netlab_using_subcommand impair" -l clear -d 'No impairment (of that end, or with --both of the link)'
complete -c netlab -n "__fish_netlab_using_subcommand impair" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand impair" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand exec" -l lab -d 'The lab, by name, instead of a topology file (it must be up)' -r
complete -c netlab -n "__fish_netlab_using_subcommand exec" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand exec" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand port" -l lab -d 'The lab, by name, instead of a topology file' -r
complete -c netlab -n "__fish_netlab_using_subcommand port" -l format -d 'Output format' -r -f -a "text\t'For people'
json\t'For scripts: one JSON document (see the README for its shape)'"
complete -c netlab -n "__fish_netlab_using_subcommand port" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c netlab -n "__fish_netlab_using_subcommand port" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand logs" -l lab -d 'The lab, by name, instead of a topology file' -r
complete -c netlab -n "__fish_netlab_using_subcommand logs" -s f -l follow -d 'Keep printing what is written, until interrupted or the lab goes down'
complete -c netlab -n "__fish_netlab_using_subcommand logs" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand logs" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand run" -l node -d 'Run CMD inside this node (as `netlab exec` does) instead of on the host side' -r
complete -c netlab -n "__fish_netlab_using_subcommand run" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand run" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand completions" -s h -l help -d 'Print help'
complete -c netlab -n "__fish_netlab_using_subcommand completions" -s V -l version -d 'Print version'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "validate" -d 'Check a topology file and report every problem in it, with file, line and column'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "plan" -d 'Print the ordered kernel operations that bring the lab up (or, with --down, take it down)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "graph" -d 'Draw the topology: namespaces, bridges, links and tunnels, with addresses'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "up" -d 'Build the lab, or bring a lab that is up in line with its file (only the difference)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "down" -d 'Remove everything the lab made, from its record: also after the file changed or is gone (--lab)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "diff" -d 'Compare the lab in the kernel with its file: + missing, - not wanted, ~ different'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "status" -d 'The labs that are up; with a topology or --lab, one lab\'s nodes, interfaces and addresses'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "link" -d 'Cut or restore a link: set every end of NODE:IF\'s link down, pull its cable, or restore it'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "impair" -d 'Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "exec" -d 'Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "port" -d 'A node\'s published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "logs" -d 'Show the output of a node\'s processes (stdout and stderr, the newest part kept)'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "run" -d 'Bring the lab up in a throwaway host of its own, run CMD there, take the lab down'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c netlab -n "__fish_netlab_using_subcommand help; and not __fish_seen_subcommand_from validate plan graph up down diff status link impair exec port logs run completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
