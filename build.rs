//! Finds a thread-safe (ZTS) PHP with the embed SAPI, compiles the C glue in
//! `php-sapi/` against it, generates the Rust side of `php-sapi/rustrunner.h`
//! with bindgen, and links libphp (statically when `libphp.a` is there).
//!
//! Where PHP comes from, first match wins:
//! 1. `PHP_CONFIG` = path of a `php-config`;
//! 2. the project's cache (`scripts/build-php.sh`): `$RUSTRUNNER_CACHE` or
//!    `~/.cache/rustrunner`, newest `php-*-zts-*` install;
//! 3. `php-config` on `PATH`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=php-sapi/rustrunner.c");
    println!("cargo:rerun-if-changed=php-sapi/rustrunner.h");
    println!("cargo:rerun-if-env-changed=PHP_CONFIG");
    println!("cargo:rerun-if-env-changed=RUSTRUNNER_CACHE");

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

    // The C glue.
    let mut build = cc::Build::new();
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
    let libdir = prefix.join("lib");
    println!("cargo:rustc-link-search=native={}", libdir.display());
    if libdir.join("libphp.a").exists() {
        // Whole archive: shared extensions (opcache.so) resolve Zend symbols
        // against the binary, so every object must be there and exported.
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=php");
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
        for tok in ldflags.split_whitespace().chain(libs.split_whitespace()) {
            if let Some(dir) = tok.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
            } else if let Some(lib) = tok.strip_prefix("-l") {
                println!("cargo:rustc-link-lib={lib}");
            }
        }
        // intl is C++.
        if libs.contains("icu") && !libs.contains("stdc++") {
            println!("cargo:rustc-link-lib=stdc++");
        }
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
