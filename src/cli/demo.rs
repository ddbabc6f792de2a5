//! `darn demo`: write a realistic, partly broken experiment to try darn on.

use super::{DemoArgs, DemoLayout};
use crate::demo::{DemoSpec, generate};
use crate::error::Result;
use crate::printer::Printer;

pub fn run(args: &DemoArgs, printer: &Printer) -> Result<i32> {
    let spec = DemoSpec {
        tiers: args.tiers,
        subtests: args.subtests,
        runs_per_subtest: args.runs_per_subtest,
        judges: args.judges,
        seed: args.seed,
        phased: args.layout == DemoLayout::Phased,
        damage: !args.clean,
        darn_exe: std::env::current_exe().ok(),
    };
    let summary = generate(&args.dir, &spec)?;
    if printer.json {
        printer.json_out(&summary);
    } else {
        printer.out(&crate::printer::demo::render(&summary, &spec));
    }
    Ok(0)
}
