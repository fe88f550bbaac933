//! Finds a thread-safe (ZTS) PHP with the embed SAPI, compiles the C glue in
//! `php-sapi/` against it, generates the Rust side of `php-sapi/rustrunner.h`
//! with bindgen, and links libphp (statically when `libphp.a` is there).
//!
//! Where PHP comes from, first match wins:
//! 1. `PHP_CONFIG` = path of a `php-config`;
//! 2. the project's cache (`scripts/build-php.sh`): `$RUSTRUNNER_CACHE` or
//!    `~/.cache/rustrunner`, newest `php-*-zts-*` install;
//! 3. `php-config` on `PATH`.
//!
//! Linking:
//! * `lib/rustrunner/librr_opcache.a` in the PHP install (made by
//!   `scripts/build-php.sh`) links OPcache into rr; without it, rr loads
//!   `opcache.so` at run time (next to the binary, or the build's extension
//!   dir).
//! * `RR_STATIC=1` (what `make dist` sets) links the C libraries libphp needs
//!   (libxml2, OpenSSL, SQLite, ICU, oniguruma, zlib, liblzma, libstdc++, ...)
//!   from their `.a` archives, so the binary needs only glibc (and libgcc_s,
//!   which glibc itself depends on). Archives in `lib/rustrunner/static`
//!   (libcurl, libpq, libzip, libxslt built by `build-php.sh --static`) and
//!   their `.pc` files come first. A library without an archive is a build
//!   error, never a silent dynamic link.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=php-sapi/rustrunner.c");
    println!("cargo:rerun-if-changed=php-sapi/rustrunner.h");
    println!("cargo:rerun-if-env-changed=PHP_CONFIG");
    println!("cargo:rerun-if-env-changed=RUSTRUNNER_CACHE");
    println!("cargo:rerun-if-env-changed=RR_STATIC");

    let php_config = find_php_config().unwrap_or_else(|| {
        fail(
            "no PHP found to embed.\n\
             rustrunner links a thread-safe PHP built with the embed SAPI. Build one with\n\
             \n    scripts/build-php.sh            (Debian's PHP 8.2 source; ~8 minutes)\n\
             \n    PHP_SRC=php-8.4.x.tar.xz scripts/build-php.sh\n\
             \nor point PHP_CONFIG at the php-config of such a build (`make php` does the first).",
        )
    });
    println!("cargo:rerun-if-changed={}", php_config.display());

    let query = |arg: &str| -> String {
        let out = Command::new(&php_config)
            .arg(arg)
            .output()
            .unwrap_or_else(|e| fail(&format!("cannot run {} {arg}: {e}", php_config.display())));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let prefix = PathBuf::from(query("--prefix"));
    let version = query("--version");
    let include_dir = PathBuf::from(query("--include-dir"));
    let includes: Vec<PathBuf> = query("--includes")
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("-I").map(PathBuf::from))
        .collect();
    let sapis = query("--php-sapis");
    let libs = query("--libs");
    let ldflags = query("--ldflags");

    // Prove from the headers that this PHP is ZTS with the embed SAPI.
    let php_config_h = include_dir.join("main/php_config.h");
    let config_h = fs::read_to_string(&php_config_h).unwrap_or_else(|e| {
        fail(&format!(
            "cannot read {} ({e}); is {} a complete PHP install with headers?",
            php_config_h.display(),
            php_config.display()
        ))
    });
    if !config_h.lines().any(|l| l.trim() == "#define ZTS 1") {
        fail(&format!(
            "the PHP at {prefix} ({version}) is not thread-safe (NTS).\n\
             rustrunner runs every PHP worker as a thread of one process, which needs a ZTS\n\
             build (configure --enable-zts). Debian's and most distributions' php packages\n\
             are NTS. Build a ZTS PHP with `scripts/build-php.sh` (or `make php`), or set\n\
             PHP_CONFIG to the php-config of a ZTS build with --enable-embed.",
            prefix = prefix.display()
        ));
    }
    // The thread model's two other assumptions (review-core M2): each worker
    // thread's exec_ttl is a per-thread POSIX timer (without it the engine
    // falls back to the process-wide ITIMER_PROF, whose signal lands on any
    // thread, tokio's included), and zend signals are off (they install
    // process-wide handlers that read the globals of whichever thread the
    // signal hits).
    let defined = |name: &str| {
        config_h.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("#define") && w.next() == Some(name) && w.next() != Some("0")
        })
    };
    if !defined("ZEND_MAX_EXECUTION_TIMERS") {
        fail(&format!(
            "the PHP at {} ({version}) was built without --enable-zend-max-execution-timers.\n\
             Without per-thread timers, one worker's exec_ttl signal can hit any thread of\n\
             the server. Rebuild it with that flag (scripts/build-php.sh does).",
            prefix.display()
        ));
    }
    if defined("ZEND_SIGNALS") {
        fail(&format!(
            "the PHP at {} ({version}) was built with zend signals.\n\
             They install process-wide handlers that use the globals of whichever thread\n\
             receives a signal, which is unsafe with worker threads. Rebuild it with\n\
             --disable-zend-signals (scripts/build-php.sh does).",
            prefix.display()
        ));
    }
    // (Debian's patched php-config lists SAPIs from dpkg, so also trust the
    // configure options and the library itself.)
    let has_embed = sapis.split_whitespace().any(|s| s == "embed")
        || query("--configure-options").contains("--enable-embed")
        || prefix.join("lib/libphp.a").exists()
        || prefix.join("lib/libphp.so").exists();
    if !has_embed {
        fail(&format!(
            "the PHP at {} ({version}) has no embed SAPI (SAPIs: {sapis}).\n\
             Rebuild it with --enable-embed=static (scripts/build-php.sh does).",
            prefix.display()
        ));
    }

    // vendor-headers/: record what we compile and bind against.
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let vh = manifest.join("vendor-headers");
    let _ = fs::create_dir_all(&vh);
    let _ = fs::write(
        vh.join("php-build.txt"),
        format!(
            "php-config: {}\nversion: {version}\nprefix: {}\ninclude: {}\nsapis: {sapis}\nlibs: {libs}\n",
            php_config.display(),
            prefix.display(),
            include_dir.display()
        ),
    );
    let link = vh.join("php");
    let _ = fs::remove_file(&link);
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(&include_dir, &link);

    // OPcache linked in (PHP < 8.5 builds it only as a shared extension).
    let libdir = prefix.join("lib");
    let rr_libdir = libdir.join("rustrunner");
    let static_opcache =
        rr_libdir.join("librr_opcache.a").exists() && env::var("RR_NO_STATIC_OPCACHE").is_err();
    println!("cargo:rerun-if-env-changed=RR_NO_STATIC_OPCACHE");
    // (A missing path would rerun this script on every build: watch the
    // nearest existing directory instead.)
    println!(
        "cargo:rerun-if-changed={}",
        if rr_libdir.exists() {
            &rr_libdir
        } else {
            &libdir
        }
        .display()
    );

    // The C glue.
    let mut build = cc::Build::new();
    if prefix.join("lib/libphp.a").exists() {
        build.define("RR_WRAP_SETLOCALE", "1");
    }
    if static_opcache {
        build.define("RR_STATIC_OPCACHE", "1");
        // OPcache's own headers (scripts/build-php.sh copies them into the
        // install): the glue reads OPcache's shared globals to keep its
        // automatic restarts away from running threads.
        if !include_dir.join("ext/opcache/ZendAccelerator.h").exists() {
            fail(&format!(
                "the PHP at {} has OPcache linked in but not OPcache's headers\n\
                 ({}/ext/opcache/ZendAccelerator.h). Run scripts/build-php.sh (or `make php`)\n\
                 once more: it adds them to the cached build.",
                prefix.display(),
                include_dir.display()
            ));
        }
        build.define("RR_OPCACHE_HEADERS", "1");
    }
    build
        .file("php-sapi/rustrunner.c")
        .include("php-sapi")
        .define("ZEND_ENABLE_STATIC_TSRMLS_CACHE", "1")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-missing-field-initializers")
        .flag_if_supported("-Wno-sign-compare")
        .warnings(true);
    for inc in &includes {
        build.include(inc);
    }
    if env::var("RUSTRUNNER_ASAN").is_ok() {
        build
            .flag("-fsanitize=address")
            .flag("-fno-omit-frame-pointer");
        // The runtime for the binaries only (rr and its unit tests), not the
        // integration tests; it must be preloaded at run time
        // (scripts/asan/run.sh), since rustc links it last.
        let out = std::process::Command::new("cc")
            .arg("-print-file-name=libasan.so")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if !out.is_empty() {
            println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg-bins={out}");
        }
    }
    println!("cargo:rerun-if-env-changed=RUSTRUNNER_ASAN");
    build.compile("rustrunner_sapi");

    // The Rust side of the C ABI.
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindgen::Builder::default()
        .header("php-sapi/rustrunner.h")
        .allowlist_function("rr_.*")
        .allowlist_type("rr_.*")
        .allowlist_var("RR_.*")
        .prepend_enum_name(false)
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen over php-sapi/rustrunner.h failed: {e}")))
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    embed_php_library(&out);

    // libphp.
    println!("cargo:rustc-link-search=native={}", libdir.display());
    if libdir.join("libphp.a").exists() {
        // Whole archive: shared extensions (opcache.so, xdebug.so, ...)
        // resolve Zend symbols against the binary, so every object must be
        // there and exported.
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=php");
        if static_opcache {
            println!("cargo:rustc-link-search=native={}", rr_libdir.display());
            println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=rr_opcache");
        }
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
        // setlocale() per worker thread (php-sapi/rustrunner.c): every
        // call in the linked-in PHP goes through the glue.
        println!("cargo:rustc-link-arg-bins=-Wl,--wrap=setlocale");
        let want_static = env::var("RR_STATIC").is_ok_and(|v| v == "1");
        if want_static && rr_libdir.join("static").is_dir() {
            // Before any -L of php-config (/usr/lib/<triplet> has Debian's
            // libcurl.a and libpq.a, which need GSSAPI and LDAP).
            println!(
                "cargo:rustc-link-search=native={}",
                rr_libdir.join("static").display()
            );
        }
        let mut search: Vec<PathBuf> = vec![rr_libdir.clone()];
        let mut wanted: Vec<String> = Vec::new();
        for tok in ldflags.split_whitespace().chain(libs.split_whitespace()) {
            if let Some(dir) = tok.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
                search.push(PathBuf::from(dir));
            } else if let Some(lib) = tok.strip_prefix("-l") {
                wanted.push(lib.to_string());
            }
        }
        // intl is C++.
        if libs.contains("icu") && !libs.contains("stdc++") {
            wanted.push("stdc++".into());
        }
        let report = link_native_libs(&wanted, &search, want_static);
        let _ = fs::write(vh.join("link.txt"), report);
    } else if libdir.join("libphp.so").exists() {
        println!("cargo:rustc-link-lib=dylib=php");
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", libdir.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
    } else {
        fail(&format!(
            "no libphp.a or libphp.so in {}; build PHP with --enable-embed",
            libdir.display()
        ));
    }
    println!("cargo:rustc-env=RR_PHP_PREFIX={}", prefix.display());
    println!(
        "cargo:rustc-env=RR_PHP_EXTENSION_DIR={}",
        query("--extension-dir")
    );
    println!("cargo:rustc-env=RR_PHP_VERSION={version}");
}

/// Libraries that always come from glibc (or the compiler runtime glibc
/// itself needs): they stay dynamic.
const SYSTEM_LIBS: &[&str] = &[
    "c", "m", "dl", "pthread", "rt", "util", "resolv", "gcc_s", "anl", "nsl",
];

/// Emit the link lines for libphp's libraries. With `want_static`, every
/// library with a `.a` archive is linked statically, together with what that
/// archive needs (pkg-config --static), ordered so each archive comes before
/// the ones it depends on. Returns a report for vendor-headers/link.txt.
fn link_native_libs(wanted: &[String], search: &[PathBuf], want_static: bool) -> String {
    if !want_static {
        let mut seen = Vec::new();
        for l in wanted {
            if !seen.contains(l) {
                println!("cargo:rustc-link-lib={l}");
                seen.push(l.clone());
            }
        }
        return format!(
            "mode: dynamic (set RR_STATIC=1 for static archives)\nlibs: {}\n",
            seen.join(" ")
        );
    }
    // Our own static builds (scripts/build-php.sh --static: libcurl, libpq,
    // libzip, libxslt) come first, on the linker's path and pkg-config's:
    // their .pc files list what they really need, Debian's list the
    // dependencies of Debian's shared builds (GSSAPI, LDAP, ...).
    // (main() already put that dir first on the linker's path.)
    let mut search = search.to_vec();
    let own = search[0].join("static");
    if own.is_dir() {
        let mut pc = own.join("pkgconfig").display().to_string();
        if let Ok(p) = env::var("PKG_CONFIG_PATH") {
            pc = format!("{pc}:{p}");
        }
        env::set_var("PKG_CONFIG_PATH", pc);
        search.insert(0, own);
    }
    let search = &search[..];
    // Expand each library into itself + its static dependencies, then keep
    // the last occurrence of each (dependencies end up after dependents).
    let mut expanded: Vec<String> = Vec::new();
    let mut visiting: Vec<String> = Vec::new();
    for l in wanted {
        expand_lib(l, &mut expanded, &mut visiting);
    }
    let mut order: Vec<String> = Vec::new();
    for (i, l) in expanded.iter().enumerate() {
        if !expanded[i + 1..].contains(l) {
            order.push(l.clone());
        }
    }
    let mut report = String::from("mode: static (RR_STATIC=1)\n");
    let mut missing: Vec<String> = Vec::new();
    for l in &order {
        if SYSTEM_LIBS.contains(&l.as_str()) {
            println!("cargo:rustc-link-lib=dylib={l}");
            report.push_str(&format!("dynamic (glibc) {l}\n"));
            continue;
        }
        match find_static_archive(l, search) {
            Some(a) => {
                println!(
                    "cargo:rustc-link-search=native={}",
                    a.parent().unwrap().display()
                );
                println!("cargo:rustc-link-lib=static:-bundle={l}");
                report.push_str(&format!("static {l} {}\n", a.display()));
            }
            None => missing.push(l.clone()),
        }
    }
    if !missing.is_empty() {
        // Never a silent dynamic link: the dist must need glibc only.
        let list = missing
            .iter()
            .map(|l| format!("lib{l}.a"))
            .collect::<Vec<_>>()
            .join(" ");
        fail(&format!(
            "RR_STATIC=1: no static archive for: {list}\n\
             searched {} and the C compiler's library path.\n\
             `scripts/build-php.sh --static` builds the ones Debian does not ship usable\n\
             (libcurl, libpq, libzip, libxslt, libonig) into <php>/lib/rustrunner;\n\
             for others install the Debian -dev package that has the .a.",
            search
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    report
}

/// pkg-config module of a library name, where it differs or matters.
fn pkg_module(lib: &str) -> Option<&'static str> {
    Some(match lib {
        "xml2" => "libxml-2.0",
        "ssl" => "libssl",
        "crypto" => "libcrypto",
        "sqlite3" => "sqlite3",
        "z" => "zlib",
        "onig" => "oniguruma",
        "icuio" => "icu-io",
        "icui18n" => "icu-i18n",
        "icuuc" => "icu-uc",
        "lzma" => "liblzma",
        "zstd" => "libzstd",
        "curl" => "libcurl",
        "zip" => "libzip",
        "sodium" => "libsodium",
        "argon2" => "libargon2",
        "ffi" => "libffi",
        "pq" => "libpq",
        "png16" => "libpng16",
        "png" => "libpng",
        "jpeg" => "libjpeg",
        "webp" => "libwebp",
        "freetype" => "freetype2",
        "brotlidec" => "libbrotlidec",
        "brotlienc" => "libbrotlienc",
        "xslt" => "libxslt",
        "exslt" => "libexslt",
        "edit" => "libedit",
        "gmp" => "gmp",
        "ncurses" => "ncurses",
        "bsd" => "libbsd",
        "nghttp2" => "libnghttp2",
        "lz4" => "liblz4",
        _ => return None,
    })
}

fn expand_lib(lib: &str, out: &mut Vec<String>, visiting: &mut Vec<String>) {
    out.push(lib.to_string());
    if visiting.iter().any(|v| v == lib) {
        return;
    }
    visiting.push(lib.to_string());
    let mut deps: Vec<String> = Vec::new();
    if let Some(m) = pkg_module(lib) {
        if let Ok(o) = Command::new("pkg-config")
            .args(["--static", "--libs-only-l", m])
            .output()
        {
            if o.status.success() {
                deps = String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|t| t.strip_prefix("-l"))
                    .filter(|d| *d != lib)
                    .map(String::from)
                    .collect();
            }
        }
    }
    // ICU is C++; its .pc files do not say so.
    if lib.starts_with("icu") {
        deps.push("stdc++".into());
    }
    for d in deps {
        expand_lib(&d, out, visiting);
    }
    visiting.pop();
}

/// The `.a` archive of `lib`: the given dirs first, then the C compiler's
/// own search path (multiarch dirs, GCC's dir for libstdc++).
fn find_static_archive(lib: &str, search: &[PathBuf]) -> Option<PathBuf> {
    let name = format!("lib{lib}.a");
    for d in search {
        let p = d.join(&name);
        if p.exists() {
            return Some(p);
        }
    }
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let o = Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    (p.is_absolute() && p.exists()).then_some(p)
}

/// Generate `phplib.rs`: every file of php-sapi/php/ embedded in the binary.
fn embed_php_library(out: &Path) {
    println!("cargo:rerun-if-changed=php-sapi/php");
    let mut files: Vec<String> = Vec::new();
    let root = Path::new("php-sapi/php");
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                println!("cargo:rerun-if-changed={}", p.display());
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "php") {
                println!("cargo:rerun-if-changed={}", p.display());
                files.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    let mut code = String::from("/// The server's PHP library: (relative path, contents).\npub static FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        code.push_str(&format!(
            "    ({f:?}, include_bytes!({:?})),\n",
            format!("{manifest}/php-sapi/php/{f}")
        ));
    }
    code.push_str("];\n");
    fs::write(out.join("phplib.rs"), code).expect("write phplib.rs");
}

fn find_php_config() -> Option<PathBuf> {
    if let Ok(p) = env::var("PHP_CONFIG") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
        fail(&format!("PHP_CONFIG={} does not exist", p.display()));
    }
    let cache = env::var("RUSTRUNNER_CACHE")
        .map(PathBuf::from)
        .or_else(|_| env::var("HOME").map(|h| Path::new(&h).join(".cache/rustrunner")))
        .ok();
    if let Some(cache) = cache {
        if let Ok(rd) = fs::read_dir(&cache) {
            let mut found: Vec<(std::time::SystemTime, PathBuf)> = rd
                .filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    n.starts_with("php-") && n.contains("-zts-")
                })
                .map(|e| e.path().join("bin/php-config"))
                .filter(|p| p.exists())
                .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
                .collect();
            found.sort();
            if let Some((_, p)) = found.pop() {
                return Some(p);
            }
        }
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v php-config")
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

fn fail(msg: &str) -> ! {
    eprintln!("\nrustrunner build: {msg}\n");
    std::process::exit(1);
}
