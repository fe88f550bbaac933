<?php
// Episode 2's offline stand-in for Composer's vendor/autoload.php
// (`make episode2-vendor` copies it, with episodes/offline-autoload.php, into
// app/vendor/). Debian's packages instead of Packagist:
//   php-nyholm-psr7 (+ PSR interfaces)  via offline-autoload.php
//   php-doctrine-dbal (3.6)              via its own Debian autoloader
// With network access, `composer install` in app/ replaces both files.

declare(strict_types=1);

require __DIR__ . '/offline-autoload.php';

if (!stream_resolve_include_path('Doctrine/DBAL/autoload.php')) {
    throw new \RuntimeException('Debian package php-doctrine-dbal is missing: apt-get install php-doctrine-dbal');
}
require_once 'Doctrine/DBAL/autoload.php';
