<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics\Exception;

/** A metrics call the server refused (aliased as Spiral\RoadRunner\Metrics\Exception\MetricsException). */
class MetricsException extends \RuntimeException
{
}
