<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

/** The four Prometheus collector kinds (aliased as Spiral\RoadRunner\Metrics\CollectorType). */
enum CollectorType: string
{
    case Histogram = 'histogram';
    case Gauge = 'gauge';
    case Counter = 'counter';
    case Summary = 'summary';
}
