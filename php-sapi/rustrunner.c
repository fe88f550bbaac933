/*
 * rustrunner's PHP SAPI: the only code of the project that touches Zend
 * internals. It implements rustrunner.h over a thread-safe (ZTS) libphp.
 *
 * A worker thread runs one "life" at a time: a full PHP request
 * (php_request_startup .. php_request_shutdown) that executes the worker
 * script. Inside the life the script loops over requests, either through the
 * STDIN/STDOUT relay (goridge frames, handled by the host) or through the
 * native functions below (rustrunner_wait_request / rustrunner_respond).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "rustrunner.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "php.h"
#include "SAPI.h"
#include "php_main.h"
#include "php_variables.h"
#include "php_ini.h"
#include "ext/standard/info.h"
#include "ext/standard/php_var.h"
#include "main/php_streams.h"
#include "main/php_network.h"
#include "zend_exceptions.h"
#include "zend_extensions.h"
#include "zend_ini.h"

#ifndef ZTS
#error "rustrunner needs a thread-safe PHP (configure --enable-zts)"
#endif
/* Per-thread exec_ttl timers and no process-wide zend signal handlers: the
 * thread model relies on both (build.rs explains it at build time too). */
#ifndef ZEND_MAX_EXECUTION_TIMERS
#error "rustrunner needs PHP built with --enable-zend-max-execution-timers"
#endif
#ifdef ZEND_SIGNALS
#error "rustrunner needs PHP built with --disable-zend-signals"
#endif

/* Share the engine's per-thread TSRM cache (we link into the same binary). */
ZEND_TSRMLS_CACHE_EXTERN()

static rr_callbacks rr_cb;
static void rr_timer_apply(void);
static int rr_started = 0;

/* The life running on this thread; NULL outside a life. */
ZEND_TLS const rr_life *rr_current = NULL;

static void *rr_host(void)
{
    return rr_current ? rr_current->host : NULL;
}

/* ------------------------------------------------------------------ */
/* SAPI callbacks                                                      */
/* ------------------------------------------------------------------ */

/* Command-line mode: write everything to fd 1, as php-cli does. Returns 0,
 * or -1 when the descriptor is gone (EPIPE: SIGPIPE is ignored). */
static int rr_write_fd(int fd, const char *str, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, str, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -1;
        }
        str += n;
        len -= (size_t)n;
    }
    return 0;
}

static size_t rr_ub_write(const char *str, size_t len)
{
    void *host = rr_host();
    if (rr_current && rr_current->cli) {
        if (rr_write_fd(STDOUT_FILENO, str, len) != 0) {
            /* As php-cli: the reader went away (`| head`); the script
             * ends (unless ignore_user_abort) instead of writing forever. */
            EG(exit_status) = 255;
            php_handle_aborted_connection();
        }
    } else if (host && len) {
        rr_cb.output(host, str, len);
    } else if (len) {
        /* Output outside a worker life (start-up): the process stderr. */
        fwrite(str, 1, len, stderr);
    }
    return len;
}

static void rr_flush(void *server_context)
{
    (void)server_context;
}

/* As php-cli: header() is accepted and dropped, so headers_list() stays
 * empty (spiral/roadrunner-worker's StdoutHandler complains on stderr when it
 * is not) and a worker life does not pile up headers. */
static int rr_header_handler(sapi_header_struct *sapi_header, sapi_header_op_enum op,
                             sapi_headers_struct *sapi_headers)
{
    (void)sapi_header;
    (void)op;
    (void)sapi_headers;
    return 0;
}

static int rr_send_headers(sapi_headers_struct *sapi_headers)
{
    (void)sapi_headers;
    return SAPI_HEADER_SENT_SUCCESSFULLY;
}

static size_t rr_read_post(char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return 0;
}

static char *rr_read_cookies(void)
{
    return NULL;
}

static void rr_log_message(const char *message, int syslog_type)
{
    int level = RR_LOG_ERROR;
    switch (syslog_type) {
    case LOG_WARNING:
        level = RR_LOG_WARN;
        break;
    /* error_log() and E_NOTICE/E_DEPRECATED: RoadRunner logs a worker's
     * stderr, where php-cli writes them, at INFO. */
    case LOG_NOTICE:
    case LOG_INFO:
        level = RR_LOG_INFO;
        break;
    case LOG_DEBUG:
        level = RR_LOG_DEBUG;
        break;
    default:
        level = RR_LOG_ERROR;
    }
    void *host = rr_host();
    if (host) {
        rr_cb.log(host, message, strlen(message), level);
    } else {
        fprintf(stderr, "%s\n", message);
        /* An extension .so that is not built for this PHP: Debian's
         * packages are NTS (they miss the ZTS globals), others another API. */
        if (strstr(message, "undefined symbol: executor_globals")
            || strstr(message, "undefined symbol: compiler_globals")
            || strstr(message, "Module compiled with build ID=")
            || strstr(message, "Module compiled with module API=")) {
            fprintf(stderr,
                    "rustrunner: that extension was not built for this PHP (%s, thread-safe): "
                    "build it with the phpize of rr's own PHP (README, \"Extensions\"), not a "
                    "distribution's NTS package\n",
                    PHP_VERSION);
        }
    }
}

static char *rr_sapi_getenv(const char *name, size_t len)
{
    void *host = rr_host();
    if (!host) {
        return NULL;
    }
    return (char *)rr_cb.getenv(host, name, len);
}

/* $_ENV and the environment part of $_SERVER come from the worker's own
 * environment, never from the process `environ`. */
static void (*rr_orig_import_env)(zval *array_ptr) = NULL;

static void rr_import_environment_variables(zval *array_ptr)
{
    void *host = rr_host();
    if (!host) {
        if (rr_orig_import_env) {
            rr_orig_import_env(array_ptr);
        }
        return;
    }
    size_t n = rr_cb.env_count(host);
    for (size_t i = 0; i < n; i++) {
        rr_str k, v;
        if (!rr_cb.env_entry(host, i, &k, &v) || k.len == 0) {
            continue;
        }
        zval val;
        ZVAL_STRINGL(&val, v.ptr, v.len);
        /* Names are kept as they are (no mangling of dots or brackets). */
        zend_symtable_str_update(Z_ARRVAL_P(array_ptr), k.ptr, k.len, &val);
    }
}

static void rr_register_variables(zval *track_vars_array)
{
    php_import_environment_variables(track_vars_array);
    const rr_life *life = rr_current;
    const char *script = life && life->script ? life->script : "";
    size_t len = strlen(script);
    char *val = (char *)script;
    size_t new_len;
    if (sapi_module.input_filter(PARSE_SERVER, "PHP_SELF", &val, len, &new_len)) {
        php_register_variable("PHP_SELF", val, track_vars_array);
    }
    val = (char *)script;
    if (sapi_module.input_filter(PARSE_SERVER, "SCRIPT_NAME", &val, len, &new_len)) {
        php_register_variable("SCRIPT_NAME", val, track_vars_array);
    }
    val = (char *)script;
    if (sapi_module.input_filter(PARSE_SERVER, "SCRIPT_FILENAME", &val, len, &new_len)) {
        php_register_variable("SCRIPT_FILENAME", val, track_vars_array);
    }
    val = (char *)script;
    if (sapi_module.input_filter(PARSE_SERVER, "PATH_TRANSLATED", &val, len, &new_len)) {
        php_register_variable("PATH_TRANSLATED", val, track_vars_array);
    }
    char *empty = "";
    if (sapi_module.input_filter(PARSE_SERVER, "DOCUMENT_ROOT", &empty, 0, &new_len)) {
        php_register_variable("DOCUMENT_ROOT", empty, track_vars_array);
    }
}

static int rr_sapi_startup(sapi_module_struct *module);
static int rr_sapi_shutdown(sapi_module_struct *module);

#ifdef RR_STATIC_OPCACHE
/* OPcache linked into the binary (build.rs, lib/rustrunner/librr_opcache.a):
 * its zend_extension entry, renamed so no zend_extension .so can shadow it. */
extern zend_extension rr_opcache_zend_extension_entry;
#endif

/* ------------------------------------------------------------------ */
/* OPcache restart gate                                                */
/* ------------------------------------------------------------------ */

/* OPcache restarts its shared memory by itself when it is full, its hash is
 * full or too much of it is wasted (and after opcache_invalidate()). The
 * restart runs in the next request startup of any thread, and it only waits
 * for other *processes* (fcntl locks never conflict within one): under ZTS it
 * rewinds the memory other threads are executing from (php-src GH-8739,
 * #18517). Here every worker life is one long request, so the gate makes the
 * restart run alone: OPcache's request startup is wrapped; when a restart is
 * pending, the thread waits until no other life is running before it lets
 * OPcache restart, and lives that start meanwhile wait for it. The host sees
 * the pending restart after each request (rr_opcache_restart_pending) and
 * asks every worker to end its life at its next request boundary.
 * If the other lives do not end in time (a thread stuck in a C call), the
 * restart is postponed (the flag is hidden from this one startup) rather than
 * run under them: OPcache then keeps serving what it has cached. */
static pthread_mutex_t rr_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rr_gate_cv = PTHREAD_COND_INITIALIZER;
static int rr_gate_lives = 0;     /* lives between request startup and shutdown */
static int rr_gate_exclusive = 0; /* a restart is running */
static int rr_gate_on = 0;        /* worker threads (rr serve), not php-cli */
/* After a wait that timed out, startups before this time do not wait again
 * (a thread stuck for good must not make every boot wait 30 s). */
static time_t rr_gate_skip_until = 0;
#define RR_GATE_WAIT_SECS 30

static void rr_gate_enter(void)
{
    if (!rr_gate_on) {
        return;
    }
    pthread_mutex_lock(&rr_gate_mu);
    while (rr_gate_exclusive) {
        pthread_cond_wait(&rr_gate_cv, &rr_gate_mu);
    }
    rr_gate_lives++;
    pthread_mutex_unlock(&rr_gate_mu);
}

static void rr_gate_leave(void)
{
    if (!rr_gate_on) {
        return;
    }
    pthread_mutex_lock(&rr_gate_mu);
    rr_gate_lives--;
    pthread_cond_broadcast(&rr_gate_cv);
    pthread_mutex_unlock(&rr_gate_mu);
}

#if defined(RR_STATIC_OPCACHE) && defined(RR_OPCACHE_HEADERS)
#include "ext/opcache/ZendAccelerator.h"

static zend_result (*rr_orig_accel_rinit)(INIT_FUNC_ARGS) = NULL;

static int rr_accel_restart_pending(void)
{
    return accel_shared_globals && ZCSG(restart_pending);
}

static zend_result rr_accel_rinit(INIT_FUNC_ARGS)
{
    if (!rr_gate_on || !rr_accel_restart_pending()) {
        return rr_orig_accel_rinit(type, module_number);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += RR_GATE_WAIT_SECS;
    pthread_mutex_lock(&rr_gate_mu);
    rr_gate_lives--; /* this life is not running yet */
    pthread_cond_broadcast(&rr_gate_cv);
    int skipped = until.tv_sec < rr_gate_skip_until + RR_GATE_WAIT_SECS;
    int timed_out = skipped;
    while (!timed_out && (rr_gate_lives > 0 || rr_gate_exclusive) && rr_accel_restart_pending()) {
        if (pthread_cond_timedwait(&rr_gate_cv, &rr_gate_mu, &until) == ETIMEDOUT) {
            timed_out = 1;
            rr_gate_skip_until = until.tv_sec + 5 * RR_GATE_WAIT_SECS;
            break;
        }
    }
    zend_result r;
    if (!timed_out && rr_accel_restart_pending()) {
        /* Alone: OPcache restarts now. */
        rr_gate_exclusive = 1;
        pthread_mutex_unlock(&rr_gate_mu);
        r = rr_orig_accel_rinit(type, module_number);
        pthread_mutex_lock(&rr_gate_mu);
        rr_gate_exclusive = 0;
    } else if (rr_accel_restart_pending()) {
        /* Others still run: postpone the restart past this startup. */
        ZCSG(restart_pending) = false;
        r = rr_orig_accel_rinit(type, module_number);
        ZCSG(restart_pending) = true;
        if (!skipped) {
            php_log_err("rustrunner: an OPcache restart is postponed: other worker threads did "
                        "not end their lives within 30 s (a request stuck in C code?)");
        }
    } else {
        /* Another thread did the restart. */
        r = rr_orig_accel_rinit(type, module_number);
    }
    rr_gate_lives++;
    pthread_cond_broadcast(&rr_gate_cv);
    pthread_mutex_unlock(&rr_gate_mu);
    return r;
}

/* In the post-startup hook, before any worker thread: module request
 * handlers are called through the registry's entries. */
static void rr_gate_install(void)
{
    zend_module_entry *m = zend_hash_str_find_ptr(&module_registry, "zend opcache",
                                                  sizeof("zend opcache") - 1);
    if (m && m->request_startup_func && m->request_startup_func != rr_accel_rinit) {
        rr_orig_accel_rinit = m->request_startup_func;
        m->request_startup_func = rr_accel_rinit;
    }
}

int rr_opcache_restart_pending(void)
{
    return rr_gate_on && rr_accel_restart_pending();
}
#else
static void rr_gate_install(void) {}

int rr_opcache_restart_pending(void)
{
    return 0;
}
#endif

/* Runs inside php_module_startup after zend_startup and before php.ini's
 * zend_extension= lines are loaded: the place to register a zend extension
 * that is part of the binary, exactly as loading opcache.so would. */
/* The default extension_dir (before php.ini, which may set its own): the
 * `extensions` folder next to a dist binary, set by the host. */
static char *rr_default_extension_dir = NULL;

void rr_set_default_extension_dir(const char *dir)
{
    if (rr_started) {
        return;
    }
    free(rr_default_extension_dir);
    rr_default_extension_dir = dir ? strdup(dir) : NULL;
}

static void rr_ini_defaults(HashTable *configuration_hash)
{
    if (rr_default_extension_dir) {
        zval v;
        ZVAL_NEW_STR(&v, zend_string_init(rr_default_extension_dir,
                                          strlen(rr_default_extension_dir), 1));
        zend_hash_str_update(configuration_hash, "extension_dir", sizeof("extension_dir") - 1, &v);
    }
#ifdef RR_STATIC_OPCACHE
    if (!zend_get_extension(rr_opcache_zend_extension_entry.name)) {
        zend_register_extension(&rr_opcache_zend_extension_entry, NULL);
    }
#endif
}

/* PHP_SAPI is "cli": RoadRunner workers are php-cli processes and code relies
 * on it. OPcache accepts "cli" when opcache.enable_cli=1, which we set. */
static sapi_module_struct rr_sapi_module = {
    .name = "cli",
    .pretty_name = "rustrunner (RoadRunner-compatible worker threads)",
    .startup = rr_sapi_startup,
    .shutdown = rr_sapi_shutdown,
    .ub_write = rr_ub_write,
    .flush = rr_flush,
    .getenv = rr_sapi_getenv,
    .sapi_error = php_error,
    .header_handler = rr_header_handler,
    .send_headers = rr_send_headers,
    .read_post = rr_read_post,
    .read_cookies = rr_read_cookies,
    .register_server_variables = rr_register_variables,
    .log_message = rr_log_message,
    .ini_defaults = rr_ini_defaults,
};

/* ------------------------------------------------------------------ */
/* STDIN / STDOUT / STDERR streams                                     */
/* ------------------------------------------------------------------ */

enum rr_stream_kind { RR_STREAM_IN = 1, RR_STREAM_OUT = 2, RR_STREAM_ERR = 3 };

static ssize_t rr_stream_write(php_stream *stream, const char *buf, size_t count)
{
    void *host = rr_host();
    intptr_t kind = (intptr_t)stream->abstract;
    if (!host) {
        return (ssize_t)fwrite(buf, 1, count, stderr);
    }
    if (kind == RR_STREAM_OUT) {
        size_t n = rr_cb.relay_write(host, buf, count);
        rr_timer_apply();
        return n == 0 && count > 0 ? -1 : (ssize_t)n;
    }
    if (kind == RR_STREAM_ERR) {
        rr_cb.stderr_write(host, buf, count);
        return (ssize_t)count;
    }
    return -1;
}

static ssize_t rr_stream_read(php_stream *stream, char *buf, size_t count)
{
    void *host = rr_host();
    intptr_t kind = (intptr_t)stream->abstract;
    if (!host || kind != RR_STREAM_IN) {
        stream->eof = 1;
        return 0;
    }
    size_t n = rr_cb.relay_read(host, buf, count);
    rr_timer_apply();
    if (n == 0) {
        stream->eof = 1;
    }
    return (ssize_t)n;
}

static int rr_stream_close(php_stream *stream, int close_handle)
{
    (void)stream;
    (void)close_handle;
    return 0;
}

static int rr_stream_flush(php_stream *stream)
{
    (void)stream;
    return 0;
}

static int rr_stream_set_option(php_stream *stream, int option, int value, void *ptrparam)
{
    (void)value;
    (void)ptrparam;
    if (option == PHP_STREAM_OPTION_CHECK_LIVENESS) {
        return stream->eof ? PHP_STREAM_OPTION_RETURN_ERR : PHP_STREAM_OPTION_RETURN_OK;
    }
    return PHP_STREAM_OPTION_RETURN_NOTIMPL;
}

/* stream_select() needs a real descriptor. Each worker thread owns a pipe
 * whose read end holds one byte exactly while the relay has bytes for PHP
 * (relay_readable), re-synced every time PHP asks for the descriptor. Only
 * this thread changes the relay's inbox, so the answer cannot go stale
 * during the select. goridge's StreamRelay::hasFrame() relies on this in
 * stream mode (after a PING, to pick up the PONG or a STOP). */
ZEND_TLS int rr_sel_pipe[2] = {-1, -1};
ZEND_TLS int rr_sel_armed = 0;

static int rr_select_fd(int kind)
{
    if (rr_sel_pipe[0] < 0) {
        if (pipe2(rr_sel_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
            rr_sel_pipe[0] = rr_sel_pipe[1] = -1;
            return -1;
        }
        rr_sel_armed = 0;
    }
    if (kind != RR_STREAM_IN) {
        /* STDOUT/STDERR never block: the write end (holds at most 1 byte) is
         * always writable. */
        return rr_sel_pipe[1];
    }
    void *host = rr_host();
    int readable = host && rr_cb.relay_readable(host);
    char c = 'x';
    if (readable && !rr_sel_armed) {
        if (write(rr_sel_pipe[1], &c, 1) == 1) {
            rr_sel_armed = 1;
        }
    } else if (!readable && rr_sel_armed) {
        if (read(rr_sel_pipe[0], &c, 1) == 1) {
            rr_sel_armed = 0;
        }
    }
    return rr_sel_pipe[0];
}

static void rr_select_fd_close(void)
{
    if (rr_sel_pipe[0] >= 0) {
        close(rr_sel_pipe[0]);
        close(rr_sel_pipe[1]);
        rr_sel_pipe[0] = rr_sel_pipe[1] = -1;
        rr_sel_armed = 0;
    }
}

static int rr_stream_cast(php_stream *stream, int castas, void **ret)
{
    if (castas != PHP_STREAM_AS_FD_FOR_SELECT) {
        return FAILURE; /* never hand out an fd to read/write through */
    }
    int fd = rr_select_fd((int)(intptr_t)stream->abstract);
    if (fd < 0) {
        return FAILURE;
    }
    if (ret) {
        *(php_socket_t *)ret = fd;
    }
    return SUCCESS;
}

/* The label is what stream_get_meta_data() reports as stream_type; the PHP
 * library tells in-process workers by it (RelayTransport::inProcess). */
static const php_stream_ops rr_stream_ops = {
    rr_stream_write, rr_stream_read, rr_stream_close, rr_stream_flush,
    "rustrunner relay", NULL, rr_stream_cast, NULL, rr_stream_set_option,
};

static php_stream *rr_open_std_stream(int kind)
{
    const char *mode = kind == RR_STREAM_IN ? "rb" : "wb";
    php_stream *s = php_stream_alloc(&rr_stream_ops, (void *)(intptr_t)kind, NULL, mode);
    if (s) {
        /* No read-ahead: a read returns what the relay gives, so a frame
         * header read of 12 bytes gets exactly 12 bytes. */
        s->flags |= PHP_STREAM_FLAG_NO_BUFFER;
    }
    return s;
}

/* php://stdin, php://stdout and php://stderr inside a worker are the relay
 * and the log; everything else goes to PHP's own php:// wrapper. */
static const php_stream_wrapper *rr_orig_php_wrapper = NULL;
static php_stream_wrapper_ops rr_php_wrapper_ops;
static php_stream_wrapper rr_php_wrapper;

static php_stream *rr_php_wrapper_open(php_stream_wrapper *wrapper, const char *path,
                                       const char *mode, int options, zend_string **opened_path,
                                       php_stream_context *context STREAMS_DC)
{
    if (rr_current && !rr_current->cli && !strncasecmp(path, "php://", 6)) {
        const char *p = path + 6;
        int kind = 0;
        if (!strcasecmp(p, "stdin")) {
            kind = RR_STREAM_IN;
        } else if (!strcasecmp(p, "stdout")) {
            kind = RR_STREAM_OUT;
        } else if (!strcasecmp(p, "stderr")) {
            kind = RR_STREAM_ERR;
        }
        if (kind) {
            return rr_open_std_stream(kind);
        }
    }
    return rr_orig_php_wrapper->wops->stream_opener((php_stream_wrapper *)rr_orig_php_wrapper,
                                                    path, mode, options, opened_path,
                                                    context STREAMS_REL_CC);
}

static void rr_install_php_wrapper(void)
{
    HashTable *ht = php_stream_get_url_stream_wrappers_hash_global();
    php_stream_wrapper *orig = zend_hash_str_find_ptr(ht, "php", sizeof("php") - 1);
    if (!orig) {
        return;
    }
    rr_orig_php_wrapper = orig;
    rr_php_wrapper_ops = *orig->wops;
    rr_php_wrapper_ops.stream_opener = rr_php_wrapper_open;
    rr_php_wrapper.wops = &rr_php_wrapper_ops;
    rr_php_wrapper.abstract = NULL;
    rr_php_wrapper.is_url = orig->is_url;
    php_unregister_url_stream_wrapper("php");
    php_register_url_stream_wrapper("php", &rr_php_wrapper);
}

static void rr_register_constant_stream(const char *name, php_stream *s)
{
    zend_constant c;
    s->flags |= PHP_STREAM_FLAG_NO_RSCR_DTOR_CLOSE;
    php_stream_to_zval(s, &c.value);
    ZEND_CONSTANT_SET_FLAGS(&c, CONST_CS, 0);
    c.name = zend_string_init_interned(name, strlen(name), 0);
    zend_register_constant(&c);
}

static void rr_register_file_handles(int cli)
{
    php_stream *in, *out, *err;
    if (cli) {
        /* php-cli's own streams over fds 0, 1, 2 (stream_isatty, select,
         * proc_open inheritance all behave as in php-cli). */
        in = php_stream_open_wrapper_ex("php://stdin", "rb", 0, NULL, NULL);
        out = php_stream_open_wrapper_ex("php://stdout", "wb", 0, NULL, NULL);
        err = php_stream_open_wrapper_ex("php://stderr", "wb", 0, NULL, NULL);
    } else {
        in = rr_open_std_stream(RR_STREAM_IN);
        out = rr_open_std_stream(RR_STREAM_OUT);
        err = rr_open_std_stream(RR_STREAM_ERR);
    }
    if (!in || !out || !err) {
        if (in) php_stream_close(in);
        if (out) php_stream_close(out);
        if (err) php_stream_close(err);
        return;
    }
    rr_register_constant_stream("STDIN", in);
    rr_register_constant_stream("STDOUT", out);
    rr_register_constant_stream("STDERR", err);
}

/* ------------------------------------------------------------------ */
/* Native functions (the server's worker API)                          */
/* ------------------------------------------------------------------ */

static void rr_add_str(zval *arr, const char *key, rr_str s)
{
    add_assoc_stringl_ex(arr, key, strlen(key), s.ptr ? s.ptr : "", s.len);
}

PHP_FUNCTION(rustrunner_wait_request)
{
    ZEND_PARSE_PARAMETERS_NONE();
    void *host = rr_host();
    if (!host) {
        RETURN_NULL();
    }
    rr_request req;
    memset(&req, 0, sizeof(req));
    int got = rr_cb.wait_request(host, &req);
    rr_timer_apply();
    if (got != RR_WAIT_REQUEST) {
        RETURN_NULL();
    }
    array_init_size(return_value, 12);
    rr_add_str(return_value, "remoteAddr", req.remote_addr);
    rr_add_str(return_value, "protocol", req.protocol);
    rr_add_str(return_value, "method", req.method);
    rr_add_str(return_value, "uri", req.uri);

    zval headers;
    array_init_size(&headers, (uint32_t)req.header_count);
    zval *current = NULL;
    for (size_t i = 0; i < req.header_count; i++) {
        rr_str n = req.header_names[i];
        rr_str v = req.header_values[i];
        if (!current || i == 0 || req.header_names[i - 1].len != n.len ||
            memcmp(req.header_names[i - 1].ptr, n.ptr, n.len) != 0) {
            zval list;
            array_init_size(&list, 1);
            current = zend_hash_str_update(Z_ARRVAL(headers), n.ptr, n.len, &list);
        }
        add_next_index_stringl(current, v.ptr, v.len);
    }
    add_assoc_zval_ex(return_value, "headers", sizeof("headers") - 1, &headers);

    zval cookies;
    array_init_size(&cookies, (uint32_t)req.cookie_count);
    for (size_t i = 0; i < req.cookie_count; i++) {
        rr_str n = req.cookie_names[i];
        rr_str v = req.cookie_values[i];
        add_assoc_stringl_ex(&cookies, n.ptr, n.len, v.ptr, v.len);
    }
    add_assoc_zval_ex(return_value, "cookies", sizeof("cookies") - 1, &cookies);

    rr_add_str(return_value, "rawQuery", req.raw_query);
    add_assoc_bool_ex(return_value, "parsed", sizeof("parsed") - 1, req.parsed != 0);
    rr_add_str(return_value, "uploads", req.uploads);
    rr_add_str(return_value, "attributes", req.attributes);
    rr_add_str(return_value, "body", req.body);
}

/* Append the string form of one header value; non-scalars are skipped. */
static int rr_header_value(zval *v, zend_string **out)
{
    ZVAL_DEREF(v);
    switch (Z_TYPE_P(v)) {
    case IS_STRING:
        *out = zend_string_copy(Z_STR_P(v));
        return 1;
    case IS_LONG:
    case IS_DOUBLE:
    case IS_TRUE:
    case IS_FALSE:
        *out = zval_get_string(v);
        return 1;
    default:
        return 0;
    }
}

PHP_FUNCTION(rustrunner_respond)
{
    zend_long status;
    HashTable *headers;
    zend_string *body;
    bool more = 0;
    ZEND_PARSE_PARAMETERS_START(3, 4)
        Z_PARAM_LONG(status)
        Z_PARAM_ARRAY_HT(headers)
        Z_PARAM_STR(body)
        Z_PARAM_OPTIONAL
        Z_PARAM_BOOL(more)
    ZEND_PARSE_PARAMETERS_END();
    void *host = rr_host();
    if (!host) {
        RETURN_FALSE;
    }

    /* Count values first. A header whose value is an empty array sends
     * nothing and is skipped, so only names with at least one value are
     * owned: `owned` holds at most one name per value plus the values. */
    size_t cap = 0;
    zval *entry;
    ZEND_HASH_FOREACH_VAL(headers, entry) {
        ZVAL_DEREF(entry);
        cap += Z_TYPE_P(entry) == IS_ARRAY ? zend_hash_num_elements(Z_ARRVAL_P(entry)) : 1;
    } ZEND_HASH_FOREACH_END();

    size_t owned_cap = cap * 2;
    rr_str *names = cap ? emalloc(sizeof(rr_str) * cap) : NULL;
    rr_str *values = cap ? emalloc(sizeof(rr_str) * cap) : NULL;
    zend_string **owned = cap ? emalloc(sizeof(zend_string *) * owned_cap) : NULL;
    size_t n = 0, n_owned = 0;
    zend_string *key;
    zend_ulong idx;
    ZEND_HASH_FOREACH_KEY_VAL(headers, idx, key, entry) {
        ZVAL_DEREF(entry);
        if (Z_TYPE_P(entry) == IS_ARRAY && zend_hash_num_elements(Z_ARRVAL_P(entry)) == 0) {
            continue;
        }
        /* One slot for the name and one per value stay free: each non-empty
         * entry adds at least one value to `cap`. */
        if (n_owned >= owned_cap) {
            break;
        }
        zend_string *name = key ? zend_string_copy(key) : zend_long_to_str((zend_long)idx);
        owned[n_owned++] = name;
        if (Z_TYPE_P(entry) == IS_ARRAY) {
            zval *v;
            ZEND_HASH_FOREACH_VAL(Z_ARRVAL_P(entry), v) {
                zend_string *s;
                if (n < cap && n_owned < owned_cap && rr_header_value(v, &s)) {
                    owned[n_owned++] = s;
                    names[n] = (rr_str){ZSTR_VAL(name), ZSTR_LEN(name)};
                    values[n] = (rr_str){ZSTR_VAL(s), ZSTR_LEN(s)};
                    n++;
                }
            } ZEND_HASH_FOREACH_END();
        } else {
            zend_string *s;
            if (n < cap && n_owned < owned_cap && rr_header_value(entry, &s)) {
                owned[n_owned++] = s;
                names[n] = (rr_str){ZSTR_VAL(name), ZSTR_LEN(name)};
                values[n] = (rr_str){ZSTR_VAL(s), ZSTR_LEN(s)};
                n++;
            }
        }
    } ZEND_HASH_FOREACH_END();

    int go_on = rr_cb.respond(host, (int64_t)status, names, values, n, ZSTR_VAL(body),
                              ZSTR_LEN(body), more ? 1 : 0);
    rr_timer_apply();

    for (size_t i = 0; i < n_owned; i++) {
        zend_string_release(owned[i]);
    }
    if (cap) {
        efree(names);
        efree(values);
        efree(owned);
    }
    RETURN_BOOL(go_on != 0);
}

PHP_FUNCTION(rustrunner_error)
{
    zend_string *msg;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_STR(msg)
    ZEND_PARSE_PARAMETERS_END();
    void *host = rr_host();
    if (host) {
        rr_cb.error(host, ZSTR_VAL(msg), ZSTR_LEN(msg));
        rr_timer_apply();
    }
}

PHP_FUNCTION(rustrunner_stop)
{
    ZEND_PARSE_PARAMETERS_NONE();
    void *host = rr_host();
    if (host) {
        rr_cb.stop(host);
        rr_timer_apply();
    }
}

/* putenv()/getenv() replacements (they keep the arginfo of the functions
 * they replace): the environment is per worker thread, so
 * one worker's putenv never races another thread's getenv (libc setenv is not
 * thread-safe). */
PHP_FUNCTION(rustrunner_putenv)
{
    zend_string *setting;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_STR(setting)
    ZEND_PARSE_PARAMETERS_END();
    void *host = rr_host();
    if (!host) {
        RETURN_FALSE;
    }
    const char *s = ZSTR_VAL(setting);
    size_t len = ZSTR_LEN(setting);
    if (len == 0 || s[0] == '=') {
        zend_argument_value_error(1, "must have a valid syntax");
        RETURN_THROWS();
    }
    const char *eq = memchr(s, '=', len);
    if (eq) {
        rr_cb.putenv(host, s, (size_t)(eq - s), eq + 1, len - (size_t)(eq - s) - 1, 0);
    } else {
        rr_cb.putenv(host, s, len, "", 0, 1);
    }
    RETURN_TRUE;
}

PHP_FUNCTION(rustrunner_getenv)
{
    zend_string *name = NULL;
    bool local_only = 0;
    ZEND_PARSE_PARAMETERS_START(0, 2)
        Z_PARAM_OPTIONAL
        Z_PARAM_STR_OR_NULL(name)
        Z_PARAM_BOOL(local_only)
    ZEND_PARSE_PARAMETERS_END();
    (void)local_only;
    void *host = rr_host();
    if (!name) {
        array_init(return_value);
        if (host) {
            rr_import_environment_variables(return_value);
        }
        return;
    }
    if (!host) {
        RETURN_FALSE;
    }
    const char *v = rr_cb.getenv(host, ZSTR_VAL(name), ZSTR_LEN(name));
    if (!v) {
        RETURN_FALSE;
    }
    RETURN_STRING(v);
}

/* opcache_reset() under ZTS frees shared memory that other threads are
 * executing from (php-src #18517). We turn it into a rolling restart of
 * every worker at a request boundary, which gives the same result safely. */
PHP_FUNCTION(rustrunner_opcache_reset)
{
    ZEND_PARSE_PARAMETERS_NONE();
    void *host = rr_host();
    if (host) {
        rr_cb.opcache_reset(host);
    }
    RETURN_TRUE;
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_rustrunner_wait_request, 0, 0, IS_ARRAY, 1)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_rustrunner_respond, 0, 3, _IS_BOOL, 0)
    ZEND_ARG_TYPE_INFO(0, status, IS_LONG, 0)
    ZEND_ARG_TYPE_INFO(0, headers, IS_ARRAY, 0)
    ZEND_ARG_TYPE_INFO(0, body, IS_STRING, 0)
    ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, more, _IS_BOOL, 0, "false")
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_rustrunner_error, 0, 1, IS_VOID, 0)
    ZEND_ARG_TYPE_INFO(0, message, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_rustrunner_stop, 0, 0, IS_VOID, 0)
ZEND_END_ARG_INFO()

static const zend_function_entry rr_functions[] = {
    ZEND_FE(rustrunner_wait_request, arginfo_rustrunner_wait_request)
    ZEND_FE(rustrunner_respond, arginfo_rustrunner_respond)
    ZEND_FE(rustrunner_error, arginfo_rustrunner_error)
    ZEND_FE(rustrunner_stop, arginfo_rustrunner_stop)
    ZEND_FE_END
};

static void rr_override_function(const char *name, zif_handler handler);
static void rr_wrap_timeout_ini(void);

/* ------------------------------------------------------------------ */
/* Guards: what one thread worker must not do to the whole process     */
/* ------------------------------------------------------------------ */

/* Functions whose effect is process-wide (fork, exec of the image, signal
 * dispositions, the process alarm, ids, sessions, limits). In a thread
 * worker they would act on the server and every other worker, so they throw
 * instead; with `server.executor: process` each worker is a process of its
 * own and they work as in php-cli. */
static const char *const rr_refused[] = {
    "pcntl_fork", "pcntl_rfork", "pcntl_forkx", "pcntl_exec", "pcntl_unshare",
    "pcntl_signal", "pcntl_alarm", "pcntl_setpriority",
    "posix_setuid", "posix_setgid", "posix_seteuid", "posix_setegid", "posix_setsid",
    "posix_setpgid", "posix_setrlimit", "posix_initgroups",
    NULL,
};

PHP_FUNCTION(rustrunner_refused)
{
    (void)return_value;
    zend_string *name = EX(func)->common.function_name;
    zend_throw_error(NULL,
                     "%s() is not available in thread workers: it would act on the whole server "
                     "and every worker. Run this code with server.executor: process (php-cli "
                     "worker processes) if it needs it",
                     name ? ZSTR_VAL(name) : "this function");
}

/* posix_kill() of the server itself (its pid, its process group, or every
 * process) with a real signal: thrown, as above. Other pids, and signal 0
 * (does it exist?), go to PHP's own function. */
static zif_handler rr_orig_posix_kill = NULL;

PHP_FUNCTION(rustrunner_posix_kill)
{
    zend_long pid, sig;
    ZEND_PARSE_PARAMETERS_START(2, 2)
        Z_PARAM_LONG(pid)
        Z_PARAM_LONG(sig)
    ZEND_PARSE_PARAMETERS_END();
    if (sig != 0 && (pid == getpid() || pid == 0 || pid == -1 || pid == -(zend_long)getpgrp())) {
        zend_throw_error(NULL,
                         "posix_kill(%ld, %ld) is not available in thread workers: the signal "
                         "would go to the whole server. Run this code with server.executor: "
                         "process if it needs it",
                         (long)pid, (long)sig);
        RETURN_THROWS();
    }
    rr_orig_posix_kill(execute_data, return_value);
}

/* Programs a worker starts inherit the calling thread's signal mask, and
 * PHP threads block the server's signals (they belong to the server's own
 * threads): a child would start with SIGTERM, SIGINT, SIGCHLD... blocked,
 * and proc_terminate() could not stop it. These functions run with the
 * mask cleared; a server signal that arrives meanwhile runs the server's
 * handler on this thread (it only wakes the server, and it restarts
 * interrupted system calls). */
static const char *const rr_spawners[] = {
    "exec", "system", "passthru", "shell_exec", "popen", "proc_open", "mail", NULL,
};
static zif_handler rr_orig_spawners[sizeof(rr_spawners) / sizeof(rr_spawners[0])];

PHP_FUNCTION(rustrunner_spawn)
{
    zend_string *name = EX(func)->common.function_name;
    zif_handler orig = NULL;
    for (size_t i = 0; rr_spawners[i]; i++) {
        if (name && zend_string_equals_cstr(name, rr_spawners[i], strlen(rr_spawners[i]))) {
            orig = rr_orig_spawners[i];
            break;
        }
    }
    if (!orig) {
        zend_throw_error(NULL, "internal error: no handler for %s()",
                         name ? ZSTR_VAL(name) : "?");
        RETURN_THROWS();
    }
    sigset_t empty, old;
    sigemptyset(&empty);
    pthread_sigmask(SIG_SETMASK, &empty, &old);
    orig(execute_data, return_value);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static zif_handler rr_function_handler(const char *name)
{
    zend_function *fn = zend_hash_str_find_ptr(CG(function_table), name, strlen(name));
    return fn && fn->type == ZEND_INTERNAL_FUNCTION ? fn->internal_function.handler : NULL;
}

/* The C stack of a worker thread. PHP 8.2 has no limit of its own: a
 * recursion through internal functions (array_map('f'), usort, callbacks
 * of preg_replace_callback...) re-enters the VM in C on every level and
 * overflows the thread's stack, which kills the process. Every internal
 * function call passes through zend_execute_internal: there the remaining
 * stack is checked, and PHP 8.3's own error is thrown when it runs low. PHP
 * >= 8.3 checks VM re-entries itself (zend.max_allowed_stack_size, detected
 * per thread); this hook also covers internal functions there. */
ZEND_TLS const char *rr_stack_limit = NULL;
ZEND_TLS size_t rr_stack_size = 0;
static void (*rr_prev_execute_internal)(zend_execute_data *, zval *) = NULL;

static void rr_execute_internal(zend_execute_data *execute_data, zval *return_value)
{
    const char *here = (const char *)__builtin_frame_address(0);
    if (UNEXPECTED(rr_stack_limit != NULL && here < rr_stack_limit)) {
        zend_throw_error(NULL,
                         "Maximum call stack size of %zu bytes reached (the worker thread's "
                         "stack). Infinite recursion?",
                         rr_stack_size);
        return;
    }
    if (rr_prev_execute_internal) {
        rr_prev_execute_internal(execute_data, return_value);
    } else {
        execute_internal(execute_data, return_value);
    }
}

/* This thread's stack bounds (glibc leaves the guard page out). The reserve
 * is what a single internal function may still use below the check: PCRE,
 * the serializers and printers recurse in C on deep data. */
static void rr_stack_guard_init(void)
{
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        return;
    }
    if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr && size > (1u << 20)) {
        size_t reserve = size / 8 > (256u << 10) ? size / 8 : (256u << 10);
        rr_stack_limit = (const char *)addr + reserve;
        rr_stack_size = size;
    }
    pthread_attr_destroy(&attr);
}

/* memory_limit is one thread's heap, but every thread worker shares the
 * process: one worker that lifts it to -1 and grows gets the whole server
 * OOM-killed. The server sets a ceiling (from max_worker_memory and the
 * memory the machine or cgroup has); a larger memory_limit is refused with a
 * warning, so ini_set() returns false and ini_get() stays truthful, and a
 * larger one from php.ini is lowered to the ceiling when a life starts. */
static size_t rr_memory_ceiling = 0;
static ZEND_INI_MH((*rr_orig_memory_mh)) = NULL;

void rr_set_memory_ceiling(size_t bytes)
{
    if (!rr_started) {
        rr_memory_ceiling = bytes;
    }
}

static ZEND_INI_MH(rr_on_update_memory_limit)
{
    if (rr_memory_ceiling && rr_current && new_value && stage == ZEND_INI_STAGE_RUNTIME) {
        size_t v = zend_ini_parse_uquantity_warn(new_value, entry->name);
        if (v > rr_memory_ceiling) {
            zend_error(E_WARNING,
                       "Failed to set memory_limit to %s: thread workers share one process, "
                       "so memory_limit cannot exceed %zu bytes here (the server's ceiling; "
                       "server.executor: process lifts it)",
                       ZSTR_VAL(new_value), rr_memory_ceiling);
            return FAILURE;
        }
    }
    return rr_orig_memory_mh(entry, new_value, mh_arg1, mh_arg2, mh_arg3, stage);
}

static void rr_memory_limit_to_ceiling(void)
{
    if (!rr_memory_ceiling || PG(memory_limit) <= rr_memory_ceiling) {
        return;
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%zu", rr_memory_ceiling);
    zend_string *key = zend_string_init("memory_limit", sizeof("memory_limit") - 1, 0);
    zend_alter_ini_entry_chars(key, buf, strlen(buf), PHP_INI_SYSTEM, PHP_INI_STAGE_RUNTIME);
    zend_string_release(key);
}

/* The locale. libc's setlocale() is process-wide: one worker's
 * setlocale(LC_ALL, 'de_DE') changed number formatting in every other
 * worker, and PHP's request shutdown resets it (setlocale(LC_ALL, "C")) for
 * everyone. The binary is linked with --wrap=setlocale (build.rs, static
 * libphp only), so every setlocale() of PHP and its extensions comes here:
 * on a worker thread it changes the thread's own locale (uselocale), which
 * glibc's locale-dependent functions use; elsewhere it is libc's. */
#ifdef RR_WRAP_SETLOCALE
#include <langinfo.h>
#include <locale.h>

char *__real_setlocale(int category, const char *locale);
char *__wrap_setlocale(int category, const char *locale);

ZEND_TLS int rr_locale_per_thread = 0;
ZEND_TLS locale_t rr_thread_locale = (locale_t)0;
ZEND_TLS char rr_locale_name[1024];

static const struct {
    int cat;
    const char *name;
} rr_lc[] = {
    {LC_CTYPE, "LC_CTYPE"},       {LC_NUMERIC, "LC_NUMERIC"},
    {LC_TIME, "LC_TIME"},         {LC_COLLATE, "LC_COLLATE"},
    {LC_MONETARY, "LC_MONETARY"}, {LC_MESSAGES, "LC_MESSAGES"},
    {LC_PAPER, "LC_PAPER"},       {LC_NAME, "LC_NAME"},
    {LC_ADDRESS, "LC_ADDRESS"},   {LC_TELEPHONE, "LC_TELEPHONE"},
    {LC_MEASUREMENT, "LC_MEASUREMENT"}, {LC_IDENTIFICATION, "LC_IDENTIFICATION"},
};
#define RR_LC_COUNT (sizeof(rr_lc) / sizeof(rr_lc[0]))

static int rr_lc_mask(int category)
{
    if (category == LC_ALL) {
        return LC_ALL_MASK;
    }
    for (size_t i = 0; i < RR_LC_COUNT; i++) {
        if (rr_lc[i].cat == category) {
            return 1 << category;
        }
    }
    return 0;
}

/* The name setlocale(category, NULL) reports, for the thread's locale:
 * one name, or glibc's composite form when LC_ALL's categories differ. */
static char *rr_locale_report(int category)
{
    locale_t loc = rr_thread_locale;
    if (category != LC_ALL) {
        snprintf(rr_locale_name, sizeof(rr_locale_name), "%s",
                 nl_langinfo_l(_NL_LOCALE_NAME(category), loc));
        return rr_locale_name;
    }
    const char *first = nl_langinfo_l(_NL_LOCALE_NAME(LC_CTYPE), loc);
    int same = 1;
    for (size_t i = 1; i < RR_LC_COUNT; i++) {
        if (strcmp(first, nl_langinfo_l(_NL_LOCALE_NAME(rr_lc[i].cat), loc)) != 0) {
            same = 0;
            break;
        }
    }
    if (same) {
        snprintf(rr_locale_name, sizeof(rr_locale_name), "%s", first);
        return rr_locale_name;
    }
    size_t off = 0;
    rr_locale_name[0] = '\0';
    for (size_t i = 0; i < RR_LC_COUNT && off < sizeof(rr_locale_name); i++) {
        int n = snprintf(rr_locale_name + off, sizeof(rr_locale_name) - off, "%s%s=%s",
                         i ? ";" : "", rr_lc[i].name,
                         nl_langinfo_l(_NL_LOCALE_NAME(rr_lc[i].cat), loc));
        if (n < 0) {
            break;
        }
        off += (size_t)n;
    }
    return rr_locale_name;
}

char *__wrap_setlocale(int category, const char *locale)
{
    if (!rr_locale_per_thread) {
        return __real_setlocale(category, locale);
    }
    int mask = rr_lc_mask(category);
    if (!mask) {
        errno = EINVAL;
        return NULL;
    }
    if (!rr_thread_locale) {
        /* The first change on this thread starts from the process's. */
        rr_thread_locale = duplocale(LC_GLOBAL_LOCALE);
        if (!rr_thread_locale) {
            return NULL;
        }
        uselocale(rr_thread_locale);
    }
    if (locale) {
        /* On success newlocale() reuses or frees the base; on failure the
         * base is untouched. */
        locale_t n = newlocale(mask, locale, rr_thread_locale);
        if (!n) {
            return NULL;
        }
        rr_thread_locale = n;
        uselocale(n);
    }
    return rr_locale_report(category);
}

static void rr_locale_thread_start(void)
{
    rr_locale_per_thread = rr_gate_on;
}

static void rr_locale_thread_stop(void)
{
    if (rr_thread_locale) {
        uselocale(LC_GLOBAL_LOCALE);
        freelocale(rr_thread_locale);
        rr_thread_locale = (locale_t)0;
    }
    rr_locale_per_thread = 0;
}
#else
static void rr_locale_thread_start(void) {}
static void rr_locale_thread_stop(void) {}
#endif

/* In the post-startup hook (before any worker thread copies the tables),
 * and only for worker threads: `rr php-cli` is a process of its own. */
static void rr_guards_install(void)
{
    for (size_t i = 0; rr_refused[i]; i++) {
        rr_override_function(rr_refused[i], ZEND_FN(rustrunner_refused));
    }
    rr_orig_posix_kill = rr_function_handler("posix_kill");
    if (rr_orig_posix_kill) {
        rr_override_function("posix_kill", ZEND_FN(rustrunner_posix_kill));
    }
    for (size_t i = 0; rr_spawners[i]; i++) {
        rr_orig_spawners[i] = rr_function_handler(rr_spawners[i]);
        if (rr_orig_spawners[i]) {
            rr_override_function(rr_spawners[i], ZEND_FN(rustrunner_spawn));
        }
    }
    if (zend_execute_internal != rr_execute_internal) {
        rr_prev_execute_internal = zend_execute_internal;
        zend_execute_internal = rr_execute_internal;
    }
    zend_ini_entry *e = zend_hash_str_find_ptr(EG(ini_directives), "memory_limit",
                                               sizeof("memory_limit") - 1);
    if (e && e->on_modify && e->on_modify != rr_on_update_memory_limit) {
        rr_orig_memory_mh = e->on_modify;
        e->on_modify = rr_on_update_memory_limit;
    }
}

/* Function overrides must land in the global function table, which worker
 * threads copy at their start. Under ZTS, zend_post_startup() replaces the
 * process thread's table with a copy, so overriding after php_module_startup
 * would only change that copy. The post-startup hook runs before the copy and
 * after every extension (OPcache included) registered its functions. */
static zend_result (*rr_orig_post_startup_cb)(void) = NULL;

static zend_result rr_post_startup(void)
{
    if (rr_orig_post_startup_cb) {
        zend_result (*cb)(void) = rr_orig_post_startup_cb;
        rr_orig_post_startup_cb = NULL;
        if (cb() != SUCCESS) {
            return FAILURE;
        }
    }
    rr_override_function("putenv", ZEND_FN(rustrunner_putenv));
    rr_override_function("getenv", ZEND_FN(rustrunner_getenv));
    if (rr_gate_on) {
        /* Worker threads only: `rr php-cli` is one thread and may reset. */
        rr_override_function("opcache_reset", ZEND_FN(rustrunner_opcache_reset));
    }
    rr_wrap_timeout_ini();
    rr_gate_install();
    if (rr_gate_on) {
        rr_guards_install();
    }
    return SUCCESS;
}

static PHP_MINIT_FUNCTION(rustrunner)
{
    (void)type;
    (void)module_number;
    rr_orig_post_startup_cb = zend_post_startup_cb;
    zend_post_startup_cb = rr_post_startup;
    return SUCCESS;
}

static zend_module_entry rr_module_entry = {
    STANDARD_MODULE_HEADER,
    "rustrunner",
    rr_functions,
    PHP_MINIT(rustrunner),
    NULL, /* MSHUTDOWN */
    NULL, /* RINIT */
    NULL, /* RSHUTDOWN */
    NULL, /* MINFO */
    "0.1.0",
    STANDARD_MODULE_PROPERTIES,
};

/* Point an existing internal function at another handler (before any worker
 * thread starts, so every thread's function table sees it). */
static void rr_override_function(const char *name, zif_handler handler)
{
    zend_function *fn = zend_hash_str_find_ptr(CG(function_table), name, strlen(name));
    if (fn && fn->type == ZEND_INTERNAL_FUNCTION) {
        fn->internal_function.handler = handler;
    }
}

/* ------------------------------------------------------------------ */
/* Process and thread lifecycle                                        */
/* ------------------------------------------------------------------ */

static int rr_sapi_startup(sapi_module_struct *module)
{
    return php_module_startup(module, &rr_module_entry) == SUCCESS ? SUCCESS : FAILURE;
}

static int rr_sapi_shutdown(sapi_module_struct *module)
{
    (void)module;
    php_module_shutdown();
    return SUCCESS;
}

static char *rr_ini_copy = NULL;
static char *rr_executable = NULL;
static char *rr_ini_path = NULL;
static int rr_ini_ignore = 0;

void rr_php_configure(const char *executable, int ini_ignore, const char *ini_path,
                      int worker_functions)
{
    if (rr_started) {
        /* The SAPI points at these strings while PHP runs. */
        return;
    }
    rr_module_entry.functions = worker_functions ? rr_functions : NULL;
    rr_gate_on = worker_functions ? 1 : 0;
    free(rr_executable);
    free(rr_ini_path);
    rr_executable = executable ? strdup(executable) : NULL;
    rr_ini_path = ini_path ? strdup(ini_path) : NULL;
    rr_ini_ignore = ini_ignore ? 1 : 0;
}

static void rr_process_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    sigaddset(set, SIGPIPE);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGALRM);
    sigaddset(set, SIGWINCH);
}

void rr_block_process_signals(void)
{
    sigset_t set;
    rr_process_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ------------------------------------------------------------------ */
/* What a crash was doing                                              */
/* ------------------------------------------------------------------ */

/* A crash in C (an extension's segfault, an abort, a stack overflow while
 * freeing deep data) ends the process. Before it does, one line on stderr
 * says which signal, which worker and which request it was serving, so the
 * log (a cell's supervisor's too) tells what to look at. The request is
 * noted per thread at each request start (a copy of method and target).
 * The handler only formats into a stack buffer and calls write(2), then
 * hands the signal to whoever had it before (Rust's stack overflow report),
 * or to the default action. */
#define RR_CRASH_CTX 240
ZEND_TLS char rr_crash_ctx[RR_CRASH_CTX];
ZEND_TLS size_t rr_crash_len = 0;
ZEND_TLS int rr_crash_worker = -1;

void rr_note_request(int worker, const char *method, size_t method_len, const char *target,
                     size_t target_len)
{
    size_t n = 0;
    for (size_t i = 0; i < method_len && n < RR_CRASH_CTX - 2; i++) {
        rr_crash_ctx[n++] = method[i];
    }
    rr_crash_ctx[n++] = ' ';
    for (size_t i = 0; i < target_len && n < RR_CRASH_CTX; i++) {
        char c = target[i];
        rr_crash_ctx[n++] = (c < 0x20 || c == 0x7f) ? '?' : c;
    }
    rr_crash_len = n;
    rr_crash_worker = worker;
}

void rr_note_idle(void)
{
    rr_crash_len = 0;
}

static const int rr_fatal_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
#define RR_FATAL_COUNT (sizeof(rr_fatal_signals) / sizeof(rr_fatal_signals[0]))
static struct sigaction rr_fatal_old[RR_FATAL_COUNT];
static volatile sig_atomic_t rr_fatal_reported = 0;

static size_t rr_put(char *buf, size_t n, size_t cap, const char *s, size_t len)
{
    for (size_t i = 0; i < len && n < cap; i++) {
        buf[n++] = s[i];
    }
    return n;
}

static size_t rr_put_int(char *buf, size_t n, size_t cap, long v)
{
    char tmp[24];
    size_t t = 0;
    if (v < 0) {
        n = rr_put(buf, n, cap, "-", 1);
        v = -v;
    }
    do {
        tmp[t++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && t < sizeof(tmp));
    while (t > 0 && n < cap) {
        buf[n++] = tmp[--t];
    }
    return n;
}

static void rr_fatal_signal(int sig, siginfo_t *si, void *uc)
{
    size_t idx = 0;
    while (idx < RR_FATAL_COUNT && rr_fatal_signals[idx] != sig) {
        idx++;
    }
    if (!rr_fatal_reported) {
        rr_fatal_reported = 1;
        char buf[512];
        size_t n = 0, cap = sizeof(buf) - 1;
        n = rr_put(buf, n, cap, "rustrunner: fatal signal ", 25);
        n = rr_put_int(buf, n, cap, sig);
        const char *name = sig == SIGSEGV ? " (SIGSEGV)" : sig == SIGBUS ? " (SIGBUS)"
                         : sig == SIGABRT ? " (SIGABRT)" : sig == SIGFPE ? " (SIGFPE)"
                         : " (SIGILL)";
        n = rr_put(buf, n, cap, name, strlen(name));
        if (rr_crash_worker >= 0) {
            n = rr_put(buf, n, cap, " in worker ", 11);
            n = rr_put_int(buf, n, cap, rr_crash_worker);
            if (rr_crash_len > 0) {
                n = rr_put(buf, n, cap, " while serving ", 15);
                n = rr_put(buf, n, cap, rr_crash_ctx, rr_crash_len);
            } else {
                n = rr_put(buf, n, cap, " between requests", 17);
            }
        } else {
            n = rr_put(buf, n, cap, " outside the PHP workers", 24);
        }
        buf[n++] = '\n';
        ssize_t w = write(2, buf, n);
        (void)w;
    }
    /* Hand it on: a fault re-runs the instruction under the old action
     * (Rust's handler tells a stack overflow); anything else is raised
     * again with the old action. */
    if (idx < RR_FATAL_COUNT) {
        sigaction(sig, &rr_fatal_old[idx], NULL);
    } else {
        signal(sig, SIG_DFL);
    }
    if (si == NULL || si->si_code <= 0 || sig == SIGABRT) {
        raise(sig);
    }
    (void)uc;
}

static void rr_install_crash_report(void)
{
    for (size_t i = 0; i < RR_FATAL_COUNT; i++) {
        struct sigaction act;
        memset(&act, 0, sizeof(act));
        act.sa_sigaction = rr_fatal_signal;
        act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
        sigemptyset(&act.sa_mask);
        sigaction(rr_fatal_signals[i], &act, &rr_fatal_old[i]);
    }
}

int rr_php_startup(const rr_callbacks *callbacks, const char *ini_entries, char *err,
                   size_t err_len)
{
    if (rr_started) {
        snprintf(err, err_len, "PHP is already started");
        return -1;
    }
    rr_cb = *callbacks;

#if PHP_VERSION_ID >= 80300
    php_tsrm_startup_ex(64);
#else
    php_tsrm_startup();
#endif
    ZEND_TSRMLS_CACHE_UPDATE();
    zend_signal_startup();

    /* Set before sapi_startup, which copies the struct. */
    rr_sapi_module.executable_location = rr_executable;
    rr_sapi_module.php_ini_ignore = rr_ini_ignore;
    rr_sapi_module.php_ini_path_override = rr_ini_path;
    sapi_startup(&rr_sapi_module);
    rr_sapi_module.php_ini_ignore_cwd = 1;
    rr_sapi_module.phpinfo_as_text = 1;
    /* ini_entries must outlive the engine. */
    size_t n = strlen(ini_entries);
    rr_ini_copy = malloc(n + 2);
    memcpy(rr_ini_copy, ini_entries, n + 1);
    rr_sapi_module.ini_entries = rr_ini_copy;

    rr_orig_import_env = php_import_environment_variables;
    php_import_environment_variables = rr_import_environment_variables;

    if (rr_sapi_module.startup(&rr_sapi_module) == FAILURE) {
        snprintf(err, err_len, "php_module_startup failed (see the messages above)");
        return -1;
    }

    rr_install_php_wrapper();
    if (rr_gate_on) {
        rr_install_crash_report();
    }

    rr_started = 1;
    return 0;
}

void rr_php_shutdown(void)
{
    if (!rr_started) {
        return;
    }
    rr_started = 0;
    rr_sapi_module.shutdown(&rr_sapi_module);
    sapi_shutdown();
    tsrm_shutdown();
    free(rr_ini_copy);
    rr_ini_copy = NULL;
}

int rr_thread_start(void)
{
    /* Process signals are handled by the server's own threads; PHP threads
     * keep only the synchronous ones and SIGRTMIN (execution timers). */
    rr_block_process_signals();

    /* umask (and the kernel's cwd and root) per thread: one worker's
     * umask(0777) must not make every other worker's files mode 000. PHP
     * restores its umask at request end, now only on this thread. */
    (void)unshare(CLONE_FS);
    rr_stack_guard_init();
    rr_locale_thread_start();

    (void)ts_resource(0);
    ZEND_TSRMLS_CACHE_UPDATE();
    return 0;
}

void rr_thread_stop(void)
{
    rr_locale_thread_stop();
    rr_select_fd_close();
    ts_free_thread();
}

/* exec_ttl's deadline on this thread (CLOCK_MONOTONIC, ns; 0 = none). The
 * engine's timer enforces it; the deadline is what keeps set_time_limit()
 * and ini_set('max_execution_time') from pushing it back. */
ZEND_TLS uint64_t rr_exec_deadline_ns = 0;
/* Something may have armed the engine's timer on this thread since it was
 * last disarmed (request startup arms max_execution_time). */
ZEND_TLS int rr_timer_armed = 0;
enum { RR_TIMER_KEEP = 0, RR_TIMER_ARM, RR_TIMER_DISARM };
ZEND_TLS int rr_timer_op = RR_TIMER_KEEP;
ZEND_TLS zend_long rr_timer_arm_secs = 0;

void rr_worker_life(const rr_life *life, rr_life_result *result)
{
    memset(result, 0, sizeof(*result));
    rr_current = life;

    SG(server_context) = life->host;
    SG(request_info).argc = life->argc;
    SG(request_info).argv = life->argv;
    SG(request_info).path_translated = (char *)life->script;
    SG(request_info).request_method = NULL;
    SG(request_info).query_string = NULL;
    SG(request_info).request_uri = NULL;
    SG(request_info).content_type = NULL;
    SG(request_info).content_length = 0;
    SG(request_info).cookie_data = NULL;
    SG(request_info).no_headers = 1;
    SG(options) |= SAPI_OPTION_NO_CHDIR;

    /* Nothing of the previous life's exec_ttl survives into this one
     * (review-core M1): the wrapper of max_execution_time reads it. */
    rr_exec_deadline_ns = 0;
    rr_timer_op = RR_TIMER_KEEP;
    rr_gate_enter();
    if (php_request_startup() == FAILURE) {
        result->startup_failed = 1;
        result->exit_status = 255;
        php_request_shutdown(NULL);
        rr_gate_leave();
        SG(server_context) = NULL;
        rr_current = NULL;
        return;
    }
    /* Headers behave as in php-cli (which sets neither flag): headers_sent()
     * is false until the script's first output, so header() and
     * session_start() work (Symfony's NativeSessionStorage refuses to start
     * a session once headers_sent() is true). Nothing is ever written to a
     * client: rr_send_headers() only marks them sent. */
    rr_register_file_handles(life->cli);
    /* php_request_startup() leaves the exit status of the thread's previous
     * request (a fatal error sets 255), which would stick to every later
     * life (review-core M5). */
    EG(exit_status) = 0;
    /* php_request_startup() armed max_execution_time (php.ini's). */
    rr_timer_armed = 1;
    if (rr_gate_on) {
        rr_memory_limit_to_ceiling();
    }

    if (life->cli) {
        /* The command line's only PHP thread: signals are its own (the
         * calling process thread blocks them), so pcntl_signal works. */
        sigset_t set;
        rr_process_signal_set(&set);
        sigdelset(&set, SIGPIPE);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }

    zend_first_try {
        if (life->boot_timeout > 0) {
            zend_set_timeout((zend_long)life->boot_timeout, 1);
        }
        if (life->code) {
            zend_eval_string_ex((char *)life->code, NULL, "Command line code", 1);
            goto done;
        }
        if (life->lint) {
            zend_file_handle lf;
            zend_stream_init_filename(&lf, life->script);
            if (php_lint_script(&lf) == SUCCESS) {
                zend_printf("No syntax errors detected in %s\n", life->script);
                EG(exit_status) = 0;
    /* php_request_startup() armed max_execution_time (php.ini's). */
    rr_timer_armed = 1;
    if (rr_gate_on) {
        rr_memory_limit_to_ceiling();
    }
            } else {
                zend_printf("Errors parsing %s\n", life->script);
                EG(exit_status) = 255;
            }
            zend_destroy_file_handle(&lf);
            goto done;
        }
        if (life->bootstrap) {
            zend_file_handle boot;
            zend_stream_init_filename(&boot, life->bootstrap);
            zend_execute_scripts(ZEND_REQUIRE, NULL, 1, &boot);
            zend_destroy_file_handle(&boot);
            if (EG(exception)) {
                zend_exception_error(EG(exception), E_ERROR);
            }
        }
        zend_file_handle fh;
        if (life->cli && !strcmp(life->script, "php://stdin")) {
            /* php-cli reads a script from stdin itself (including
             * php://stdin is refused without allow_url_include). */
            zend_stream_init_fp(&fh, stdin, "Standard input code");
        } else {
            zend_stream_init_filename(&fh, life->script);
        }
        fh.primary_script = 1;
        CG(skip_shebang) = 1;
        php_execute_script(&fh);
        zend_destroy_file_handle(&fh);
    done:;
    } zend_end_try();

    result->peak_memory = zend_memory_peak_usage(0);

    php_request_shutdown(NULL);
    /* After the shutdown functions and destructors, as php-cli: an exit()
     * there (Symfony's error handler sets 255 that way) is the status. */
    result->exit_status = EG(exit_status);
    rr_gate_leave();
    SG(server_context) = NULL;
    SG(request_info).argc = 0;
    SG(request_info).argv = NULL;
    SG(request_info).path_translated = NULL;
    rr_current = NULL;
}


static uint64_t rr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The host asks for the timer from inside a callback (a request taken: arm
 * exec_ttl; a response sent: disarm). zend_set_timeout() can raise a fatal
 * error ("Could not set timer"), whose bailout must never cross the Rust
 * frames of the callback (review-core M4). So the host only records what it
 * wants, and rr_timer_apply() does it once the callback has returned to C. */

void rr_set_timeout(long seconds)
{
    if (rr_current) {
        rr_exec_deadline_ns = rr_now_ns() + (uint64_t)seconds * 1000000000u;
        rr_timer_op = RR_TIMER_ARM;
        rr_timer_arm_secs = (zend_long)seconds;
    }
}

/* At every request boundary: whatever armed the engine's wall-clock timer
 * during the request (exec_ttl, set_time_limit(), ini_set of
 * max_execution_time) is disarmed, so an idle worker never times out and the
 * next request starts clean (review-core H1). */
void rr_unset_timeout(void)
{
    rr_exec_deadline_ns = 0;
    if (rr_current) {
        rr_timer_op = RR_TIMER_DISARM;
    }
}

/* Called in C right after each host callback that can take or finish a
 * request. One syscall, and only when something changes. */
static void rr_timer_apply(void)
{
    int op = rr_timer_op;
    rr_timer_op = RR_TIMER_KEEP;
    if (op == RR_TIMER_ARM) {
        rr_timer_armed = 1;
        zend_set_timeout(rr_timer_arm_secs, 1);
    } else if (op == RR_TIMER_DISARM && rr_timer_armed) {
        rr_timer_armed = 0;
        zend_unset_timeout();
    }
}

/* PHP's own handler of max_execution_time, which set_time_limit() goes
 * through too; wrapped so that user code can shorten exec_ttl but never
 * lengthen or disable it (RoadRunner's exec_ttl is outside PHP's reach). */
static ZEND_INI_MH((*rr_orig_timeout_mh)) = NULL;

static ZEND_INI_MH(rr_on_update_timeout)
{
    int r = rr_orig_timeout_mh(entry, new_value, mh_arg1, mh_arg2, mh_arg3, stage);
    if (r == SUCCESS && stage == ZEND_INI_STAGE_RUNTIME && rr_current) {
        /* The handler re-armed the engine's timer (set_time_limit()). */
        rr_timer_armed = 1;
    }
    if (r != SUCCESS || stage == ZEND_INI_STAGE_STARTUP || stage == ZEND_INI_STAGE_DEACTIVATE
        || !rr_current || rr_exec_deadline_ns == 0) {
        return r;
    }
    uint64_t now = rr_now_ns();
    zend_long left = 1;
    if (rr_exec_deadline_ns > now) {
        left = (zend_long)((rr_exec_deadline_ns - now + 999999999u) / 1000000000u);
    }
    if (EG(timeout_seconds) <= 0 || EG(timeout_seconds) > left) {
        zend_set_timeout(left, 0);
    }
    return r;
}

/* Runs in the post-startup hook, where EG(ini_directives) is still the
 * registered table every thread copies (see rr_post_startup). */
static void rr_wrap_timeout_ini(void)
{
    zend_ini_entry *e = zend_hash_str_find_ptr(EG(ini_directives), "max_execution_time",
                                               sizeof("max_execution_time") - 1);
    if (e && e->on_modify && e->on_modify != rr_on_update_timeout) {
        rr_orig_timeout_mh = e->on_modify;
        e->on_modify = rr_on_update_timeout;
    }
}

size_t rr_memory_usage(void)
{
    /* Only a thread inside a life has an allocator to ask. */
    return rr_current ? zend_memory_usage(0) : 0;
}

const char *rr_php_version(void)
{
    return PHP_VERSION;
}

int rr_php_is_zts(void)
{
#ifdef ZTS
    return 1;
#else
    return 0;
#endif
}

int rr_php_opcache_builtin(void)
{
#ifdef RR_STATIC_OPCACHE
    return 1;
#else
    return 0;
#endif
}

size_t rr_php_version_banner(char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "PHP %s (cli) (built: %s %s) (%s)\nCopyright (c) The PHP Group\n%s",
                     PHP_VERSION, __DATE__, __TIME__,
#ifdef ZTS
                     "ZTS"
#else
                     "NTS"
#endif
                     ,
                     get_zend_version());
    return n < 0 ? 0 : (size_t)n;
}
