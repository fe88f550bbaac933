<?php
// Hand-written stand-in for Composer's vendor/autoload.php (Composer's registry is unreachable).
// PSR-4 map taken from each package's composer.json "autoload"; registered with prepend=true,
// like Composer's ClassLoader::register(true), so these real classes win over any fallback.
declare(strict_types=1);

(static function (): void {
    $v = __DIR__;
    $psr4 = [
        'Spiral\\RoadRunner\\Http\\' => [$v . '/spiral/roadrunner-http/src/'],
        'Spiral\\RoadRunner\\'       => [$v . '/spiral/roadrunner-worker/src/'],
        'Spiral\\Goridge\\'          => [$v . '/spiral/goridge/src/'],
        'Nyholm\\Psr7\\'             => [$v . '/nyholm/psr7/src/'],
        'Psr\\Log\\'                 => [$v . '/psr/log/src/'],
        'Psr\\Http\\Message\\'       => [$v . '/psr/http-message/src/', $v . '/psr/http-factory/src/'],
        'Symfony\\Polyfill\\Php83\\' => [$v . '/symfony/polyfill-php83/'],
    ];
    $classmap = [];
    foreach (glob($v . '/symfony/polyfill-php83/Resources/stubs/*.php') as $f) {
        $classmap[basename($f, '.php')] = $f;
    }
    spl_autoload_register(static function (string $class) use ($psr4, $classmap): void {
        if (isset($classmap[$class])) { require $classmap[$class]; return; }
        foreach ($psr4 as $prefix => $dirs) {
            if (strncmp($class, $prefix, strlen($prefix)) !== 0) continue;
            $rel = str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            foreach ($dirs as $d) {
                if (is_file($d . $rel)) { require $d . $rel; return; }
            }
        }
    }, true, true);
    // composer "files" autoload entries
    require_once $v . '/symfony/polyfill-php83/bootstrap.php';
})();
