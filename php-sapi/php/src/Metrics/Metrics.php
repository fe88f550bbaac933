<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

use RustRunner\Worker\Metrics\Exception\MetricsException;
use Spiral\Goridge\RPC\Exception\ServiceException;
use Spiral\Goridge\RPC\RPCInterface;

/**
 * The application's metrics over the server's RPC (aliased as
 * Spiral\RoadRunner\Metrics\Metrics):
 *
 *     $metrics = new Metrics(RPC::create(Environment::fromGlobals()->getRPCAddress()));
 *     $metrics->add('hits', 1, ['home']);
 *
 * Each method is one call of the server's metrics.* service; the server's
 * refusal becomes a MetricsException.
 */
class Metrics implements MetricsInterface
{
    private readonly RPCInterface $rpc;

    public function __construct(RPCInterface $rpc)
    {
        $this->rpc = $rpc->withServicePrefix('metrics');
    }

    public function add(string $name, float $value, array $labels = []): void
    {
        $this->call('Add', ['name' => $name, 'value' => $value, 'labels' => \array_values($labels)]);
    }

    public function sub(string $name, float $value, array $labels = []): void
    {
        $this->call('Sub', ['name' => $name, 'value' => $value, 'labels' => \array_values($labels)]);
    }

    public function observe(string $name, float $value, array $labels = []): void
    {
        $this->call('Observe', ['name' => $name, 'value' => $value, 'labels' => \array_values($labels)]);
    }

    public function set(string $name, float $value, array $labels = []): void
    {
        $this->call('Set', ['name' => $name, 'value' => $value, 'labels' => \array_values($labels)]);
    }

    public function declare(string $name, CollectorInterface $collector): void
    {
        $this->call('Declare', ['name' => $name, 'collector' => $collector->toArray()]);
    }

    public function unregister(string $name): void
    {
        $this->call('Unregister', $name);
    }

    private function call(string $method, mixed $payload): void
    {
        try {
            $this->rpc->call($method, $payload);
        } catch (ServiceException $e) {
            throw new MetricsException($e->getMessage(), (int) $e->getCode(), $e);
        }
    }
}
