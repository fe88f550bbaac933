<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

/** How MetricsFactory wraps Metrics (aliased as Spiral\RoadRunner\Metrics\MetricsOptions). */
final class MetricsOptions
{
    public function __construct(
        public readonly int $retryAttempts = 3,
        public readonly int $retrySleepMicroseconds = 50,
        public readonly bool $suppressExceptions = false,
    ) {
    }
}
