//! Reading what PHP prints: the level of a log line a framework wrote to
//! STDERR, and one more line after a PHP error that means "this PHP lacks
//! an extension" (which extension, and where the README says how to get it).

/// The level of one line on a worker's STDERR. PSR-3 loggers say it: Monolog
/// as `channel.LEVEL:`, Symfony's own logger as `[level]`, PHP as
/// `PHP Warning:`. Anything else is INFO, as RoadRunner logs a worker's
/// STDERR.
pub fn line_level(line: &str) -> tracing::Level {
    use tracing::Level;
    // Only the start of a line names its level (a message may quote others).
    let head: String = line
        .chars()
        .take(80)
        .collect::<String>()
        .to_ascii_lowercase();
    const ERROR: [&str; 8] = [
        "[error]",
        "[critical]",
        "[alert]",
        "[emergency]",
        ".error:",
        ".critical:",
        ".alert:",
        ".emergency:",
    ];
    const WARN: [&str; 2] = ["[warning]", ".warning:"];
    const DEBUG: [&str; 2] = ["[debug]", ".debug:"];
    if ERROR.iter().any(|m| head.contains(m))
        || head.starts_with("php fatal error")
        || head.starts_with("php parse error")
        || head.starts_with("fatal error")
    {
        Level::ERROR
    } else if WARN.iter().any(|m| head.contains(m)) || head.starts_with("php warning") {
        Level::WARN
    } else if DEBUG.iter().any(|m| head.contains(m)) {
        Level::DEBUG
    } else {
        Level::INFO
    }
}

/// Function-name prefixes and classes → the extension that provides them.
const BY_PREFIX: &[(&str, &str)] = &[
    ("pg_", "pgsql"),
    ("mysqli_", "mysqli"),
    ("curl_", "curl"),
    ("image", "gd"),
    ("gd_", "gd"),
    ("zip_", "zip"),
    ("sodium_", "sodium"),
    ("gmp_", "gmp"),
    ("bz", "bz2"),
    ("exif_", "exif"),
    ("apcu_", "apcu"),
    ("igbinary_", "igbinary"),
    ("msgpack_", "msgpack"),
    ("mb_", "mbstring"),
    ("numfmt_", "intl"),
    ("collator_", "intl"),
    ("grapheme_", "intl"),
    ("idn_", "intl"),
    ("xsl_", "xsl"),
    ("ldap_", "ldap"),
    ("imap_", "imap"),
    ("yaml_", "yaml"),
    ("gettext", "gettext"),
    ("cal_", "calendar"),
    ("sem_", "sysvsem"),
    ("shm_", "sysvshm"),
    ("msg_", "sysvmsg"),
    ("shmop_", "shmop"),
    ("readline", "readline"),
];
const BY_CLASS: &[(&str, &str)] = &[
    ("PDO", "pdo"),
    ("Redis", "redis"),
    ("ZipArchive", "zip"),
    ("Imagick", "imagick"),
    ("MongoDB\\", "mongodb"),
    ("AMQP", "amqp"),
    ("XSLTProcessor", "xsl"),
    ("SoapClient", "soap"),
    ("SoapServer", "soap"),
    ("NumberFormatter", "intl"),
    ("IntlDateFormatter", "intl"),
    ("Memcached", "memcached"),
];

/// The hint for a PHP error message, if it names a missing function or
/// class of an extension (or a PDO driver).
pub fn extension_hint(msg: &str) -> Option<String> {
    let ext = if let Some(rest) = msg.split("Call to undefined function ").nth(1) {
        let f = rest.split('(').next()?.trim_start_matches('\\');
        let f = f.rsplit('\\').next().unwrap_or(f);
        BY_PREFIX
            .iter()
            .find(|(p, _)| f.starts_with(p))
            .map(|(_, e)| (*e, format!("{f}()")))?
    } else if let Some(rest) = msg.split("Class \"").nth(1) {
        if !msg.contains("not found") {
            return None;
        }
        let c = rest.split('"').next()?.trim_start_matches('\\');
        BY_CLASS
            .iter()
            .find(|(p, _)| c == *p || (p.ends_with('\\') && c.starts_with(p)))
            .map(|(_, e)| (*e, format!("class {c}")))?
    } else if msg.contains("could not find driver") {
        (
            "pdo_pgsql/pdo_mysql/pdo_sqlite",
            "that PDO driver".to_string(),
        )
    } else {
        return None;
    };
    let (ext, what) = ext;
    Some(format!(
        "hint: {what} comes from the {ext} extension, which this rr's PHP does not have \
         (`rr php-cli -m` lists what it has). README, \"Extensions\": build it with the phpize \
         of rr's own PHP and load it with extension= in php.ini, or use server.executor: \
         process with a PHP that has it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_logger_lines() {
        use tracing::Level;
        assert_eq!(
            line_level("[2026-01-01T00:00:00] app.ERROR: boom {} []"),
            Level::ERROR
        );
        assert_eq!(line_level("[warning] Deprecated: x"), Level::WARN);
        assert_eq!(line_level("[info] Matched route \"home\"."), Level::INFO);
        assert_eq!(line_level("[2026-01-01] request.DEBUG: x"), Level::DEBUG);
        assert_eq!(
            line_level("PHP Warning:  Undefined variable $x"),
            Level::WARN
        );
        let late = format!("{} [error] quoted far later", "x".repeat(90));
        assert_eq!(line_level(&late), Level::INFO);
        assert_eq!(line_level("hello"), Level::INFO);
    }

    #[test]
    fn names_the_extension() {
        let h = extension_hint(
            "PHP Fatal error:  Uncaught Error: Call to undefined function pg_connect() in /a.php:3",
        )
        .unwrap();
        assert!(
            h.contains("pg_connect() comes from the pgsql extension"),
            "{h}"
        );
        let h = extension_hint("Uncaught Error: Class \"Redis\" not found in x").unwrap();
        assert!(
            h.contains("class Redis comes from the redis extension"),
            "{h}"
        );
        assert!(extension_hint("Call to undefined function my_helper()").is_none());
        assert!(extension_hint("Class \"App\\Kernel\" not found").is_none());
        assert!(extension_hint("SQLSTATE[HY000]: could not find driver").is_some());
    }
}
