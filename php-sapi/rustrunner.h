/*
 * rustrunner's C ABI between the Rust server and its PHP SAPI glue.
 *
 * This header is the whole contract: bindgen reads it to generate the Rust
 * side, and rustrunner.c implements it over the Zend engine. It includes no
 * PHP header on purpose, so the Rust side never sees Zend internals.
 *
 * Threads: rr_php_startup/rr_php_shutdown run on one thread (the process
 * thread); every other call runs on a worker thread between
 * rr_thread_start() and rr_thread_stop(). Callbacks are invoked on the worker
 * thread that runs the PHP code, with the `host` pointer of the current life.
 */
#ifndef RUSTRUNNER_H
#define RUSTRUNNER_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed byte string (not NUL-terminated). */
typedef struct rr_str {
    const char *ptr;
    size_t len;
} rr_str;

/* One HTTP request handed to the native worker API (rustrunner_wait_request).
 * All pointers are owned by the host and stay valid until the next
 * wait_request or respond callback of the same worker. */
typedef struct rr_request {
    rr_str method;
    rr_str uri;
    rr_str protocol;
    rr_str remote_addr;
    rr_str raw_query;
    rr_str body;
    /* JSON text of the uploads tree, or empty when there are none. */
    rr_str uploads;
    /* JSON object text of the PSR-7 attributes, or empty. */
    rr_str attributes;
    /* Headers in order; equal names are adjacent. */
    const rr_str *header_names;
    const rr_str *header_values;
    size_t header_count;
    const rr_str *cookie_names;
    const rr_str *cookie_values;
    size_t cookie_count;
    /* 1 when body is the JSON data tree of a parsed form. */
    int parsed;
} rr_request;

/* Log levels passed to the log callback. */
enum rr_log_level {
    RR_LOG_ERROR = 1,
    RR_LOG_WARN = 2,
    RR_LOG_INFO = 3,
    RR_LOG_DEBUG = 4,
};

/* Values returned by wait_request. */
enum rr_wait_result {
    RR_WAIT_STOP = 0,    /* the worker must leave its loop */
    RR_WAIT_REQUEST = 1, /* *out holds a request */
};

/* Implemented by Rust. Every function must return normally (no unwinding). */
typedef struct rr_callbacks {
    /* PHP's output (echo, print, displayed errors): never reaches a client. */
    void (*output)(void *host, const char *buf, size_t len);
    /* A message PHP logs (log_errors, error_log()). */
    void (*log)(void *host, const char *msg, size_t len, int level);
    /* Bytes written to STDERR / php://stderr. */
    void (*stderr_write)(void *host, const char *buf, size_t len);
    /* STDIN of the worker (the relay, server -> worker). Blocks until at
     * least one byte is available; returns 0 at end of stream. */
    size_t (*relay_read)(void *host, char *buf, size_t len);
    /* STDOUT of the worker (the relay, worker -> server). Returns the number
     * of bytes taken, 0 when the relay is closed. */
    size_t (*relay_write)(void *host, const char *buf, size_t len);
    /* 1 when relay_read would return without blocking. */
    int (*relay_readable)(void *host);
    /* Per-thread environment. getenv returns a NUL-terminated value owned by
     * the host, valid until the next putenv of this worker, or NULL. */
    const char *(*getenv)(void *host, const char *name, size_t len);
    void (*putenv)(void *host, const char *name, size_t name_len, const char *value,
                   size_t value_len, int unset);
    size_t (*env_count)(void *host);
    /* Entry i of the environment; returns 0 when i is out of range. */
    int (*env_entry)(void *host, size_t i, rr_str *name, rr_str *value);
    /* Native worker API. */
    int (*wait_request)(void *host, rr_request *out);
    /* Respond to the current request. Headers come as parallel name/value
     * arrays (a name repeats for multiple values). With `more`, this is one
     * part of a streamed response (or a 1xx interim response) and more parts
     * follow. Returns 0 when the client went away (stop streaming). */
    int (*respond)(void *host, int64_t status, const rr_str *names, const rr_str *values,
                   size_t count, const char *body, size_t body_len, int more);
    /* $worker->error($message): the request fails, the worker stays. */
    void (*error)(void *host, const char *msg, size_t len);
    /* $worker->stop(): the worker leaves; its request goes to another one. */
    void (*stop)(void *host);
    /* opcache_reset() was called: restart every worker at a request boundary. */
    void (*opcache_reset)(void *host);
} rr_callbacks;

/* Before rr_php_startup: PHP_BINARY (executable_location; NULL = none),
 * ignore php.ini files (php -n), a php.ini path (php -c; NULL = PHP's
 * default search), and whether the rustrunner_* worker functions exist
 * (not in `rr php-cli`: there is no server to talk to, and a php-cli
 * process worker must take the relay path of the PHP library). */
void rr_php_configure(const char *executable, int ini_ignore, const char *ini_path,
                      int worker_functions);

/* Block the process signals (SIGINT, SIGTERM, SIGHUP, ...) on the calling
 * thread, as rr_thread_start does for PHP threads. */
void rr_block_process_signals(void);

/* The default extension_dir, which php.ini and -d may still override (the
 * `extensions` folder next to a dist binary). Before rr_php_startup. */
void rr_set_default_extension_dir(const char *dir);

/* Start the engine (TSRM, SAPI, modules). ini_entries: php.ini-format text
 * applied over php.ini. Returns 0 on success; on failure writes a message
 * into err (NUL-terminated, at most err_len bytes). */
int rr_php_startup(const rr_callbacks *callbacks, const char *ini_entries, char *err,
                   size_t err_len);
/* Stop the engine. Every worker thread must have called rr_thread_stop. */
void rr_php_shutdown(void);

/* Make the calling thread a PHP thread (TSRM context, signal mask). */
int rr_thread_start(void);
/* Release the calling thread's PHP context. */
void rr_thread_stop(void);

/* One worker life: one full PHP request running a script. */
typedef struct rr_life {
    void *host;
    /* The script path as given (relative to the working directory). */
    const char *script;
    int argc;
    char **argv;
    /* A PHP file run before the script (the server's worker API), or NULL. */
    const char *bootstrap;
    /* Seconds the script may run before it takes its first request
     * (the engine's execution timer); 0 = no limit. */
    long boot_timeout;
    /* Command-line mode (`rr php-cli`): output, STDIN/STDOUT/STDERR and
     * php://std* are the process's real file descriptors 0, 1, 2 (as in
     * php-cli), and the thread receives process signals (pcntl). */
    int cli;
    /* PHP code to run instead of the script (php -r), or NULL. */
    const char *code;
    /* 1: only check the script's syntax (php -l). */
    int lint;
} rr_life;

typedef struct rr_life_result {
    /* exit() status, 255 after a fatal error or an uncaught exception. */
    int exit_status;
    /* 1 when the request could not start at all. */
    int startup_failed;
    /* Peak Zend memory of the life, in bytes. */
    size_t peak_memory;
} rr_life_result;

/* Run one life to its end. */
void rr_worker_life(const rr_life *life, rr_life_result *result);

/* Zend allocator memory in use by the calling worker thread (callbacks only). */
size_t rr_memory_usage(void);

/* Arm the engine's execution timer of the calling worker thread: after
 * `seconds` the running script fails with PHP's "Maximum execution time"
 * fatal error, also inside sleep() and other interruptible calls.
 * Callbacks only. */
void rr_set_timeout(long seconds);
/* Disarm it. Callbacks only. */
void rr_unset_timeout(void);

/* PHP version string (static). */
const char *rr_php_version(void);

/* 1 when the engine is thread-safe (ZTS). */
int rr_php_is_zts(void);

/* The request a worker thread starts serving (method, target), for the one
 * line a crash writes to stderr; rr_note_idle when it is done. */
void rr_note_request(int worker, const char *method, size_t method_len, const char *target,
                     size_t target_len);
void rr_note_idle(void);

/* 1 when OPcache is linked into the binary (no opcache.so to load). */
int rr_php_opcache_builtin(void);

/* The most memory_limit may be in a worker thread (bytes; 0 = no ceiling).
 * Before rr_php_startup. */
void rr_set_memory_ceiling(size_t bytes);

/* 1 when OPcache has scheduled a restart of its shared memory (full, hash
 * full, too much waste, opcache_invalidate): every worker thread must end its
 * life so that the restart runs while no thread executes from that memory.
 * Any thread; 0 without built-in OPcache. */
int rr_opcache_restart_pending(void);

/* php -v's banner, NUL-terminated into buf (after rr_php_startup, so the
 * loaded zend extensions are listed). Returns its full length. */
size_t rr_php_version_banner(char *buf, size_t len);

#endif
