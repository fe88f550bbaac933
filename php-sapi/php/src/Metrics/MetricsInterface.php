<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

/**
 * The application's metrics, kept by the server (aliased as
 * Spiral\RoadRunner\Metrics\MetricsInterface): collectors declared in
 * .rr.yaml (metrics.collect) or with declare(), exported on the server's
 * metrics endpoint. $labels are label values, in the declared order.
 */
interface MetricsInterface
{
    /** Add to a counter or a gauge. */
    public function add(string $name, float $value, array $labels = []): void;

    /** Subtract from a gauge. */
    public function sub(string $name, float $value, array $labels = []): void;

    /** Record one observation of a histogram or a summary. */
    public function observe(string $name, float $value, array $labels = []): void;

    /** Set a gauge. */
    public function set(string $name, float $value, array $labels = []): void;

    /** Declare a collector; a name that exists already is kept as it is. */
    public function declare(string $name, CollectorInterface $collector): void;

    /** Remove a collector and its values. */
    public function unregister(string $name): void;
}
