//! `rr php-cli [args]`: the embedded PHP as a command-line interpreter, so an
//! image with `rr` needs no separate `php` (`rr php-cli bin/console
//! cache:clear`, `rr php-cli composer.phar install`).
//!
//! A hard link (or a copy) of `rr` named `php` behaves as `rr php-cli`, and is
//! what PHP_BINARY points to when it exists next to `rr`: Composer's `@php`
//! scripts and Symfony's PhpExecutableFinder run PHP_BINARY with php's own
//! options. A *symbolic* link named `php` also runs the CLI, but PHP resolves
//! PHP_BINARY with realpath(), which lands on `rr` itself.
//!
//! Supported options: `-v`, `-r code`, `-d key[=value]`, `-m`, `-i`, `-n`,
//! `-c path`, `-f file`, `-l`, `-q`, `-H`, `-e`, `--ini`, `-h`, `-a`, `--`, a
//! script (or `-` / nothing: the script comes from stdin) and its arguments.
//! Not supported: the built-in web server (`-S`, `-t`), `-s`, `-w`, `-z`,
//! `-B/-R/-F/-E`.
//!
//! `-a` is a shell of our own, written in PHP (`SHELL_CODE`): php-cli's
//! shell lives in its SAPI (sapi/cli's shell callbacks), which an embedding
//! does not have. Ours reads lines with the readline extension (history,
//! line editing on a terminal), waits for more while brackets are open or
//! the statement has no `;`/`}` yet, and evaluates each statement in one
//! global scope, so variables, functions and classes stay defined.

use crate::php::{CliMode, Engine, Host, LogLevel, NativeRequest, PhpThread, StartOptions};
use std::ffi::{CStr, CString, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// When rr runs as the CLI: `rr php-cli ...` or argv[0] named `php*`.
/// Returns the exit code to leave with, or None to go on as `rr`.
pub fn dispatch() -> Option<ExitCode> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_php_name(&name) {
        args.remove(0);
        return Some(run(args, Some(argv0)));
    }
    if args.get(1).is_some_and(|a| a == "php-cli") {
        return Some(run(args.split_off(2), None));
    }
    None
}

fn is_php_name(name: &str) -> bool {
    name == "php"
        || (name.starts_with("php")
            && name[3..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-'))
}

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Invocation {
    pub ini: Vec<(String, String)>,
    pub no_ini: bool,
    pub ini_path: Option<String>,
    pub action: Action,
    /// `$argv`: the script (or "Standard input code") and its arguments.
    pub argv: Vec<String>,
}

#[derive(Debug, Default, PartialEq)]
pub enum Action {
    #[default]
    Script,
    Code(String),
    Lint,
    Version,
    Modules,
    Info,
    IniFiles,
    Help,
    Interactive,
}

const STDIN_CODE: &str = "Standard input code";

/// Parse php's command line (options end at the script or `--`).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut inv = Invocation::default();
    let mut script: Option<String> = None;
    let mut i = 0;
    fn set_action(inv: &mut Invocation, a: Action) -> Result<(), String> {
        if inv.action != Action::Script && inv.action != a {
            return Err("Either execute direct code, process stdin or use a file.".into());
        }
        inv.action = a;
        Ok(())
    }
    let value = |i: &mut usize, opt: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("option {opt} needs an argument"))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--" => {
                i += 1;
                break;
            }
            "-" => break,
            "-v" | "--version" => set_action(&mut inv, Action::Version)?,
            "-m" | "--modules" => set_action(&mut inv, Action::Modules)?,
            "-i" | "--info" => set_action(&mut inv, Action::Info)?,
            "--ini" => set_action(&mut inv, Action::IniFiles)?,
            "-h" | "--help" | "-?" | "--usage" => set_action(&mut inv, Action::Help)?,
            "-l" | "--syntax-check" => set_action(&mut inv, Action::Lint)?,
            "-a" | "--interactive" => set_action(&mut inv, Action::Interactive)?,
            "-n" | "--no-php-ini" => inv.no_ini = true,
            "-q" | "--no-header" | "-H" | "--hide-args" | "-e" | "--profile-info" => {}
            "-r" | "--run" => {
                let code = value(&mut i, a)?;
                set_action(&mut inv, Action::Code(code))?;
            }
            "-d" | "--define" => {
                let kv = value(&mut i, a)?;
                inv.ini.push(split_define(&kv));
            }
            "-c" | "--php-ini" => inv.ini_path = Some(value(&mut i, a)?),
            "-f" | "--file" => {
                script = Some(value(&mut i, a)?);
                i += 1;
                break;
            }
            _ if a.starts_with("-d") => inv.ini.push(split_define(&a[2..])),
            _ if a.starts_with("-r") && a.len() > 2 => {
                set_action(&mut inv, Action::Code(a[2..].to_string()))?
            }
            _ if a.starts_with("-c") && a.len() > 2 => inv.ini_path = Some(a[2..].to_string()),
            "-S" | "-t" | "-s" | "--syntax-highlight" | "-w" | "--strip" | "-z"
            | "--zend-extension" | "-B" | "-R" | "-F" | "-E" | "--process-begin"
            | "--process-code" | "--process-file" | "--process-end" | "--rf" | "--rc" | "--re"
            | "--rz" | "--ri" => {
                return Err(format!("option {a} is not supported by rr php-cli"));
            }
            _ if a.starts_with('-') && a.len() > 1 => {
                return Err(format!(
                    "unknown option {a} (rr php-cli -h lists the options)"
                ));
            }
            _ => break,
        }
        i += 1;
    }
    let rest: Vec<String> = args.get(i..).unwrap_or(&[]).to_vec();
    let mut rest = rest.into_iter();
    match &inv.action {
        Action::Code(_) | Action::Interactive => {
            inv.argv.push(STDIN_CODE.into());
            inv.argv.extend(rest);
        }
        Action::Script | Action::Lint => {
            let s = script.or_else(|| rest.next());
            match s.as_deref() {
                None | Some("-") => {
                    if inv.action == Action::Lint {
                        return Err("-l needs a file".into());
                    }
                    inv.argv.push(STDIN_CODE.into());
                }
                Some(s) => inv.argv.push(s.to_string()),
            }
            inv.argv.extend(rest);
        }
        _ => {}
    }
    Ok(inv)
}

fn split_define(kv: &str) -> (String, String) {
    match kv.split_once('=') {
        Some((k, v)) => (k.trim().to_string(), v.to_string()),
        None => (kv.trim().to_string(), "1".to_string()),
    }
}

/// php-cli's built-in defaults (sapi/cli/php_cli.c INI_DEFAULT), then the
/// `-d` settings.
fn cli_ini(inv: &Invocation) -> String {
    let mut ini = String::from(
        "display_errors=1\n\
         register_argc_argv=1\n\
         html_errors=0\n\
         implicit_flush=1\n\
         output_buffering=0\n\
         max_execution_time=0\n\
         max_input_time=-1\n\
         apc.enable_cli=1\n",
    );
    // apc.enable_cli=1 as in the workers (PHP's own CLI defaults it to 0).
    if let Some(so) = opcache_so() {
        ini.push_str(&format!("zend_extension={}\n", so.display()));
    }
    for (k, v) in &inv.ini {
        // As php-cli: a value starting with a character other than a letter,
        // a digit or a quote is quoted; others (E_ALL & ~E_NOTICE, On, 1G)
        // keep php.ini's meaning.
        let first = v.chars().next();
        if first.is_some_and(|c| !c.is_ascii_alphanumeric() && c != '"' && c != '\'') {
            ini.push_str(&format!("{k}=\"{v}\"\n"));
        } else {
            ini.push_str(&format!("{k}={v}\n"));
        }
    }
    ini
}

/// opcache.so when OPcache is not linked in (same places `rr serve` looks).
fn opcache_so() -> Option<PathBuf> {
    if Engine::opcache_builtin() {
        return None;
    }
    crate::serve::opcache_extension()
}

/// PHP_BINARY: what re-runs this CLI with php's options. `RR_PHP_BINARY`
/// wins; then argv[0] when we were started as `php`; then a `php` next to
/// the rr binary that is the same file (hard link) or a wrapper script;
/// last the rr binary itself (then `PHP_BINARY -d ... x.php` does not work).
fn php_binary(argv0: Option<&OsString>) -> Option<String> {
    if let Ok(p) = std::env::var("RR_PHP_BINARY") {
        return Some(p);
    }
    if let Some(a) = argv0 {
        return Some(a.to_string_lossy().into_owned());
    }
    let exe = std::env::current_exe().ok()?;
    if let Some(dir) = exe.parent() {
        let php = dir.join("php");
        if let (Ok(m), Ok(me)) = (std::fs::metadata(&php), std::fs::metadata(&exe)) {
            use std::os::unix::fs::MetadataExt;
            let same = m.ino() == me.ino() && m.dev() == me.dev();
            let is_link = std::fs::symlink_metadata(&php).is_ok_and(|l| l.file_type().is_symlink());
            if same && !is_link || !same && m.len() < 4096 {
                return Some(php.to_string_lossy().into_owned());
            }
        }
    }
    Some(exe.to_string_lossy().into_owned())
}

const HELP: &str = "Usage: rr php-cli [options] [-f] <file> [--] [args...]
   rr php-cli [options] -r <code> [--] [args...]
   rr php-cli [options] -- [args...]   (script from stdin)

  -c <path>|<file> Look for php.ini file in this directory
  -n               No configuration (ini) files will be used
  -d foo[=bar]     Define INI entry foo with value 'bar'
  -f <file>        Parse and execute <file>.
  -h               This help
  -i               PHP information
  -l               Syntax check only (lint)
  -m               Show compiled in modules
  -r <code>        Run PHP <code> without using script tags <?..?>
  -v               Version number
  -a               Run as interactive shell
  --ini            Show configuration file names

  args...          Arguments passed to script. Use -- args when first argument
                   starts with - or script is read from stdin

A file named `php` that is a hard link to rr runs as `rr php-cli`.
Not supported: -S/-t (built-in web server), -s, -w, -z, -B/-R/-F/-E.
";

/// Run the CLI with php's arguments; returns the script's exit status.
pub fn run(args: Vec<OsString>, argv0: Option<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let inv = match parse(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rr php-cli: {e}");
            return ExitCode::from(1);
        }
    };
    if inv.action == Action::Help {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if let Some(first) = inv.argv.first() {
        if matches!(inv.action, Action::Script | Action::Lint)
            && first != STDIN_CODE
            && !Path::new(first).is_file()
        {
            eprintln!("Could not open input file: {first}");
            return ExitCode::from(1);
        }
    }
    let opts = StartOptions {
        executable: php_binary(argv0.as_ref()),
        no_ini: inv.no_ini,
        ini_path: inv.ini_path.clone(),
        worker_functions: false,
        memory_ceiling: 0,
    };
    // The PHP thread takes the process signals (pcntl_signal works): block
    // them here before it starts, it unblocks them for itself.
    Engine::block_process_signals();
    let engine = match Engine::start_with(&cli_ini(&inv), &opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rr php-cli: PHP failed to start: {e}");
            return ExitCode::from(1);
        }
    };
    if inv.action == Action::Version {
        print!("{}", engine.version_banner());
        let _ = std::io::stdout().flush();
        let _ = engine.shutdown();
        return ExitCode::SUCCESS;
    }
    let (argv, code) = match &inv.action {
        Action::Script | Action::Lint => (inv.argv.clone(), None),
        Action::Code(c) => (inv.argv.clone(), Some(c.clone())),
        Action::Modules => (vec![STDIN_CODE.into()], Some(MODULES_CODE.to_string())),
        Action::Info => (vec![STDIN_CODE.into()], Some("phpinfo();".to_string())),
        Action::IniFiles => (vec![STDIN_CODE.into()], Some(INI_CODE.to_string())),
        Action::Interactive => (inv.argv.clone(), Some(SHELL_CODE.to_string())),
        Action::Version | Action::Help => unreachable!(),
    };
    let lint = inv.action == Action::Lint;
    let script = match argv.first().map(String::as_str) {
        // The script comes from stdin.
        Some(STDIN_CODE) if code.is_none() => "php://stdin".to_string(),
        Some(s) => s.to_string(),
        None => String::new(),
    };
    let status = std::thread::Builder::new()
        .name("php-cli".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let mut thread = PhpThread::enter();
            let mut host = CliHost::new();
            let mode = match (&code, lint) {
                (Some(c), _) => CliMode::Code(c),
                (None, true) => CliMode::Lint,
                (None, false) => CliMode::Script,
            };
            let r = thread.run_cli(&mut host, &script, &argv, mode);
            drop(thread);
            r.exit_status
        })
        .map(|h| h.join().unwrap_or(255));
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rr php-cli: cannot start the PHP thread: {e}");
            255
        }
    };
    let _ = engine.shutdown();
    ExitCode::from(status.clamp(0, 255) as u8)
}

/// php -m.
const MODULES_CODE: &str = r#"$m = get_loaded_extensions(false);
usort($m, 'strcasecmp');
echo "[PHP Modules]\n", implode("\n", $m), "\n\n[Zend Modules]\n";
$z = get_loaded_extensions(true);
usort($z, 'strcasecmp');
echo $z ? implode("\n", $z) . "\n" : "", "\n";"#;

/// php -a: read a statement, evaluate it, again. The shell's own
/// variables start with `__rr_` so the user's code does not meet them.
const SHELL_CODE: &str = r#"echo "Interactive shell\n\n";
$__rr_read = function_exists('readline')
    ? static fn (string $p) => readline($p)
    : static function (string $p) { echo $p; $l = fgets(STDIN); return $l === false ? false : rtrim($l, "\r\n"); };
$__rr_buf = '';
while (true) {
    $__rr_line = $__rr_read($__rr_buf === '' ? 'php > ' : 'php * ');
    if ($__rr_line === false) {
        echo "\n";
        break;
    }
    if ($__rr_buf === '' && trim($__rr_line) === '') {
        continue;
    }
    if (function_exists('readline_add_history') && trim($__rr_line) !== '') {
        readline_add_history($__rr_line);
    }
    if ($__rr_buf === '' && in_array(trim($__rr_line), ['exit', 'quit'], true)) {
        break;
    }
    $__rr_buf .= $__rr_line . "\n";
    $__rr_depth = 0;
    foreach (token_get_all('<?php ' . $__rr_buf) as $__rr_t) {
        if (is_string($__rr_t)) {
            $__rr_depth += (int) in_array($__rr_t, ['(', '[', '{'], true) - (int) in_array($__rr_t, [')', ']', '}'], true);
        } elseif (in_array($__rr_t[0], [T_CURLY_OPEN, T_DOLLAR_OPEN_CURLY_BRACES], true)) {
            $__rr_depth++;
        }
    }
    $__rr_last = substr(rtrim($__rr_buf), -1);
    if ($__rr_depth > 0 || ($__rr_last !== ';' && $__rr_last !== '}')) {
        continue;
    }
    try {
        eval($__rr_buf);
    } catch (\Throwable $__rr_e) {
        echo PHP_EOL, get_class($__rr_e), ': ', $__rr_e->getMessage(), ' on line ', $__rr_e->getLine(), PHP_EOL;
    }
    $__rr_buf = '';
}"#;

/// php --ini.
const INI_CODE: &str = r#"echo "Configuration File (php.ini) Path: ", PHP_CONFIG_FILE_PATH, "\n",
  "Loaded Configuration File:         ", php_ini_loaded_file() ?: "(none)", "\n",
  "Scan for additional .ini files in: ", PHP_CONFIG_FILE_SCAN_DIR !== "" ? PHP_CONFIG_FILE_SCAN_DIR : "(none)", "\n",
  "Additional .ini files parsed:      ", php_ini_scanned_files() ?: "(none)", "\n";"#;

/// The command line's host: the process's own environment and stdio.
/// putenv() changes the real environment (the CLI has one PHP thread, and
/// child processes must see it, as with php-cli).
struct CliHost {
    env: Vec<(Vec<u8>, Vec<u8>)>,
    cache: Option<CString>,
}

impl CliHost {
    fn new() -> CliHost {
        let mut h = CliHost {
            env: Vec::new(),
            cache: None,
        };
        h.snapshot();
        h
    }

    fn snapshot(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        self.env = std::env::vars_os()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
    }
}

impl Host for CliHost {
    fn output(&mut self, data: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(data);
        let _ = out.flush();
    }
    fn log(&mut self, msg: &[u8], _level: LogLevel) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(msg);
        let _ = err.write_all(b"\n");
    }
    fn stderr(&mut self, data: &[u8]) {
        let _ = std::io::stderr().lock().write_all(data);
    }
    fn relay_read(&mut self, buf: &mut [u8]) -> usize {
        std::io::stdin().lock().read(buf).unwrap_or(0)
    }
    fn relay_write(&mut self, data: &[u8]) -> usize {
        self.output(data);
        data.len()
    }
    fn relay_readable(&mut self) -> bool {
        true
    }
    fn getenv(&mut self, name: &[u8]) -> Option<&CStr> {
        let v = self.env.iter().find(|(k, _)| k == name)?.1.clone();
        self.cache = CString::new(v).ok();
        self.cache.as_deref()
    }
    fn putenv(&mut self, name: &[u8], value: Option<&[u8]>) {
        use std::os::unix::ffi::OsStrExt;
        let k = std::ffi::OsStr::from_bytes(name);
        if k.is_empty() || name.contains(&b'=') || name.contains(&0) {
            return;
        }
        match value {
            Some(v) if !v.contains(&0) => std::env::set_var(k, std::ffi::OsStr::from_bytes(v)),
            Some(_) => {}
            None => std::env::remove_var(k),
        }
        self.snapshot();
    }
    fn env_len(&self) -> usize {
        self.env.len()
    }
    fn env_entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.env.get(i).map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
    fn wait_request<'a>(&'a mut self, _out: &mut NativeRequest<'a>) -> bool {
        false
    }
    fn respond(
        &mut self,
        _status: i64,
        _headers: &[(&[u8], &[u8])],
        _body: &[u8],
        _more: bool,
    ) -> bool {
        false
    }
    fn error(&mut self, _msg: &[u8]) {}
    fn stop(&mut self) {}
    fn opcache_reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Invocation {
        parse(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn command_lines() {
        let i = p(&[
            "-d",
            "memory_limit=1G",
            "-dx",
            "bin/console",
            "cache:clear",
            "-v",
        ]);
        assert_eq!(i.action, Action::Script);
        assert_eq!(
            i.ini,
            vec![
                ("memory_limit".into(), "1G".into()),
                ("x".into(), "1".into())
            ]
        );
        assert_eq!(i.argv, vec!["bin/console", "cache:clear", "-v"]);
        let i = p(&["-r", "echo 1;", "--", "a", "-b"]);
        assert_eq!(i.action, Action::Code("echo 1;".into()));
        assert_eq!(i.argv, vec![STDIN_CODE, "a", "-b"]);
        assert_eq!(p(&["-v"]).action, Action::Version);
        assert_eq!(p(&["-m"]).action, Action::Modules);
        assert_eq!(p(&["-n", "-i"]).action, Action::Info);
        assert!(p(&["-n", "-i"]).no_ini);
        assert_eq!(p(&["-l", "x.php"]).argv, vec!["x.php"]);
        assert_eq!(p(&["-f", "x.php", "-v"]).argv, vec!["x.php", "-v"]);
        assert_eq!(p(&[]).argv, vec![STDIN_CODE]);
        assert!(parse(&["-S".into(), "0:80".into()]).is_err());
        assert_eq!(p(&["-a"]).action, Action::Interactive);
        assert!(parse(&["-a".into(), "-r".into(), "1;".into()]).is_err());
        assert!(parse(&["-r".into()]).is_err());
        assert!(is_php_name("php"));
        assert!(is_php_name("php8.4"));
        assert!(!is_php_name("phpunit"));
        assert!(!is_php_name("rr"));
    }
}
