<?php
// rustrunner's offline stand-in for Composer's vendor/autoload.php, used when
// Packagist is out of reach (`make episode0-vendor` copies it into an
// episode's app/vendor/). It loads Debian's packages:
//   php-nyholm-psr7, php-psr-http-message, php-psr-http-factory
// The Spiral\RoadRunner\* classes come from rustrunner's own worker API,
// which the server provides to every worker when no package defines them.
// With network access, `composer install` replaces this file and the real
// spiral/roadrunner-* packages are used instead.

declare(strict_types=1);

(static function (): void {
    $share = '/usr/share/php';
    if (!is_file($share . '/Nyholm/Psr7/autoload.php')) {
        throw new \RuntimeException(
            'Debian package php-nyholm-psr7 is missing: apt-get install php-nyholm-psr7 php-psr-http-message php-psr-http-factory'
        );
    }
    if (!in_array($share, explode(PATH_SEPARATOR, get_include_path()), true)) {
        set_include_path(get_include_path() . PATH_SEPARATOR . $share);
    }
    require_once $share . '/Nyholm/Psr7/autoload.php';
})();
