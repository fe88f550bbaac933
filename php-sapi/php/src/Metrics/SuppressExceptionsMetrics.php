<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

use Psr\Log\LoggerInterface;
use Psr\Log\NullLogger;

/**
 * Logs a failed metrics call instead of throwing (aliased as
 * Spiral\RoadRunner\Metrics\SuppressExceptionsMetrics): metrics must not
 * fail a request.
 */
class SuppressExceptionsMetrics implements MetricsInterface
{
    public function __construct(
        private readonly MetricsInterface $metrics,
        private readonly LoggerInterface $logger = new NullLogger(),
    ) {
    }

    public function add(string $name, float $value, array $labels = []): void
    {
        $this->quietly(fn () => $this->metrics->add($name, $value, $labels));
    }

    public function sub(string $name, float $value, array $labels = []): void
    {
        $this->quietly(fn () => $this->metrics->sub($name, $value, $labels));
    }

    public function observe(string $name, float $value, array $labels = []): void
    {
        $this->quietly(fn () => $this->metrics->observe($name, $value, $labels));
    }

    public function set(string $name, float $value, array $labels = []): void
    {
        $this->quietly(fn () => $this->metrics->set($name, $value, $labels));
    }

    public function declare(string $name, CollectorInterface $collector): void
    {
        $this->quietly(fn () => $this->metrics->declare($name, $collector));
    }

    public function unregister(string $name): void
    {
        $this->quietly(fn () => $this->metrics->unregister($name));
    }

    private function quietly(\Closure $call): void
    {
        try {
            $call();
        } catch (\Throwable $e) {
            $this->logger->error('metrics call failed: ' . $e->getMessage(), ['exception' => $e]);
        }
    }
}
