//! The `netlab` binary: parse the command line, run the command, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use netlab::cli::Cli;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The hidden supervisor parses its own arguments: it is started by netlab, not people.
    if args.get(1).is_some_and(|a| a == "supervise") {
        return netlab::process::supervisor::cli_main(&args);
    }
    // `run` may have to make a user namespace, which a process with threads cannot: it
    // goes first, before anything of netlab's has started one.
    if args.get(1).is_some_and(|a| a == "run") {
        return netlab::run::main(&args);
    }
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = netlab::commands::run(cli.command, &mut out);
    let flushed = out.flush();
    match result {
        Ok(()) => match flushed {
            Ok(()) => ExitCode::SUCCESS,
            // A closed pipe (`netlab plan | head`) is not worth a message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("netlab: {e}");
                ExitCode::from(1)
            }
        },
        Err(netlab::Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(netlab::Error::Different) => ExitCode::from(1),
        Err(e) => {
            let message = e.to_string();
            if matches!(e, netlab::Error::Invalid(_)) {
                eprint!("{message}");
            } else {
                eprintln!("netlab: {message}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
