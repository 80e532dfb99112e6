//! `gridtrust keys`: provision a role's key and show its public key, from the same key
//! configuration the role runs with, so the key an operator generates is the key the role opens.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

/// `gridtrust keys generate|public`.
#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Generate the configured key and print its public key (SPKI PEM).
    ///
    /// A `pkcs11` key is generated inside the token and never leaves it; a `software` key is
    /// written as a new PEM file (development only). An existing key is never replaced.
    Generate(KeyLocation),
    /// Print the configured key's public key as SPKI PEM (for certificates and `openssl`).
    Public(KeyLocation),
}

/// Where the key configuration is.
#[derive(clap::Args)]
struct KeyLocation {
    /// A TOML file holding a key table: a role's configuration, or a file with just `[key]`.
    /// Relative paths in it are relative to the file.
    #[arg(long)]
    config: PathBuf,
    /// The table holding the key configuration, as a dotted path (`key`, `edge.key`).
    #[arg(long, default_value = "key")]
    key_table: String,
}

/// Runs a `gridtrust keys` subcommand. Blocking (PKCS#11 calls are synchronous); it is a one-shot
/// command, so it does not need its own thread.
pub fn run(args: KeysArgs) -> anyhow::Result<()> {
    execute(args, &mut std::io::stdout().lock())
}

fn execute(args: KeysArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (KeysCommand::Generate(location) | KeysCommand::Public(location)) = &args.command;
    let config = gridtrust_keys::load_key_config(&location.config, &location.key_table)?;
    let base = gridtrust_config::base_dir(&location.config);
    let signer = match args.command {
        KeysCommand::Generate(_) => {
            let signer = gridtrust_keys::generate(&config, base).context("generating the key")?;
            eprintln!("generated {}", signer.describe());
            signer
        }
        KeysCommand::Public(_) => gridtrust_keys::open(&config, base).context("opening the key")?,
    };
    out.write_all(gridtrust_keys::spki_pem(&signer.public_key()).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        keys: KeysArgs,
    }

    fn execute_line(line: &[&str]) -> anyhow::Result<String> {
        let cli = Cli::try_parse_from(std::iter::once("keys").chain(line.iter().copied()))?;
        let mut out = Vec::new();
        execute(cli.keys, &mut out)?;
        Ok(String::from_utf8(out)?)
    }

    #[test]
    fn generate_then_public_print_the_same_spki_pem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("edge.toml");
        std::fs::write(&file, "[edge.key]\nkind = \"software\"\npath = \"edge-key.pem\"\n").unwrap();
        let config = file.to_str().unwrap();
        let generated = execute_line(&["generate", "--config", config, "--key-table", "edge.key"]).unwrap();
        assert!(generated.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{generated}");
        assert!(dir.path().join("edge-key.pem").exists(), "relative to the config file");
        let public = execute_line(&["public", "--config", config, "--key-table", "edge.key"]).unwrap();
        assert_eq!(public, generated);
        let again = execute_line(&["generate", "--config", config, "--key-table", "edge.key"]).unwrap_err();
        assert!(format!("{again:#}").contains("already exists"), "{again:#}");
    }

    #[test]
    fn pin_in_the_key_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hub.toml");
        std::fs::write(&file, "[key]\nkind = \"pkcs11\"\nmodule = \"/m.so\"\ntoken_label = \"t\"\nkey_label = \"k\"\npin = \"1234\"\n")
            .unwrap();
        let error = execute_line(&["public", "--config", file.to_str().unwrap()]).unwrap_err();
        assert!(format!("{error:#}").contains("`pin`"), "{error:#}");
    }
}
