//! The `netlab` binary: parse the command line, run the command, map errors to exit codes.
//!
//! Nothing here starts a thread before the command runs: `netlab run` may have to make a
//! user namespace, which a process with more than one thread cannot.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use netlab::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `run` exits 125 when netlab fails, its command line included (as `docker run`),
        // so that 1 and 2 stay its command's own.
        Err(e) if e.use_stderr() && std::env::args_os().nth(1).is_some_and(|a| a == "run") => {
            let _ = e.print();
            return ExitCode::from(netlab::run::EXIT_NETLAB as u8);
        }
        Err(e) => e.exit(),
    };
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
        Err(netlab::Error::Code(code)) => ExitCode::from(code),
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
