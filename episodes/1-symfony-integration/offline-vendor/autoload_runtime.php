<?php
// rustrunner's offline stand-in for the vendor/autoload_runtime.php that
// symfony/runtime's Composer plugin generates. The front script (public/index.php,
// bin/console, bin/roadrunner-worker) requires this file; it loads the
// autoloader, runs the script again to get its closure, and hands that
// closure to the runtime named by APP_RUNTIME (SymfonyRuntime by default).

// require_once answers true when autoload.php was loaded before (this file
// is then used as a plain autoloader); the front script's second run gets
// true from its own require_once of this file and just returns its closure.
if (true === (require_once __DIR__ . '/autoload.php') || empty($_SERVER['SCRIPT_FILENAME'])) {
    return;
}

$app = require $_SERVER['SCRIPT_FILENAME'];
if (!is_object($app)) {
    throw new TypeError(sprintf('Invalid return value: callable object expected, "%s" returned from "%s".', get_debug_type($app), $_SERVER['SCRIPT_FILENAME']));
}

$runtime = $_SERVER['APP_RUNTIME'] ?? $_ENV['APP_RUNTIME'] ?? 'Symfony\Component\Runtime\SymfonyRuntime';
$runtime = new $runtime(($_SERVER['APP_RUNTIME_OPTIONS'] ?? $_ENV['APP_RUNTIME_OPTIONS'] ?? []) + ['project_dir' => dirname(__DIR__)]);

[$app, $args] = $runtime->getResolver($app)->resolve();
$app = $app(...$args);

exit($runtime->getRunner($app)->run());
