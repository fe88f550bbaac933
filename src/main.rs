//! `rr`: a RoadRunner-compatible PHP application server whose PHP workers are
//! threads of this process.

mod cli;
mod config;
mod http;
mod observe;
mod php;
mod phplib;
mod pool;
mod relay;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "rr", version = serve::VERSION, about = "RoadRunner-compatible PHP application server with in-process workers")]
struct Cli {
    /// Config file (relative to -w when given).
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        default_value = ".rr.yaml"
    )]
    config: PathBuf,
    /// Working directory: chdir here before reading the config.
    #[arg(short = 'w', long = "WorkDir", global = true)]
    workdir: Option<PathBuf>,
    /// Override a config key: -o http.pool.num_workers=2 (repeatable).
    #[arg(short = 'o', long = "override", global = true)]
    overrides: Vec<String>,
    /// Silent mode (accepted for compatibility).
    #[arg(short = 's', long = "silent", global = true)]
    silent: bool,
    /// Debug mode: logs at debug level.
    #[arg(short = 'd', long = "debug", global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server.
    Serve,
    /// Run the embedded PHP as a command-line interpreter (php's options:
    /// -v, -r code, -d k=v, -m, -i, script args...).
    #[command(name = "php-cli", disable_help_flag = true)]
    PhpCli {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

fn main() -> ExitCode {
    // `rr php-cli ...` and a `php` link to rr take php's own options.
    if let Some(code) = cli::dispatch() {
        return code;
    }
    let cli = Cli::parse();
    if let Some(dir) = &cli.workdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            eprintln!(
                "rr: cannot change to the working directory {}: {e}",
                dir.display()
            );
            return ExitCode::from(1);
        }
    }
    match cli.command {
        Command::PhpCli { args } => cli::run(args, None),
        Command::Serve => {
            let mut cfg = match config::load(&cli.config, &cli.overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("rr: {e}");
                    return ExitCode::from(1);
                }
            };
            if cli.debug {
                cfg.logs.level = "debug".into();
            }
            // RoadRunner runs from the config's folder.
            if let Err(e) = std::env::set_current_dir(&cfg.dir) {
                eprintln!("rr: cannot change to {}: {e}", cfg.dir.display());
                return ExitCode::from(1);
            }
            observe::init(&cfg.logs);
            match serve::run(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("rr: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
