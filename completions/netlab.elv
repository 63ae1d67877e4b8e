
use builtin;
use str;

set edit:completion:arg-completer[netlab] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'netlab'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'netlab'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand validate 'Check a topology file and report every problem in it, with file, line and column'
            cand plan 'Print the ordered kernel operations that bring the lab up (or, with --down, take it down)'
            cand graph 'Draw the topology: namespaces, bridges, links and tunnels, with addresses'
            cand up 'Build the lab, or bring a lab that is up in line with its file (only the difference)'
            cand down 'Remove everything the lab made, from its record: also after the file changed or is gone (--lab)'
            cand diff 'Compare the lab in the kernel with its file: + missing, - not wanted, ~ different'
            cand status 'The labs that are up; with a topology or --lab, one lab''s nodes, interfaces and addresses'
            cand link 'Cut or restore a link: set every end of NODE:IF''s link down, pull its cable, or restore it'
            cand impair 'Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet'
            cand exec 'Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files'
            cand port 'A node''s published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT'
            cand logs 'Show the output of a node''s processes (stdout and stderr, the newest part kept)'
            cand run 'Bring the lab up in a throwaway host of its own, run CMD there, take the lab down'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'netlab;validate'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;plan'= {
            cand --format 'Output format'
            cand --down 'Print the teardown plan instead: what `down` removes, in order'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;graph'= {
            cand --format 'Output format: Graphviz dot (`dot -Tsvg`) or a Mermaid flowchart'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;up'= {
            cand --format 'Output format: each operation as it is applied, or one JSON summary at the end'
            cand --dry-run 'Print the operations `up` would apply, without applying them'
            cand --verify 'After applying, read back the namespaces the run touched and compare them with the file again: exit 1, with the lab up, listing what the kernel does not hold (it undoes some changes by itself). Reading back takes time: see the README'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;down'= {
            cand --lab 'The lab to remove, by name, instead of by its topology file'
            cand --format 'Output format: each operation as it is applied, or one JSON summary at the end'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;diff'= {
            cand --format 'Output format'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;status'= {
            cand --lab 'The lab to show, by name'
            cand --format 'Output format'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;link'= {
            cand --lab 'The lab, by name, instead of a topology file'
            cand --format 'Output format'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;impair'= {
            cand --lab 'The lab, by name, instead of a topology file'
            cand --delay 'Added to every frame''s trip, like "20ms"'
            cand --jitter 'How far a frame''s delay strays from --delay'
            cand --distribution 'The shape of the jitter: uniform, normal, pareto or paretonormal'
            cand --loss 'The share of frames lost, like "1%"'
            cand --duplicate 'The share of frames sent twice'
            cand --corrupt 'The share of frames with one bit flipped'
            cand --reorder 'The share of frames that skip the delay (needs --delay)'
            cand --rate 'Bits per second of link-layer frames, with tc''s suffixes: "10mbit"'
            cand --limit 'Frames that may wait at once (default 1000)'
            cand --seed 'Makes each frame''s fate the same on every run (userspace only)'
            cand --carrier 'off: every frame is dropped while both ends stay up (a pulled cable)'
            cand --format 'Output format'
            cand --both 'Both directions of the link get the impairment'
            cand --clear 'No impairment (of that end, or with --both of the link)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;exec'= {
            cand --lab 'The lab, by name, instead of a topology file (it must be up)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;port'= {
            cand --lab 'The lab, by name, instead of a topology file'
            cand --format 'Output format'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;logs'= {
            cand --lab 'The lab, by name, instead of a topology file'
            cand -f 'Keep printing what is written, until interrupted or the lab goes down'
            cand --follow 'Keep printing what is written, until interrupted or the lab goes down'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;run'= {
            cand --node 'Run CMD inside this node (as `netlab exec` does) instead of on the host side'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'netlab;help'= {
            cand validate 'Check a topology file and report every problem in it, with file, line and column'
            cand plan 'Print the ordered kernel operations that bring the lab up (or, with --down, take it down)'
            cand graph 'Draw the topology: namespaces, bridges, links and tunnels, with addresses'
            cand up 'Build the lab, or bring a lab that is up in line with its file (only the difference)'
            cand down 'Remove everything the lab made, from its record: also after the file changed or is gone (--lab)'
            cand diff 'Compare the lab in the kernel with its file: + missing, - not wanted, ~ different'
            cand status 'The labs that are up; with a topology or --lab, one lab''s nodes, interfaces and addresses'
            cand link 'Cut or restore a link: set every end of NODE:IF''s link down, pull its cable, or restore it'
            cand impair 'Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet'
            cand exec 'Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files'
            cand port 'A node''s published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT'
            cand logs 'Show the output of a node''s processes (stdout and stderr, the newest part kept)'
            cand run 'Bring the lab up in a throwaway host of its own, run CMD there, take the lab down'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'netlab;help;validate'= {
        }
        &'netlab;help;plan'= {
        }
        &'netlab;help;graph'= {
        }
        &'netlab;help;up'= {
        }
        &'netlab;help;down'= {
        }
        &'netlab;help;diff'= {
        }
        &'netlab;help;status'= {
        }
        &'netlab;help;link'= {
        }
        &'netlab;help;impair'= {
        }
        &'netlab;help;exec'= {
        }
        &'netlab;help;port'= {
        }
        &'netlab;help;logs'= {
        }
        &'netlab;help;run'= {
        }
        &'netlab;help;completions'= {
        }
        &'netlab;help;help'= {
        }
    ]
    $completions[$command]
}
