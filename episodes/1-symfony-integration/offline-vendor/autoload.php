<?php
// rustrunner's offline stand-in for Composer's vendor/autoload.php of episode 1
// (`make episode1-vendor` copies it to app/vendor/). Instead of the Symfony 7.x
// packages of composer.json it loads Debian's Symfony 5.4 packages:
//   php-symfony-framework-bundle php-symfony-runtime php-symfony-yaml
//   php-symfony-dotenv php-symfony-console
// baldinof/roadrunner-bundle's Runtime, Runner and bundle class are then the
// server's own (rustrunner's PHP library aliases those names when no package
// defines them). With network access, `composer install` replaces this file.

declare(strict_types=1);

(static function (): void {
    $share = '/usr/share/php';
    $needed = [
        'Symfony/Bundle/FrameworkBundle/autoload.php' => 'php-symfony-framework-bundle',
        'Symfony/Component/Runtime/autoload.php' => 'php-symfony-runtime',
        'Symfony/Component/Yaml/autoload.php' => 'php-symfony-yaml',
        'Symfony/Component/Dotenv/autoload.php' => 'php-symfony-dotenv',
        'Symfony/Component/Console/autoload.php' => 'php-symfony-console',
    ];
    $missing = [];
    foreach ($needed as $file => $package) {
        if (!is_file($share . '/' . $file)) {
            $missing[] = $package;
        }
    }
    if ($missing !== []) {
        throw new \RuntimeException('Debian packages missing for the offline Symfony app: apt-get install ' . implode(' ', $missing));
    }
    if (!in_array($share, explode(PATH_SEPARATOR, get_include_path()), true)) {
        set_include_path(get_include_path() . PATH_SEPARATOR . $share);
    }
    foreach (array_keys($needed) as $file) {
        require_once $share . '/' . $file;
    }

    $src = dirname(__DIR__) . '/src/';
    spl_autoload_register(static function (string $class) use ($src): void {
        if (strncmp($class, 'App\\', 4) === 0) {
            $file = $src . str_replace('\\', '/', substr($class, 4)) . '.php';
            if (is_file($file)) {
                require $file;
            }
        }
    });

    // Symfony 6.2 renamed the route attribute's namespace; 5.4 only has
    // Annotation\Route. Its loader matches subclasses, so a subclass under
    // the new name lets controllers written for 7.x load on 5.4.
    if (!class_exists('Symfony\Component\Routing\Attribute\Route')) {
        require __DIR__ . '/rustrunner-route-attribute.php';
    }
})();
