//! Imports the files, folders and zip archives named on the command line into one model, shows
//! progress on stderr, and prints each file's CGMES edition, the summary (JSON) and the diagnostics:
//! `cargo run -p gridtrust-cgmes --example cgmes_summary -- <paths>…`.

use gridtrust_cgmes::{Importer, ProgressUpdate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut last_decile = None;
    let mut importer = Importer::new().with_progress(|u: ProgressUpdate<'_>| {
        let Some(total) = u.total_bytes.filter(|t| *t > 0) else { return };
        let decile = u.bytes_read.saturating_mul(10) / total;
        if last_decile != Some((u.file.to_owned(), decile)) {
            eprintln!("{} {:>3}%", u.file, decile * 10);
            last_decile = Some((u.file.to_owned(), decile));
        }
    });
    for path in std::env::args().skip(1) {
        importer = importer.add_path(path)?;
    }
    let model = importer.finish()?;
    for file in &model.files {
        let version = file.version.map_or_else(|| "edition unknown".to_owned(), |v| v.to_string());
        println!("{}: {version}", file.name);
    }
    println!("{}", serde_json::to_string_pretty(&model.summary())?);
    for diagnostic in &model.diagnostics {
        println!("{diagnostic}");
    }
    Ok(())
}
