//! `rr`: a RoadRunner-compatible PHP application server whose PHP workers are
//! threads of this process.

mod cells;
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
    /// `rr stop`: signal twice (a second signal forces the exit).
    #[arg(short = 'f', long = "force", global = true)]
    force: bool,
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
    /// Stop the server whose PID is in ./.pid (written by `rr serve -p`):
    /// SIGTERM, as RoadRunner's `rr stop`.
    Stop,
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

/// RoadRunner's `rr stop`: SIGTERM to the PID in ./.pid (in the working
/// directory the config and `-w` give), and with `-f` a second SIGTERM a
/// second later (the server then exits at once). It does not wait.
fn stop(force: bool, silent: bool) -> Result<(), String> {
    use nix::sys::signal::{kill, Signal};
    let data = std::fs::read_to_string(".pid").map_err(|e| {
        format!(
            "open .pid: {e}, to create a .pid file, you must run RR with the following options: './rr serve -p'"
        )
    })?;
    let pid: i32 = data
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("rr_stop: ./.pid holds no PID: {:?}", data.trim()))?;
    if !silent {
        eprintln!("stopping process with PID: {pid}");
    }
    let pid = nix::unistd::Pid::from_raw(pid);
    kill(pid, Signal::SIGTERM).map_err(|e| format!("rr_stop: {e}"))?;
    if force {
        // The server may miss a second signal sent at once.
        std::thread::sleep(std::time::Duration::from_secs(1));
        kill(pid, Signal::SIGTERM).map_err(|e| format!("rr_stop: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    cells::remember_start_dir();
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
    if let Command::Stop = command {
        return match stop(cli.force, cli.silent) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
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
        Command::PhpCli { .. } | Command::Stop => {
            unreachable!("handled before the config is read")
        }
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
            if test {
                // `--test` rejects what a normal start only warns about
                // (unknown keys, unsupported plugin sections, bare-number
                // durations...), all of them at once.
                let problems: Vec<&String> = cfg
                    .warnings
                    .iter()
                    .filter(|w| config::is_problem(w))
                    .collect();
                if !problems.is_empty() {
                    for w in cfg.warnings.iter().filter(|w| !config::is_problem(w)) {
                        eprintln!("rr: {w}");
                    }
                    let mut msg = format!(
                        "serve --test: {} config problem(s); nothing was started:",
                        problems.len()
                    );
                    for w in problems {
                        msg.push_str("\n  ");
                        msg.push_str(w);
                    }
                    return fail(msg);
                }
                // Next to a live server: no real port, no real RPC socket.
                serve::test_addresses(&mut cfg);
            }
            // The supervisor of cells logged them already: once, not once a cell.
            if cells::cell_index().is_none() {
                for w in &cfg.warnings {
                    tracing::warn!("{w}");
                }
            }
            // (A cell's supervisor writes the pid file; --test never does.)
            let pid_file = cli.pid && cells::cell_index().is_none() && !test;
            if pid_file {
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
            if pid_file {
                let _ = std::fs::remove_file(Path::new(".pid"));
            }
            if let Err(e) = &res {
                tracing::error!("{e:#}");
            }
            // The rotated log files' writer threads hold the last lines.
            observe::flush_logs();
            match res {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}")),
            }
        }
    }
}
