<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

use Spiral\Goridge\RPC\Exception\RPCException;
use Spiral\Goridge\RPC\Exception\ServiceException;

/**
 * Retries a call that failed on the connection (not a refusal by the
 * server) a few times (aliased as Spiral\RoadRunner\Metrics\RetryMetrics).
 */
class RetryMetrics implements MetricsInterface
{
    public function __construct(
        private readonly MetricsInterface $metrics,
        private readonly int $retryAttempts = 3,
        private readonly int $retrySleepMicroseconds = 50,
    ) {
    }

    public function add(string $name, float $value, array $labels = []): void
    {
        $this->retry(fn () => $this->metrics->add($name, $value, $labels));
    }

    public function sub(string $name, float $value, array $labels = []): void
    {
        $this->retry(fn () => $this->metrics->sub($name, $value, $labels));
    }

    public function observe(string $name, float $value, array $labels = []): void
    {
        $this->retry(fn () => $this->metrics->observe($name, $value, $labels));
    }

    public function set(string $name, float $value, array $labels = []): void
    {
        $this->retry(fn () => $this->metrics->set($name, $value, $labels));
    }

    public function declare(string $name, CollectorInterface $collector): void
    {
        $this->retry(fn () => $this->metrics->declare($name, $collector));
    }

    public function unregister(string $name): void
    {
        $this->retry(fn () => $this->metrics->unregister($name));
    }

    private function retry(\Closure $call): void
    {
        for ($attempt = 1; ; $attempt++) {
            try {
                $call();
                return;
            } catch (ServiceException $e) {
                throw $e;
            } catch (RPCException $e) {
                if ($attempt >= $this->retryAttempts) {
                    throw $e;
                }
                \usleep($this->retrySleepMicroseconds);
            }
        }
    }
}
