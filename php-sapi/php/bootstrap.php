<?php

/**
 * rustrunner worker bootstrap: run by the server before the worker script in
 * every worker life.
 *
 * Registers an autoloader (appended, so an application's Composer autoloader
 * wins) that provides the Spiral\RoadRunner worker API from this directory
 * when the application did not install spiral/roadrunner-worker or
 * spiral/roadrunner-http. Our classes live in RustRunner\Worker\ and get the
 * Spiral names through class_alias().
 */

declare(strict_types=1);

// Once per request: the server runs this file before the worker script, and
// an application may also require it as the Composer package rustrunner/worker
// (its "files" autoload). The first one wins: inside rr, the server's.
if (\defined('RUSTRUNNER_WORKER_API')) {
    return;
}
\define('RUSTRUNNER_WORKER_API', __DIR__);

\spl_autoload_register(static function (string $class): void {
    /** @var array<string, array{class-string, string}> lower-case Spiral name => [our class, file under src/] */
    static $map = [
        'spiral\roadrunner\workerinterface' => ['RustRunner\Worker\WorkerInterface', 'WorkerInterface.php'],
        'spiral\roadrunner\streamworkerinterface' => ['RustRunner\Worker\StreamWorkerInterface', 'StreamWorkerInterface.php'],
        'spiral\roadrunner\worker' => ['RustRunner\Worker\Worker', 'Worker.php'],
        'spiral\roadrunner\payload' => ['RustRunner\Worker\Payload', 'Payload.php'],
        'spiral\roadrunner\environmentinterface' => ['RustRunner\Worker\EnvironmentInterface', 'EnvironmentInterface.php'],
        'spiral\roadrunner\environment' => ['RustRunner\Worker\Environment', 'Environment.php'],
        'spiral\roadrunner\environment\mode' => ['RustRunner\Worker\Environment\Mode', 'Environment/Mode.php'],
        'spiral\roadrunner\workerawareinterface' => ['RustRunner\Worker\WorkerAwareInterface', 'WorkerAwareInterface.php'],
        'spiral\roadrunner\http\httpworkerinterface' => ['RustRunner\Worker\Http\HttpWorkerInterface', 'Http/HttpWorkerInterface.php'],
        'spiral\roadrunner\http\httpworker' => ['RustRunner\Worker\Http\HttpWorker', 'Http/HttpWorker.php'],
        'spiral\roadrunner\http\request' => ['RustRunner\Worker\Http\Request', 'Http/Request.php'],
        'spiral\roadrunner\http\psr7workerinterface' => ['RustRunner\Worker\Http\PSR7WorkerInterface', 'Http/PSR7WorkerInterface.php'],
        'spiral\roadrunner\http\psr7worker' => ['RustRunner\Worker\Http\PSR7Worker', 'Http/PSR7Worker.php'],
        'spiral\roadrunner\http\globalstate' => ['RustRunner\Worker\Http\GlobalState', 'Http/GlobalState.php'],
        'spiral\goridge\rpc\rpcinterface' => ['RustRunner\Worker\RPC\RPCInterface', 'RPC/RPCInterface.php'],
        'spiral\goridge\rpc\rpc' => ['RustRunner\Worker\RPC\RPC', 'RPC/RPC.php'],
        'spiral\goridge\rpc\codecinterface' => ['RustRunner\Worker\RPC\CodecInterface', 'RPC/CodecInterface.php'],
        'spiral\goridge\rpc\codec\jsoncodec' => ['RustRunner\Worker\RPC\Codec\JsonCodec', 'RPC/Codec/JsonCodec.php'],
        'spiral\goridge\rpc\codec\rawcodec' => ['RustRunner\Worker\RPC\Codec\RawCodec', 'RPC/Codec/RawCodec.php'],
        'spiral\goridge\rpc\exception\rpcexception' => ['RustRunner\Worker\RPC\Exception\RPCException', 'RPC/Exception/RPCException.php'],
        'spiral\goridge\rpc\exception\serviceexception' => ['RustRunner\Worker\RPC\Exception\ServiceException', 'RPC/Exception/ServiceException.php'],
        'spiral\roadrunner\http\exception\streamstoppedexception' => ['RustRunner\Worker\Http\Exception\StreamStoppedException', 'Http/Exception/StreamStoppedException.php'],
        // roadrunner-php/metrics, when the application did not install it.
        'spiral\roadrunner\metrics\metricsinterface' => ['RustRunner\Worker\Metrics\MetricsInterface', 'Metrics/MetricsInterface.php'],
        'spiral\roadrunner\metrics\metrics' => ['RustRunner\Worker\Metrics\Metrics', 'Metrics/Metrics.php'],
        'spiral\roadrunner\metrics\collectorinterface' => ['RustRunner\Worker\Metrics\CollectorInterface', 'Metrics/CollectorInterface.php'],
        'spiral\roadrunner\metrics\collector' => ['RustRunner\Worker\Metrics\Collector', 'Metrics/Collector.php'],
        'spiral\roadrunner\metrics\collectortype' => ['RustRunner\Worker\Metrics\CollectorType', 'Metrics/CollectorType.php'],
        'spiral\roadrunner\metrics\metricsoptions' => ['RustRunner\Worker\Metrics\MetricsOptions', 'Metrics/MetricsOptions.php'],
        'spiral\roadrunner\metrics\metricsfactory' => ['RustRunner\Worker\Metrics\MetricsFactory', 'Metrics/MetricsFactory.php'],
        'spiral\roadrunner\metrics\retrymetrics' => ['RustRunner\Worker\Metrics\RetryMetrics', 'Metrics/RetryMetrics.php'],
        'spiral\roadrunner\metrics\suppressexceptionsmetrics' => ['RustRunner\Worker\Metrics\SuppressExceptionsMetrics', 'Metrics/SuppressExceptionsMetrics.php'],
        'spiral\roadrunner\metrics\exception\metricsexception' => ['RustRunner\Worker\Metrics\Exception\MetricsException', 'Metrics/Exception/MetricsException.php'],
        // baldinof/roadrunner-bundle's entry points, when the bundle is not
        // installed: APP_RUNTIME, bin/roadrunner-worker and config/bundles.php
        // written for it run on the server's own Symfony runner.
        'baldinof\roadrunnerbundle\runtime\runtime' => ['RustRunner\Worker\Symfony\Runtime', 'Symfony/Runtime.php'],
        'baldinof\roadrunnerbundle\runtime\runner' => ['RustRunner\Worker\Symfony\Runner', 'Symfony/Runner.php'],
        'baldinof\roadrunnerbundle\baldinofroadrunnerbundle' => ['RustRunner\Worker\Symfony\Bundle', 'Symfony/Bundle.php'],
    ];

    $entry = $map[\strtolower(\ltrim($class, '\\'))] ?? null;
    if ($entry === null) {
        // Our own names (RustRunner\Worker\Symfony\Runtime for APP_RUNTIME, ...): PSR-4 under src/.
        if (\strncmp($class, 'RustRunner\\Worker\\', 18) === 0) {
            $file = __DIR__ . '/src/' . \str_replace('\\', '/', \substr($class, 18)) . '.php';
            if (\is_file($file)) {
                require $file;
            }
            // Our class under its Spiral name at once: `catch (Spiral\...\XException)`
            // does not autoload, so an exception we throw must already have it.
            static $spiral = null;
            $spiral ??= \array_combine(
                \array_map(static fn (array $e): string => \strtolower($e[0]), $map),
                \array_keys($map),
            );
            $name = $spiral[\strtolower($class)] ?? null;
            if ($name !== null && !\class_exists($name, false) && !\interface_exists($name, false)
                && (\class_exists($class, false) || \interface_exists($class, false))) {
                \class_alias($class, $name, false);
            }
        }
        return;
    }
    [$ours, $file] = $entry;
    if (!\class_exists($ours, false) && !\interface_exists($ours, false)) {
        require __DIR__ . '/src/' . $file;
    }
    // Loading our file may have autoloaded other names, never this one; check anyway.
    if (!\class_exists($class, false) && !\interface_exists($class, false)) {
        \class_alias($ours, $class, false);
    }
}, true, false);
