use std::io::Write;

use crate::cli::{PlanArgs, PlanFormat};
use crate::plan;
use crate::state::StateDir;
use crate::Result;

pub fn exec(state: &StateDir, args: &PlanArgs, out: &mut dyn Write) -> Result<()> {
    let topology = crate::load(&args.file.topology)?;
    let mut plan = super::plan_here(state, &topology);
    if args.down {
        plan = plan.teardown();
    }
    match args.format {
        PlanFormat::Text => out.write_all(plan::text::render(&plan).as_bytes())?,
        PlanFormat::Ip => out.write_all(plan::ip::render(&plan).as_bytes())?,
        PlanFormat::Json => super::print_json(out, &plan)?,
    }
    Ok(())
}
