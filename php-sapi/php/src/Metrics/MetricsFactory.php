<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

use Psr\Log\LoggerInterface;
use Psr\Log\NullLogger;
use Spiral\Goridge\RPC\RPCInterface;

/** Metrics with retries, and optionally without exceptions (aliased as Spiral\RoadRunner\Metrics\MetricsFactory). */
class MetricsFactory
{
    public function __construct(private readonly LoggerInterface $logger = new NullLogger())
    {
    }

    public function create(RPCInterface $rpc, MetricsOptions $options = new MetricsOptions()): MetricsInterface
    {
        $metrics = new RetryMetrics(new Metrics($rpc), $options->retryAttempts, $options->retrySleepMicroseconds);
        return $options->suppressExceptions ? new SuppressExceptionsMetrics($metrics, $this->logger) : $metrics;
    }

    public static function createMetrics(RPCInterface $rpc, MetricsOptions $options = new MetricsOptions()): MetricsInterface
    {
        return (new self())->create($rpc, $options);
    }
}
