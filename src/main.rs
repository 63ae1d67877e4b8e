//! The `netlab` binary: parse the command line, run the command, map errors to exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use netlab::cli::Cli;

fn main() -> ExitCode {
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
            if matches!(e, netlab::Error::Invalid(_)) {
                // Written as it is rendered: a file with many problems makes more text than
                // it holds, and a string of all of it would be the largest thing in memory.
                let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
                let _ = write!(stderr, "{e}").and_then(|()| stderr.flush());
            } else {
                eprintln!("netlab: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
