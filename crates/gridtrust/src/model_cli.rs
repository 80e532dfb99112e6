//! `gridtrust model import|validate|show|diff`: build the joined IEC 61850 / CIM model from SCL,
//! CGMES and a mapping file, check inputs, look into a model and compare two. The model itself is
//! in [`gridtrust_gridmodel`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gridtrust_cgmes::{CgmesVersion, ProgressUpdate};
use gridtrust_gridmodel::{EquipmentNode, GridModel, ImportErrors, Imported, LinkSource, ModelInputs, import_files};

/// The joined IEC 61850 / CIM model: import, validate, show, diff.
#[derive(clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(clap::Args)]
struct InputArgs {
    /// SCL files (ICD, CID, SCD); an SCD Substation section links logical nodes to equipment.
    #[arg(long, num_args = 1..)]
    scl: Vec<PathBuf>,
    /// CGMES files, zip archives or folders (EQ, TP, SSH, SV, boundary).
    #[arg(long, num_args = 1..)]
    cgmes: Vec<PathBuf>,
    /// Explicit links and protocol addresses (TOML), tried before the SCD and names.
    #[arg(long)]
    mapping: Option<PathBuf>,
}

impl InputArgs {
    fn inputs(&self) -> anyhow::Result<ModelInputs> {
        if self.scl.is_empty() && self.cgmes.is_empty() {
            anyhow::bail!("give at least one --scl or --cgmes input");
        }
        Ok(ModelInputs { scl: self.scl.clone(), cgmes: self.cgmes.clone(), mapping: self.mapping.clone() })
    }
}

#[derive(clap::Subcommand)]
enum ModelCommand {
    /// Build the model and write it as JSON (progress and a summary on stderr).
    Import {
        #[command(flatten)]
        inputs: InputArgs,
        /// Where to write the model JSON.
        #[arg(short, long)]
        output: PathBuf,
        /// Refuse SCL that deviates from IEC 61850-6, even where the deviation has one clear
        /// reading (by default such deviations are read and printed as warnings).
        #[arg(long)]
        strict: bool,
    },
    /// Check the inputs: print every error (file, line, element), warning and unresolved link;
    /// exit non-zero on errors.
    Validate {
        #[command(flatten)]
        inputs: InputArgs,
        /// Treat SCL deviations from IEC 61850-6 as errors, and fail also when links are unresolved.
        #[arg(long)]
        strict: bool,
    },
    /// Show a model: a summary, one point, one piece of equipment, or the tree.
    Show {
        /// The model JSON.
        model: PathBuf,
        /// A point (IEC 61850 reference, e.g. `IEDLD/MMXU1.TotW.mag.f[MX]`).
        #[arg(long, conflicts_with_all = ["equipment", "tree"])]
        point: Option<String>,
        /// A piece of equipment (mRID or tree id).
        #[arg(long, conflicts_with = "tree")]
        equipment: Option<String>,
        /// The substation / voltage level / bay / equipment tree with points.
        #[arg(long)]
        tree: bool,
    },
    /// Compare two models: points and equipment added, removed or changed. Exit code 1 when
    /// they differ, 2 when a file cannot be read.
    Diff {
        /// The model before.
        before: PathBuf,
        /// The model after.
        after: PathBuf,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `gridtrust model` command.
pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.command {
        ModelCommand::Import { inputs, output, strict } => {
            if strict && !scl_conforms(&inputs) {
                anyhow::bail!("SCL deviates from IEC 61850-6 (--strict)");
            }
            let imported = build(&inputs)?;
            for warning in &imported.warnings {
                eprintln!("{warning}");
            }
            std::fs::write(&output, imported.model.to_json() + "\n").with_context(|| format!("writing {}", output.display()))?;
            eprintln!("{}", summary(&imported.model));
            if let Some(line) = editions(&imported.cgmes_versions) {
                eprintln!("{line}");
            }
            eprintln!("wrote {}", output.display());
            Ok(())
        }
        ModelCommand::Validate { inputs, strict } => {
            if strict && !scl_conforms(&inputs) {
                std::process::exit(1);
            }
            let inputs = inputs.inputs()?;
            let imported = match import_files(&inputs, progress_on_stderr()) {
                Ok(imported) => imported,
                Err(failed) => {
                    report_failure(&failed);
                    std::process::exit(1);
                }
            };
            let mut out = std::io::stdout().lock();
            for warning in &imported.warnings {
                writeln!(out, "{warning}")?;
            }
            for link in &imported.model.unresolved {
                writeln!(out, "unresolved: {}: {}", link.subject, link.reason)?;
            }
            writeln!(out, "{}", summary(&imported.model))?;
            if let Some(line) = editions(&imported.cgmes_versions) {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            if strict && !imported.model.unresolved.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        ModelCommand::Show { model, point, equipment, tree } => {
            let model = read(&model)?;
            let mut out = std::io::stdout().lock();
            if let Some(reference) = point {
                let found = model.points.iter().find(|(id, _)| id.as_str() == reference).map(|(_, p)| p);
                let point = found.with_context(|| format!("no point `{reference}` in the model"))?;
                writeln!(out, "{}", serde_json::to_string_pretty(point)?)?;
            } else if let Some(wanted) = equipment {
                let node = model.find_equipment(&wanted).with_context(|| format!("no equipment `{wanted}` in the model"))?;
                writeln!(out, "{}", serde_json::to_string_pretty(node)?)?;
            } else if tree {
                write_tree(&mut out, &model)?;
            } else {
                for source in &model.sources {
                    writeln!(out, "source {} {} sha256:{} ({} bytes)", source.kind, source.path, source.sha256, source.bytes)?;
                }
                for link in &model.unresolved {
                    writeln!(out, "unresolved: {}: {}", link.subject, link.reason)?;
                }
                writeln!(out, "{}", summary(&model))?;
            }
            Ok(())
        }
        ModelCommand::Diff { before, after, json } => {
            let (before, after) = match (read(&before), read(&after)) {
                (Ok(before), Ok(after)) => (before, after),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: {e:#}");
                    std::process::exit(2);
                }
            };
            let diff = before.diff(&after);
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&diff)?)?;
            } else if diff.is_empty() {
                writeln!(out, "no differences")?;
            } else {
                write!(out, "{diff}")?;
            }
            out.flush()?;
            if !diff.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn read(path: &Path) -> anyhow::Result<GridModel> {
    Ok(GridModel::read(path)?)
}

/// Reports each CGMES file as it starts, every 10 % of files over 4 MiB, and as it ends.
fn progress_on_stderr() -> impl FnMut(ProgressUpdate<'_>) {
    const LARGE: u64 = 4 << 20;
    let mut last_tenth = None;
    move |update: ProgressUpdate<'_>| {
        let Some(total) = update.total_bytes.filter(|&t| t > 0) else {
            return;
        };
        let tenth = update.bytes_read.saturating_mul(10) / total;
        if update.bytes_read == 0 {
            eprintln!("reading {} ({total} bytes)", update.file);
            last_tenth = Some(0);
        } else if total >= LARGE && last_tenth.is_some_and(|last| tenth > last) && update.bytes_read < total {
            eprintln!("  {}: {}%", update.file, tenth * 10);
            last_tenth = Some(tenth);
        }
    }
}

fn build(inputs: &InputArgs) -> anyhow::Result<Imported> {
    match import_files(&inputs.inputs()?, progress_on_stderr()) {
        Ok(imported) => Ok(imported),
        Err(failed) => {
            report_failure(&failed);
            anyhow::bail!("{failed}")
        }
    }
}

/// Reads every SCL input strictly, printing each deviation as an error; true when none has any.
/// The model is then built as usual: strictness is a check of the files, the model is the same.
fn scl_conforms(inputs: &InputArgs) -> bool {
    let mut conforms = true;
    for path in &inputs.scl {
        if let Err(failed) = gridtrust_scl::import_file_as(path, gridtrust_scl::Mode::Strict) {
            conforms = false;
            for error in &failed.errors {
                eprintln!("error: {error}");
            }
        }
    }
    conforms
}

fn report_failure(failed: &ImportErrors) {
    for warning in &failed.warnings {
        eprintln!("{warning}");
    }
    for error in &failed.errors {
        eprintln!("error: {error}");
    }
}

/// The CGMES editions read, e.g. "CGMES edition: CGMES 3.0"; `None` without CGMES input.
fn editions(versions: &[CgmesVersion]) -> Option<String> {
    let names: Vec<String> = versions.iter().map(ToString::to_string).collect();
    match names.as_slice() {
        [] => None,
        [one] => Some(format!("CGMES edition: {one}")),
        several => Some(format!("CGMES editions: {}", several.join(", "))),
    }
}

fn summary(model: &GridModel) -> String {
    let linked = |source: LinkSource| model.points.values().filter(|p| p.link == Some(source)).count();
    let with_measurement = model.points.values().filter(|p| p.cim.measurement.is_some()).count();
    format!(
        "{} points ({} linked by mapping file, {} by SCD LNode, {} by name; {} with a CIM measurement), {} equipment, {} CIM measurements, {} unresolved links",
        model.points.len(),
        linked(LinkSource::MappingFile),
        linked(LinkSource::ScdLnode),
        linked(LinkSource::Name),
        with_measurement,
        model.equipment().count(),
        model.equipment().map(|e| e.measurements.len()).sum::<usize>(),
        model.unresolved.len()
    )
}

fn write_equipment(out: &mut impl Write, indent: &str, node: &EquipmentNode) -> std::io::Result<()> {
    let mrid = node.mrid.as_deref().map(|m| format!(" mRID {m}")).unwrap_or_default();
    writeln!(out, "{indent}{} [{}]{mrid}", node.name, node.kind)?;
    for measurement in &node.measurements {
        let kind = measurement.measurement_type.as_deref().unwrap_or("?");
        writeln!(out, "{indent}  ~ {} {kind} mRID {}", measurement.class, measurement.mrid)?;
    }
    for point in &node.points {
        writeln!(out, "{indent}  * {point}")?;
    }
    Ok(())
}

fn write_tree(out: &mut impl Write, model: &GridModel) -> std::io::Result<()> {
    for substation in &model.substations {
        writeln!(out, "{}", substation.name)?;
        for node in &substation.equipment {
            write_equipment(out, "  ", node)?;
        }
        for level in &substation.voltage_levels {
            let kv = level.nominal_kv.map(|kv| format!(" ({kv} kV)")).unwrap_or_default();
            writeln!(out, "  {}{kv}", level.name)?;
            for node in &level.equipment {
                write_equipment(out, "    ", node)?;
            }
            for bay in &level.bays {
                writeln!(out, "    {}", bay.name)?;
                for node in &bay.equipment {
                    write_equipment(out, "      ", node)?;
                }
            }
        }
    }
    for line in &model.lines {
        writeln!(out, "line {}", line.name)?;
        for node in &line.equipment {
            write_equipment(out, "  ", node)?;
        }
    }
    let unplaced: Vec<_> = model.points.values().filter(|p| p.equipment.is_none()).collect();
    if !unplaced.is_empty() {
        writeln!(out, "points not on equipment")?;
        for point in unplaced {
            writeln!(out, "  * {}", point.reference)?;
        }
    }
    Ok(())
}
