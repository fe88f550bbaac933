//! The only module of rustrunner that writes `unsafe`: a safe Rust face over
//! the C ABI of `php-sapi/rustrunner.h`.
//!
//! * [`Engine`] starts and stops PHP (once per process).
//! * [`PhpThread`] turns the calling OS thread into a PHP thread.
//! * [`PhpThread::run_life`] runs one worker life (a full PHP request) and
//!   routes every callback PHP makes to a [`Host`] implemented in safe Rust.
//!
//! Every function called from C catches panics: a panic never unwinds into
//! C or PHP frames.

#![allow(non_camel_case_types, non_upper_case_globals, dead_code)]

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

mod ffi {
    #![allow(
        non_camel_case_types,
        non_upper_case_globals,
        non_snake_case,
        dead_code
    )]
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

/// Log levels PHP reports through [`Host::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// One request for the native worker API, borrowed from the host until the
/// next `wait_request`/`respond` of the same worker.
#[derive(Default)]
pub struct NativeRequest<'a> {
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub protocol: &'a [u8],
    pub remote_addr: &'a [u8],
    pub raw_query: &'a [u8],
    pub body: &'a [u8],
    pub uploads: &'a [u8],
    pub attributes: &'a [u8],
    /// Header names and values; equal names adjacent.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub cookies: Vec<(&'a [u8], &'a [u8])>,
    pub parsed: bool,
}

/// What a worker life calls back into. Implemented by the pool's worker.
pub trait Host {
    fn output(&mut self, data: &[u8]);
    fn log(&mut self, msg: &[u8], level: LogLevel);
    fn stderr(&mut self, data: &[u8]);
    /// Blocks until bytes are available; 0 = end of stream.
    fn relay_read(&mut self, buf: &mut [u8]) -> usize;
    /// Returns how many bytes were taken; 0 = relay closed.
    fn relay_write(&mut self, data: &[u8]) -> usize;
    fn relay_readable(&mut self) -> bool;
    fn getenv(&mut self, name: &[u8]) -> Option<&CStr>;
    fn putenv(&mut self, name: &[u8], value: Option<&[u8]>);
    fn env_len(&self) -> usize;
    fn env_entry(&self, i: usize) -> Option<(&[u8], &[u8])>;
    /// Native API: fill `out` with the next request, or return false to stop.
    fn wait_request<'a>(&'a mut self, out: &mut NativeRequest<'a>) -> bool;
    /// Answer the request, or with `more` one part of a streamed response
    /// (or a 1xx interim response). False when the client went away.
    fn respond(&mut self, status: i64, headers: &[(&[u8], &[u8])], body: &[u8], more: bool)
        -> bool;
    fn error(&mut self, msg: &[u8]);
    fn stop(&mut self);
    fn opcache_reset(&mut self);
}

/// What a command-line run executes (see [`PhpThread::run_cli`]).
#[derive(Debug, Clone, Copy)]
pub enum CliMode<'a> {
    /// argv[0] is the script.
    Script,
    /// php -r: this code.
    Code(&'a str),
    /// php -l: check argv[0]'s syntax.
    Lint,
}

/// The outcome of one worker life.
#[derive(Debug, Clone, Copy, Default)]
pub struct LifeResult {
    pub exit_status: i32,
    pub startup_failed: bool,
    pub peak_memory: usize,
}

/// The running PHP engine. Start it once, on a thread that outlives every
/// worker thread, and shut it down on that thread.
pub struct Engine {
    /// The thread that started PHP: the only one that may shut it down.
    owner: std::thread::ThreadId,
}

/// The engine's life cycle, enforced at run time so that no safe caller can
/// misuse the C side (review-core M3): PHP starts at most once per process,
/// a thread enters only a started engine and only once, and shutdown refuses
/// while any thread is still a PHP thread.
static ENGINE_STARTED: AtomicBool = AtomicBool::new(false);
static ENGINE_CLAIMED: AtomicBool = AtomicBool::new(false);
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ENTERED: Cell<bool> = const { Cell::new(false) };
}

static CALLBACKS: ffi::rr_callbacks = ffi::rr_callbacks {
    output: Some(cb_output),
    log: Some(cb_log),
    stderr_write: Some(cb_stderr),
    relay_read: Some(cb_relay_read),
    relay_write: Some(cb_relay_write),
    relay_readable: Some(cb_relay_readable),
    getenv: Some(cb_getenv),
    putenv: Some(cb_putenv),
    env_count: Some(cb_env_count),
    env_entry: Some(cb_env_entry),
    wait_request: Some(cb_wait_request),
    respond: Some(cb_respond),
    error: Some(cb_error),
    stop: Some(cb_stop),
    opcache_reset: Some(cb_opcache_reset),
};

/// How the engine finds php.ini and what PHP_BINARY is (php-cli's `-n`,
/// `-c` and argv[0]). Set before [`Engine::start`].
#[derive(Debug, Default, Clone)]
pub struct StartOptions {
    /// PHP_BINARY (PHP resolves it with realpath and keeps it only when it
    /// is executable).
    pub executable: Option<String>,
    /// Ignore php.ini files (php -n).
    pub no_ini: bool,
    /// A php.ini file or directory (php -c).
    pub ini_path: Option<String>,
    /// Register the rustrunner_* worker functions (false for `rr php-cli`).
    pub worker_functions: bool,
    /// The most `memory_limit` may be in a worker thread (bytes; 0: none).
    pub memory_ceiling: u64,
}

/// The `extensions` folder next to the running binary, if there is one: a
/// dist `rr` (and its `php` link) loads `extension=NAME` from there unless
/// php.ini names another extension_dir.
pub fn extensions_beside_binary() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.join("extensions");
    dir.is_dir().then(|| dir.to_string_lossy().into_owned())
}

impl Engine {
    /// Start PHP with `ini` (php.ini syntax) applied over php.ini.
    pub fn start(ini: &str) -> Result<Engine, String> {
        Engine::start_with(ini, &StartOptions::default())
    }

    /// [`Engine::start`] with php.ini and PHP_BINARY options.
    pub fn start_with(ini: &str, opts: &StartOptions) -> Result<Engine, String> {
        // PHP starts once per process: a second start would free strings
        // the first one's SAPI still points at.
        if ENGINE_CLAIMED.swap(true, Ordering::AcqRel) {
            return Err("PHP is already started in this process".into());
        }
        let exe = opts
            .executable
            .as_deref()
            .map(CString::new)
            .transpose()
            .map_err(|_| "the executable path contains a NUL byte".to_string())?;
        let ini_path = opts
            .ini_path
            .as_deref()
            .map(CString::new)
            .transpose()
            .map_err(|_| "the php.ini path contains a NUL byte".to_string())?;
        // SAFETY: both strings are valid for the call and the C side copies
        // them; this runs before rr_php_startup on the same thread (both
        // calls are refused by the C side once PHP runs).
        unsafe {
            ffi::rr_php_configure(
                exe.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
                opts.no_ini as c_int,
                ini_path.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
                opts.worker_functions as c_int,
            );
            ffi::rr_set_memory_ceiling(opts.memory_ceiling as usize);
        };
        if let Some(dir) = extensions_beside_binary().and_then(|d| CString::new(d).ok()) {
            // SAFETY: a valid C string for the call; the C side copies it,
            // and refuses once PHP runs.
            unsafe { ffi::rr_set_default_extension_dir(dir.as_ptr()) };
        }
        // With OPcache linked in, a zend_extension=opcache.so line would
        // load it a second time ("Cannot load Zend OPcache - it was already
        // loaded"): drop such lines.
        let ini: String = if Engine::opcache_builtin() {
            ini.lines()
                .filter(|l| {
                    let l = l.trim();
                    !(l.starts_with("zend_extension") && l.ends_with("opcache.so"))
                })
                .map(|l| format!("{l}\n"))
                .collect()
        } else {
            ini.to_string()
        };
        let ini = CString::new(ini).map_err(|_| "ini entries contain a NUL byte".to_string())?;
        let mut err = vec![0u8; 512];
        // SAFETY: CALLBACKS is a static with 'static function pointers; `ini`
        // and `err` are valid for the call (the C side copies `ini`); err_len
        // is the buffer's real length.
        let rc = unsafe {
            ffi::rr_php_startup(
                &CALLBACKS,
                ini.as_ptr(),
                err.as_mut_ptr() as *mut c_char,
                err.len(),
            )
        };
        if rc != 0 {
            let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
            return Err(String::from_utf8_lossy(&err[..end]).into_owned());
        }
        ENGINE_STARTED.store(true, Ordering::Release);
        Ok(Engine {
            owner: std::thread::current().id(),
        })
    }

    /// The linked PHP's version.
    pub fn version() -> String {
        // SAFETY: rr_php_version returns a pointer to a static NUL-terminated string.
        unsafe { CStr::from_ptr(ffi::rr_php_version()) }
            .to_string_lossy()
            .into_owned()
    }

    /// True when OPcache is part of the binary (no opcache.so needed).
    pub fn opcache_builtin() -> bool {
        // SAFETY: returns a compile-time constant; no state is touched.
        unsafe { ffi::rr_php_opcache_builtin() != 0 }
    }

    /// php -v's banner (the engine must be started).
    pub fn version_banner(&self) -> String {
        let mut buf = vec![0u8; 1024];
        // SAFETY: `buf` is writable for its length; the engine is started
        // (self exists), so the zend extension list is complete.
        let n = unsafe { ffi::rr_php_version_banner(buf.as_mut_ptr() as *mut c_char, buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(n.min(buf.len()));
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }

    /// Block the process signals on the calling thread (so that a PHP
    /// thread started in command-line mode receives them).
    pub fn block_process_signals() {
        // SAFETY: only changes the calling thread's signal mask.
        unsafe { ffi::rr_block_process_signals() }
    }

    /// Stop PHP, on the thread that started it. Refused (PHP is left
    /// running, as at a process exit) while any [`PhpThread`] is alive or
    /// when called on another thread: returns false then.
    pub fn shutdown(self) -> bool {
        if std::thread::current().id() != self.owner || LIVE_THREADS.load(Ordering::Acquire) != 0 {
            return false;
        }
        ENGINE_STARTED.store(false, Ordering::Release);
        // SAFETY: the engine was started by `start_with` on this thread (the
        // owner check above) and no PHP thread is alive (LIVE_THREADS counts
        // every PhpThread until its Drop has run rr_thread_stop).
        unsafe { ffi::rr_php_shutdown() };
        true
    }
}

/// The calling thread as a PHP thread. Not Send: it must be dropped on the
/// thread that made it.
pub struct PhpThread {
    _not_send: std::marker::PhantomData<*mut ()>,
}

impl PhpThread {
    /// Make the calling thread a PHP thread.
    ///
    /// # Panics
    /// When the engine is not started, or this thread is a PHP thread
    /// already: both are programming errors that would otherwise use or
    /// free TSRM state behind another owner's back.
    pub fn enter() -> PhpThread {
        assert!(
            ENGINE_STARTED.load(Ordering::Acquire),
            "PhpThread::enter before Engine::start"
        );
        assert!(
            !ENTERED.with(|e| e.replace(true)),
            "PhpThread::enter twice on one thread"
        );
        LIVE_THREADS.fetch_add(1, Ordering::AcqRel);
        // SAFETY: the engine is started (checked above; shutdown refuses
        // while LIVE_THREADS > 0, so it stays started), this thread has no
        // TSRM context yet (ENTERED), and Drop pairs it with rr_thread_stop
        // on the same thread (PhpThread is !Send).
        unsafe {
            ffi::rr_thread_start();
        }
        PhpThread {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Run one worker life: `script` with `argv`, after `bootstrap` if any.
    pub fn run_life(
        &mut self,
        host: &mut dyn Host,
        script: &str,
        argv: &[String],
        bootstrap: Option<&str>,
        boot_timeout: std::time::Duration,
    ) -> LifeResult {
        self.run(host, script, argv, bootstrap, boot_timeout, None)
    }

    /// Run PHP as the command line does (`rr php-cli`): one request on this
    /// thread with the process's real stdin/stdout/stderr and signals.
    /// `script` "php://stdin" reads the script from the real stdin.
    pub fn run_cli(
        &mut self,
        host: &mut dyn Host,
        script: &str,
        argv: &[String],
        mode: CliMode<'_>,
    ) -> LifeResult {
        self.run(
            host,
            script,
            argv,
            None,
            std::time::Duration::ZERO,
            Some(mode),
        )
    }

    fn run(
        &mut self,
        host: &mut dyn Host,
        script: &str,
        argv: &[String],
        bootstrap: Option<&str>,
        boot_timeout: std::time::Duration,
        cli: Option<CliMode<'_>>,
    ) -> LifeResult {
        let code_c = match cli {
            Some(CliMode::Code(code)) => Some(CString::new(code).unwrap_or_default()),
            _ => None,
        };
        let script_c = CString::new(script).unwrap_or_default();
        let argv_c: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_str()).unwrap_or_default())
            .collect();
        let mut argv_p: Vec<*mut c_char> =
            argv_c.iter().map(|a| a.as_ptr() as *mut c_char).collect();
        argv_p.push(ptr::null_mut());
        let boot_c = bootstrap.map(|b| CString::new(b).unwrap_or_default());

        // The C side hands `host` back to the callbacks: a thin pointer to a
        // fat `&mut dyn Host`, alive for the whole call.
        let mut fat: &mut dyn Host = host;
        let host_ptr = &mut fat as *mut &mut dyn Host as *mut c_void;
        let life = ffi::rr_life {
            host: host_ptr,
            script: script_c.as_ptr(),
            argc: argv.len() as c_int,
            argv: argv_p.as_mut_ptr(),
            bootstrap: boot_c.as_ref().map_or(ptr::null(), |b| b.as_ptr()),
            boot_timeout: timer_secs(boot_timeout),
            cli: cli.is_some() as c_int,
            code: code_c.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            lint: matches!(cli, Some(CliMode::Lint)) as c_int,
        };
        let mut res = ffi::rr_life_result::default();
        // SAFETY: this thread is a PHP thread (self exists); every pointer in
        // `life` points to locals that outlive the call; PHP bailouts are
        // caught inside rr_worker_life and never cross this frame.
        unsafe { ffi::rr_worker_life(&life, &mut res) };
        LifeResult {
            exit_status: res.exit_status,
            startup_failed: res.startup_failed != 0,
            peak_memory: res.peak_memory,
        }
    }

    /// Arm this worker's execution timer (inside callbacks only): when it
    /// fires, the script fails with PHP's "Maximum execution time" error.
    /// The engine counts whole seconds; anything below one rounds up.
    pub fn set_timeout(d: std::time::Duration) {
        // SAFETY: called from a host callback, i.e. on a PHP thread inside a
        // life; the C side checks that a life is running.
        unsafe { ffi::rr_set_timeout(timer_secs(d)) }
    }

    /// Disarm it (inside callbacks only).
    pub fn unset_timeout() {
        // SAFETY: as set_timeout.
        unsafe { ffi::rr_unset_timeout() }
    }

    /// Note the request this thread starts serving (for the line a crash
    /// writes); [`PhpThread::note_idle`] when it is done.
    pub fn note_request(worker: usize, method: &str, target: &str) {
        // SAFETY: both slices are valid for the call; the C side copies at
        // most a fixed number of bytes into this thread's own buffer.
        unsafe {
            ffi::rr_note_request(
                worker as c_int,
                method.as_ptr() as *const c_char,
                method.len(),
                target.as_ptr() as *const c_char,
                target.len(),
            )
        }
    }

    pub fn note_idle() {
        // SAFETY: clears a length in this thread's own buffer.
        unsafe { ffi::rr_note_idle() }
    }

    /// OPcache has scheduled a restart of its shared memory: every worker
    /// must end its life so that it runs alone (the C side's gate).
    pub fn opcache_restart_pending() -> bool {
        // SAFETY: reads one flag of OPcache's shared globals (a plain bool
        // behind a pointer set at startup); any thread, no PHP state needed.
        unsafe { ffi::rr_opcache_restart_pending() != 0 }
    }

    /// Zend memory in use on this thread (valid inside callbacks).
    pub fn memory_usage() -> usize {
        // SAFETY: only reads the calling thread's allocator counters; callers
        // are host callbacks running on a PHP thread.
        unsafe { ffi::rr_memory_usage() }
    }
}

impl Drop for PhpThread {
    fn drop(&mut self) {
        // SAFETY: paired with rr_thread_start in `enter`, same thread.
        unsafe { ffi::rr_thread_stop() }
        ENTERED.with(|e| e.set(false));
        LIVE_THREADS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The engine's timer counts whole seconds: round up, 0 stays 0.
fn timer_secs(d: std::time::Duration) -> std::ffi::c_long {
    if d.is_zero() {
        0
    } else {
        d.as_secs_f64().ceil().max(1.0) as std::ffi::c_long
    }
}

// ---------------------------------------------------------------------------
// Callbacks from C. Each recovers the host, runs inside catch_unwind, and
// returns a neutral value if the host panicked.

/// Recover the host of the current life.
///
/// # Safety
/// `host` must be the pointer set up by `run_life` for a life still running
/// on this thread.
unsafe fn host<'a>(host: *mut c_void) -> &'a mut dyn Host {
    // SAFETY: per the function contract, `host` points to a live `&mut dyn Host`.
    unsafe { &mut **(host as *mut &mut dyn Host) }
}

/// # Safety
/// `ptr` must be valid for `len` bytes, or `len` must be 0.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: per the function contract.
        unsafe { std::slice::from_raw_parts(ptr as *const u8, len) }
    }
}

fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            tracing::error!("panic in a PHP callback (contained)");
            default
        }
    }
}

fn rstr(s: &[u8]) -> ffi::rr_str {
    // An empty slice's pointer dangles; C may hand it to memcmp/memcpy with
    // length 0, which C does not allow for invalid pointers (review-core L1).
    static EMPTY: [u8; 1] = [0];
    ffi::rr_str {
        ptr: if s.is_empty() {
            EMPTY.as_ptr()
        } else {
            s.as_ptr()
        } as *const c_char,
        len: s.len(),
    }
}

extern "C" fn cb_output(h: *mut c_void, buf: *const c_char, len: usize) {
    // SAFETY: C passes the life's host and a buffer of `len` bytes.
    guard((), || unsafe { host(h).output(bytes(buf, len)) })
}

extern "C" fn cb_log(h: *mut c_void, msg: *const c_char, len: usize, level: c_int) {
    let level = match level as u32 {
        ffi::RR_LOG_ERROR => LogLevel::Error,
        ffi::RR_LOG_WARN => LogLevel::Warn,
        ffi::RR_LOG_INFO => LogLevel::Info,
        _ => LogLevel::Debug,
    };
    // SAFETY: C passes the life's host and a message of `len` bytes.
    guard((), || unsafe { host(h).log(bytes(msg, len), level) })
}

extern "C" fn cb_stderr(h: *mut c_void, buf: *const c_char, len: usize) {
    // SAFETY: as cb_output.
    guard((), || unsafe { host(h).stderr(bytes(buf, len)) })
}

extern "C" fn cb_relay_read(h: *mut c_void, buf: *mut c_char, len: usize) -> usize {
    guard(0, || {
        if buf.is_null() || len == 0 {
            return 0;
        }
        // SAFETY: C passes a writable buffer of `len` bytes.
        let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, len) };
        // SAFETY: C passes the life's host.
        unsafe { host(h).relay_read(out) }
    })
}

extern "C" fn cb_relay_write(h: *mut c_void, buf: *const c_char, len: usize) -> usize {
    // SAFETY: C passes the life's host and `len` readable bytes.
    guard(0, || unsafe { host(h).relay_write(bytes(buf, len)) })
}

extern "C" fn cb_relay_readable(h: *mut c_void) -> c_int {
    // SAFETY: C passes the life's host.
    guard(0, || unsafe { host(h).relay_readable() as c_int })
}

extern "C" fn cb_getenv(h: *mut c_void, name: *const c_char, len: usize) -> *const c_char {
    guard(ptr::null(), || {
        // SAFETY: C passes the life's host and a name of `len` bytes; the
        // returned pointer is owned by the host and valid until its next putenv.
        unsafe {
            host(h)
                .getenv(bytes(name, len))
                .map_or(ptr::null(), |v| v.as_ptr())
        }
    })
}

extern "C" fn cb_putenv(
    h: *mut c_void,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    unset: c_int,
) {
    guard((), || {
        // SAFETY: C passes the life's host and buffers of the given lengths.
        unsafe {
            let v = if unset != 0 {
                None
            } else {
                Some(bytes(value, vlen))
            };
            host(h).putenv(bytes(name, nlen), v)
        }
    })
}

extern "C" fn cb_env_count(h: *mut c_void) -> usize {
    // SAFETY: C passes the life's host.
    guard(0, || unsafe { host(h).env_len() })
}

extern "C" fn cb_env_entry(
    h: *mut c_void,
    i: usize,
    name: *mut ffi::rr_str,
    value: *mut ffi::rr_str,
) -> c_int {
    guard(0, || {
        // SAFETY: C passes the life's host and two writable rr_str slots; the
        // bytes stay owned by the host until its environment changes.
        unsafe {
            match host(h).env_entry(i) {
                Some((k, v)) => {
                    *name = rstr(k);
                    *value = rstr(v);
                    1
                }
                None => 0,
            }
        }
    })
}

/// Scratch arrays for the request handed to C: they must outlive the
/// callback, so they live in a thread-local until the next call.
struct RequestScratch {
    header_names: Vec<ffi::rr_str>,
    header_values: Vec<ffi::rr_str>,
    cookie_names: Vec<ffi::rr_str>,
    cookie_values: Vec<ffi::rr_str>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<RequestScratch> = const { std::cell::RefCell::new(RequestScratch {
        header_names: Vec::new(),
        header_values: Vec::new(),
        cookie_names: Vec::new(),
        cookie_values: Vec::new(),
    }) };
}

extern "C" fn cb_wait_request(h: *mut c_void, out: *mut ffi::rr_request) -> c_int {
    guard(ffi::RR_WAIT_STOP as c_int, || {
        // SAFETY: C passes the life's host.
        let host = unsafe { host(h) };
        let mut req = NativeRequest::default();
        if !host.wait_request(&mut req) {
            return ffi::RR_WAIT_STOP as c_int;
        }
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let s = &mut *s;
            s.header_names.clear();
            s.header_values.clear();
            s.cookie_names.clear();
            s.cookie_values.clear();
            for (k, v) in &req.headers {
                s.header_names.push(rstr(k));
                s.header_values.push(rstr(v));
            }
            for (k, v) in &req.cookies {
                s.cookie_names.push(rstr(k));
                s.cookie_values.push(rstr(v));
            }
            let r = ffi::rr_request {
                method: rstr(req.method),
                uri: rstr(req.uri),
                protocol: rstr(req.protocol),
                remote_addr: rstr(req.remote_addr),
                raw_query: rstr(req.raw_query),
                body: rstr(req.body),
                uploads: rstr(req.uploads),
                attributes: rstr(req.attributes),
                header_names: s.header_names.as_ptr(),
                header_values: s.header_values.as_ptr(),
                header_count: s.header_names.len(),
                cookie_names: s.cookie_names.as_ptr(),
                cookie_values: s.cookie_values.as_ptr(),
                cookie_count: s.cookie_names.len(),
                parsed: req.parsed as c_int,
            };
            // SAFETY: `out` is a writable rr_request supplied by C; the byte
            // slices point into host-owned request data that stays alive
            // until the worker's next wait/respond, and the arrays live in
            // this thread's scratch until the next call.
            unsafe { *out = r };
        });
        ffi::RR_WAIT_REQUEST as c_int
    })
}

extern "C" fn cb_respond(
    h: *mut c_void,
    status: i64,
    names: *const ffi::rr_str,
    values: *const ffi::rr_str,
    count: usize,
    body: *const c_char,
    blen: usize,
    more: c_int,
) -> c_int {
    guard(0, || {
        let mut headers = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: C passes two arrays of `count` rr_str, each pointing to
            // bytes alive for this call.
            unsafe {
                let n = &*names.add(i);
                let v = &*values.add(i);
                headers.push((bytes(n.ptr, n.len), bytes(v.ptr, v.len)));
            }
        }
        // SAFETY: C passes the life's host and a body of `blen` bytes.
        unsafe { host(h).respond(status, &headers, bytes(body, blen), more != 0) as c_int }
    })
}

extern "C" fn cb_error(h: *mut c_void, msg: *const c_char, len: usize) {
    // SAFETY: C passes the life's host and a message of `len` bytes.
    guard((), || unsafe { host(h).error(bytes(msg, len)) })
}

extern "C" fn cb_stop(h: *mut c_void) {
    // SAFETY: C passes the life's host.
    guard((), || unsafe { host(h).stop() })
}

extern "C" fn cb_opcache_reset(h: *mut c_void) {
    // SAFETY: C passes the life's host.
    guard((), || unsafe { host(h).opcache_reset() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;

    /// review-core M3: misuse of the engine from safe code is refused, not
    /// undefined behaviour. One test: PHP starts once per process.
    #[test]
    fn engine_misuse_is_refused() {
        let early = std::thread::spawn(|| catch_unwind(PhpThread::enter).is_err());
        assert!(early.join().unwrap(), "enter before start panics");

        let engine = Engine::start("").expect("PHP starts");
        assert!(
            Engine::start("").is_err(),
            "a second start is refused (it would free the first one's strings)"
        );

        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let php = PhpThread::enter();
            let twice = catch_unwind(PhpThread::enter).is_err();
            entered_tx.send(twice).unwrap();
            done_rx.recv().unwrap();
            drop(php);
        });
        assert!(entered_rx.recv().unwrap(), "a second enter panics");
        // Refused while a PHP thread lives (and PHP stays up for it).
        assert!(!engine.shutdown());
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
