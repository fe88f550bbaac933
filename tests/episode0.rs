//! The guide's episode 0, as committed in episodes/0-first-contact, served by
//! the real binary with the offline vendor (Debian's nyholm/psr7 + the
//! server's worker API).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn episode0_says_hello() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("episodes/0-first-contact/app");
    let dir = std::env::temp_dir().join(format!("rr-episode0-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("vendor")).unwrap();
    for f in ["worker.php", "composer.json", ".rr.yaml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        root.join("episodes/offline-autoload.php"),
        dir.join("vendor/autoload.php"),
    )
    .unwrap();
    let port = free_port();
    let log = dir.join("log");
    let mut child = Command::new(RR)
        .args(["serve", "-w"])
        .arg(&dir)
        .args(["-o", &format!("http.address=127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::options().append(true).open(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut body = String::new();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = ureq::get(&format!("http://127.0.0.1:{port}/")).call() {
            body = r.into_string().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        body,
        "Hello from RoadRunner!",
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
