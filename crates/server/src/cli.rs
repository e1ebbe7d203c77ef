//! The command line: `strata serve [flags]`.

use crate::config::{Config, ConfigError, Settings};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: a metrics collection service and time-series store"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server. Every setting is read from its flag, else its METRICS_*
    /// environment variable, else the --config file, else its default.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// YAML file of settings; its keys are the flag names with `_` for `-`, plus a
    /// `retention_policies` block.
    #[arg(long, env = "METRICS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: Settings,
}

impl ServeArgs {
    /// The flags and environment over the file over the defaults.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => Settings::from_yaml_file(path)?,
            None => Settings::default(),
        };
        Config::resolve(self.settings.or(file))
    }
}

/// Exit status of a bad command line or setting, as clap uses for usage errors.
const EXIT_USAGE: u8 = 2;

/// Parses the command line, then runs the command.
pub fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    let config = match args.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("strata: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .expect("the log filter was checked with the configuration"),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::serve::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("strata: {e}");
            ExitCode::FAILURE
        }
    }
}
