//! `berth generate-man DIR` (hidden; run by `make man`): berth(8) and one page per command,
//! berth-create(8), berth-start(8), ..., as runc ships runc-create(8). clap_mangen renders
//! them from the clap definition of the command line (src/cli.rs), which --help is made from
//! too, so the pages say what this binary accepts.

use std::path::Path;

use anyhow::Context;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli;

/// The man section of every page: system administration commands, as runc's.
const SECTION: &str = "8";

pub fn write_pages(dir: &Path) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let mut root = cli::command()
        // The one-line version: clap_mangen puts it on the .TH line, which the three lines of
        // --version would break.
        .version(version)
        // `help CMD` prints CMD's help, which is CMD's own page here.
        .disable_help_subcommand(true);
    // The NAME line is "berth - <about>"; --help's about starts with "berth: " already.
    let about = root
        .get_about()
        .map(ToString::to_string)
        .unwrap_or_default();
    root = root.about(about.strip_prefix("berth: ").unwrap_or(&about).to_string());
    // Building names each command's page (berth-create) and usage (berth create) and gives
    // each the global options, as its --help lists them.
    root.build();
    std::fs::create_dir_all(dir).with_context(|| format!("create directory {}", dir.display()))?;
    let mut pages = vec![(root.clone(), false)];
    pages.extend(
        root.get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| (c.clone(), true)),
    );
    for (cmd, see_berth) in pages {
        let man = Man::new(cmd)
            .section(SECTION)
            .source(format!("berth {version}"))
            .manual("berth manual");
        let path = dir.join(man.get_filename());
        let mut text = Vec::new();
        man.render(&mut text)
            .with_context(|| format!("render man page {}", path.display()))?;
        if see_berth {
            let mut see_also = Roff::new();
            see_also
                .control("SH", ["SEE ALSO"])
                .text([bold("berth"), roman(format!("({SECTION})"))]);
            // to_roff: the apostrophe preamble render() adds is at the top of the page already.
            text.extend(see_also.to_roff().into_bytes());
        }
        std::fs::write(&path, text)
            .with_context(|| format!("write man page {}", path.display()))?;
    }
    Ok(())
}
