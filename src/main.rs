//! `sinkwatch`: see README.md. Exit status: 0 done, 2 usage or config error,
//! 1 runtime failure — each with one clear line on stderr.

use std::process::ExitCode;

use clap::Parser;

use sinkwatch::cli::{Cli, Command};
use sinkwatch::run::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = sinkwatch::logging::init();
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Config) => {
            print!("{}", sinkwatch::config::DEFAULT_CONFIG);
            Ok(())
        }
        Some(cmd) => sinkwatch::commands::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("sinkwatch: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("sinkwatch: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(args: sinkwatch::cli::RunArgs) -> Result<(), Failure> {
    let (file, path) = sinkwatch::config::load(args.config.as_deref())?;
    let settings = sinkwatch::config::merge(&args, file, path)?;
    sinkwatch::run::run_sink(settings)
}
