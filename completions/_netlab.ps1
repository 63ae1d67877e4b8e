
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'netlab' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'netlab'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'netlab' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check a topology file and report every problem in it, with file, line and column')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Print the ordered kernel operations that bring the lab up (or, with --down, take it down)')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Draw the topology: namespaces, bridges, links and tunnels, with addresses')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build the lab, or bring a lab that is up in line with its file (only the difference)')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Remove everything the lab made, from its record: also after the file changed or is gone (--lab)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare the lab in the kernel with its file: + missing, - not wanted, ~ different')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The labs that are up; with a topology or --lab, one lab''s nodes, interfaces and addresses')
            [CompletionResult]::new('link', 'link', [CompletionResultType]::ParameterValue, 'Cut or restore a link: set every end of NODE:IF''s link down, pull its cable, or restore it')
            [CompletionResult]::new('impair', 'impair', [CompletionResultType]::ParameterValue, 'Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files')
            [CompletionResult]::new('port', 'port', [CompletionResultType]::ParameterValue, 'A node''s published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show the output of a node''s processes (stdout and stderr, the newest part kept)')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Bring the lab up in a throwaway host of its own, run CMD there, take the lab down')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'netlab;validate' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;plan' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--down', '--down', [CompletionResultType]::ParameterName, 'Print the teardown plan instead: what `down` removes, in order')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;graph' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format: Graphviz dot (`dot -Tsvg`) or a Mermaid flowchart')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;up' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format: each operation as it is applied, or one JSON summary at the end')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the operations `up` would apply, without applying them')
            [CompletionResult]::new('--verify', '--verify', [CompletionResultType]::ParameterName, 'After applying, read back the namespaces the run touched and compare them with the file again: exit 1, with the lab up, listing what the kernel does not hold (it undoes some changes by itself). Reading back takes time: see the README')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;down' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab to remove, by name, instead of by its topology file')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format: each operation as it is applied, or one JSON summary at the end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;diff' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;status' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab to show, by name')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;link' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab, by name, instead of a topology file')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;impair' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab, by name, instead of a topology file')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Added to every frame''s trip, like "20ms"')
            [CompletionResult]::new('--jitter', '--jitter', [CompletionResultType]::ParameterName, 'How far a frame''s delay strays from --delay')
            [CompletionResult]::new('--distribution', '--distribution', [CompletionResultType]::ParameterName, 'The shape of the jitter: uniform, normal, pareto or paretonormal')
            [CompletionResult]::new('--loss', '--loss', [CompletionResultType]::ParameterName, 'The share of frames lost, like "1%"')
            [CompletionResult]::new('--duplicate', '--duplicate', [CompletionResultType]::ParameterName, 'The share of frames sent twice')
            [CompletionResult]::new('--corrupt', '--corrupt', [CompletionResultType]::ParameterName, 'The share of frames with one bit flipped')
            [CompletionResult]::new('--reorder', '--reorder', [CompletionResultType]::ParameterName, 'The share of frames that skip the delay (needs --delay)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Bits per second of link-layer frames, with tc''s suffixes: "10mbit"')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Frames that may wait at once (default 1000)')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Makes each frame''s fate the same on every run (userspace only)')
            [CompletionResult]::new('--carrier', '--carrier', [CompletionResultType]::ParameterName, 'off: every frame is dropped while both ends stay up (a pulled cable)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--both', '--both', [CompletionResultType]::ParameterName, 'Both directions of the link get the impairment')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'No impairment (of that end, or with --both of the link)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;exec' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab, by name, instead of a topology file (it must be up)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;port' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab, by name, instead of a topology file')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;logs' {
            [CompletionResult]::new('--lab', '--lab', [CompletionResultType]::ParameterName, 'The lab, by name, instead of a topology file')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing what is written, until interrupted or the lab goes down')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing what is written, until interrupted or the lab goes down')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;run' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Run CMD inside this node (as `netlab exec` does) instead of on the host side')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'netlab;help' {
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check a topology file and report every problem in it, with file, line and column')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Print the ordered kernel operations that bring the lab up (or, with --down, take it down)')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Draw the topology: namespaces, bridges, links and tunnels, with addresses')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Build the lab, or bring a lab that is up in line with its file (only the difference)')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Remove everything the lab made, from its record: also after the file changed or is gone (--lab)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare the lab in the kernel with its file: + missing, - not wanted, ~ different')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'The labs that are up; with a topology or --lab, one lab''s nodes, interfaces and addresses')
            [CompletionResult]::new('link', 'link', [CompletionResultType]::ParameterValue, 'Cut or restore a link: set every end of NODE:IF''s link down, pull its cable, or restore it')
            [CompletionResult]::new('impair', 'impair', [CompletionResultType]::ParameterValue, 'Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files')
            [CompletionResult]::new('port', 'port', [CompletionResultType]::ParameterValue, 'A node''s published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show the output of a node''s processes (stdout and stderr, the newest part kept)')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Bring the lab up in a throwaway host of its own, run CMD there, take the lab down')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'netlab;help;validate' {
            break
        }
        'netlab;help;plan' {
            break
        }
        'netlab;help;graph' {
            break
        }
        'netlab;help;up' {
            break
        }
        'netlab;help;down' {
            break
        }
        'netlab;help;diff' {
            break
        }
        'netlab;help;status' {
            break
        }
        'netlab;help;link' {
            break
        }
        'netlab;help;impair' {
            break
        }
        'netlab;help;exec' {
            break
        }
        'netlab;help;port' {
            break
        }
        'netlab;help;logs' {
            break
        }
        'netlab;help;run' {
            break
        }
        'netlab;help;completions' {
            break
        }
        'netlab;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
