//! `rr`: a RoadRunner-compatible PHP application server whose PHP workers are
//! threads of this process.

mod cli;
mod config;
mod http;
mod limits;
mod observe;
mod php;
mod phplib;
mod pool;
mod relay;
mod rpc;
mod serve;
mod user;

/// Rust's allocations (request and response bodies, frames) cross threads:
/// allocated on a tokio thread, freed on a PHP worker thread and back. With
/// glibc's per-thread arenas that pattern kept returning pages to the kernel
/// (page faults and memmove dominated a 100 KB POST echo in perf); mimalloc's
/// thread-free lists keep them. PHP's own allocations use the Zend allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "rr",
    about = "RoadRunner-compatible PHP application server with in-process workers",
    disable_version_flag = true
)]
struct Cli {
    /// Config file [default: .rr.yaml].
    #[arg(short = 'c', long = "config", global = true)]
    config: Option<PathBuf>,
    /// Working directory (default: the config file's folder).
    #[arg(short = 'w', long = "WorkDir", global = true)]
    workdir: Option<PathBuf>,
    /// Load this .env file first (does not overwrite variables already set);
    /// the DOTENV_PATH environment variable, when set, wins over the flag.
    #[arg(long = "dotenv", global = true)]
    dotenv: Option<PathBuf>,
    /// Override a config key: -o http.pool.num_workers=2 (repeatable).
    #[arg(short = 'o', long = "override", global = true)]
    overrides: Vec<String>,
    /// Do not print the start-up banner and reset progress.
    #[arg(short = 's', long = "silent", global = true)]
    silent: bool,
    /// Debug mode: log everything at debug level.
    #[arg(short = 'd', long = "debug", global = true)]
    debug: bool,
    /// Write the server's PID to ./.pid.
    #[arg(short = 'p', long = "pid", global = true)]
    pid: bool,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server.
    Serve {
        /// Validate the config, start the workers, stop, and exit 0 if all went well.
        #[arg(short = 't', long = "test")]
        test: bool,
    },
    /// Show the workers of a running server (over RPC).
    Workers {
        /// Redraw every second until interrupted.
        #[arg(short = 'i', long = "interactive")]
        interactive: bool,
        /// Plugins (default: every plugin with workers).
        plugins: Vec<String>,
    },
    /// Restart the workers of a running server at their request boundaries.
    Reset {
        /// Plugins (default: every plugin that can be reset).
        plugins: Vec<String>,
    },
    /// Run the embedded PHP as a command-line interpreter (php's options:
    /// -v, -r code, -d k=v, -m, -i, script args...).
    #[command(name = "php-cli", disable_help_flag = true)]
    PhpCli {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rr: {msg}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    // `rr php-cli ...` and a `php` link to rr take php's own options.
    if let Some(code) = cli::dispatch() {
        return code;
    }
    let cli = Cli::parse();
    if cli.version {
        println!(
            "rr version {} (rustrunner, in-process PHP {}), OS: {}, arch: {}",
            serve::VERSION,
            php::Engine::version(),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        return fail("no command given; try `rr serve` or `rr --help`");
    };
    if let Command::PhpCli { args } = command {
        return cli::run(args, None);
    }

    // As RoadRunner: the config path is made absolute, the working directory
    // becomes its folder, then -w (relative to that folder) if given.
    // Without -c, RoadRunner reads ./.rr.yaml; when there is none and -w is
    // given, we also look in the -w folder (RoadRunner would fail).
    let in_workdir = cli.config.is_none() && !Path::new(".rr.yaml").exists();
    let config = match (&cli.config, &cli.workdir) {
        (Some(c), _) => c.clone(),
        (None, Some(w)) if in_workdir => w.join(".rr.yaml"),
        (None, _) => PathBuf::from(".rr.yaml"),
    };
    let config_file = std::path::absolute(&config).unwrap_or(config);
    if let Some(dir) = config_file.parent().filter(|d| d.is_dir()) {
        if let Err(e) = std::env::set_current_dir(dir) {
            return fail(format!("cannot change to {}: {e}", dir.display()));
        }
    }
    // (When the config was found in the -w folder, we are there already.)
    if let Some(dir) = cli.workdir.as_ref().filter(|_| !in_workdir) {
        if let Err(e) = std::env::set_current_dir(dir) {
            return fail(format!(
                "cannot change to the working directory {}: {e}",
                dir.display()
            ));
        }
    }
    let dotenv = std::env::var_os("DOTENV_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or(cli.dotenv.clone());
    if let Some(env) = &dotenv {
        if let Err(e) = dotenvy::from_path(env) {
            return fail(format!(
                "cannot load the dotenv file {}: {e}",
                env.display()
            ));
        }
    }
    let mut cfg = match config::load(&config_file, &cli.overrides) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };

    match command {
        Command::Workers {
            interactive,
            plugins,
        } => match rpc::cli::workers(&cfg, interactive, &plugins) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Reset { plugins } => match rpc::cli::reset(&cfg, &plugins, cli.silent) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::PhpCli { .. } => unreachable!("handled before the config is read"),
        Command::Serve { test } => {
            if cli.debug {
                cfg.logs.level = "debug".into();
                for (_, ch) in cfg.logs.channels.iter_mut() {
                    ch.level = "debug".into();
                }
            }
            if let Err(e) = observe::init(&cfg.logs) {
                return fail(format!("config error in {}: logs: {e}", cfg.file.display()));
            }
            for w in &cfg.warnings {
                tracing::warn!("{w}");
            }
            if cli.pid {
                if let Err(e) = std::fs::write(".pid", std::process::id().to_string()) {
                    return fail(format!("cannot write ./.pid: {e}"));
                }
            }
            let res = serve::run(
                cfg,
                serve::Options {
                    test,
                    silent: cli.silent,
                },
            );
            if cli.pid {
                let _ = std::fs::remove_file(Path::new(".pid"));
            }
            match res {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    fail(format!("{e:#}"))
                }
            }
        }
    }
}
