//! `berth list`: a table like runc's, or JSON.

use std::io::Write;

use berth_runtime::container::OciState;
use berth_runtime::state::Store;

use crate::cli::ListFormat;

pub fn run(store: &Store, format: ListFormat, quiet: bool) -> anyhow::Result<()> {
    // A container deleted between listing and reading is simply not shown.
    let states: Vec<OciState> = store
        .list()?
        .iter()
        .filter_map(|id| store.read(id).ok())
        .map(|s| OciState::new(&s))
        .collect();
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in &states {
            writeln!(out, "{}", s.id)?;
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string(&states)?)?,
        ListFormat::Table => out.write_all(table(&states).as_bytes())?,
    }
    Ok(())
}

fn table(states: &[OciState]) -> String {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(states.iter().map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        }))
        .collect();
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(cells.join("   ").trim_end());
        text.push('\n');
    }
    text
}
