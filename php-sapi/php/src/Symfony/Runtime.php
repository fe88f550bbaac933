<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\Runtime\RunnerInterface;
use Symfony\Component\Runtime\SymfonyRuntime;

/**
 * Symfony Runtime for rustrunner workers: APP_RUNTIME=RustRunner\Worker\Symfony\Runtime
 * (or APP_RUNTIME=Baldinof\RoadRunnerBundle\Runtime\Runtime when that bundle
 * is not installed: the server aliases the name to this class).
 *
 * Inside a worker (RR_MODE set, as the server always does) an HTTP kernel is
 * served by Runner; anywhere else (console, php-fpm) it is plain SymfonyRuntime.
 */
class Runtime extends SymfonyRuntime
{
    public function getRunner(?object $application): RunnerInterface
    {
        $mode = \getenv('RR_MODE');
        if ($application instanceof HttpKernelInterface && $mode !== false) {
            return new Runner($application, $mode);
        }

        return parent::getRunner($application);
    }
}
