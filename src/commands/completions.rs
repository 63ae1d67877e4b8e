use std::io::Write;

use crate::cli::{public_command, CompletionsArgs};
use crate::Result;

pub fn exec(args: &CompletionsArgs, out: &mut dyn Write) -> Result<()> {
    clap_complete::generate(args.shell, &mut public_command(), "netlab", out);
    Ok(())
}
