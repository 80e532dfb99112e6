//! Imports the files and folders named on the command line into one model and prints a summary
//! with progress on stderr: `cargo run -p gridtrust-cgmes --example cgmes_summary -- <paths>…`.

use gridtrust_cgmes::{Importer, ProgressUpdate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut importer = Importer::new().with_progress(|u: ProgressUpdate<'_>| {
        if let Some(total) = u.total_bytes.filter(|t| *t > 0) {
            eprint!("\r{} {:>3}%", u.file, u.bytes_read.saturating_mul(100) / total);
            if u.bytes_read == total {
                eprintln!();
            }
        }
    });
    for path in std::env::args().skip(1) {
        importer = importer.add_path(path)?;
    }
    let model = importer.finish()?;
    println!(
        "substations {} voltage levels {} lines {} segments {} transformers {} ends {} switches {} loads {} machines {} units {} other {} terminals {} CN {} TN {} measurements {} limit sets {} limits {}",
        model.substations.len(),
        model.voltage_levels.len(),
        model.lines.len(),
        model.ac_line_segments.len(),
        model.power_transformers.len(),
        model.power_transformer_ends.len(),
        model.switches.len(),
        model.loads.len(),
        model.synchronous_machines.len(),
        model.generating_units.len(),
        model.other_equipment.len(),
        model.terminals.len(),
        model.connectivity_nodes.len(),
        model.topological_nodes.len(),
        model.measurements.len(),
        model.operational_limit_sets.len(),
        model.operational_limits.len(),
    );
    for diagnostic in &model.diagnostics {
        println!("{diagnostic}");
    }
    Ok(())
}
