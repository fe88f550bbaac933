<?php

declare(strict_types=1);

namespace RustRunner\Worker;

/**
 * A worker that can send a response in several parts (aliased as Spiral\RoadRunner\StreamWorkerInterface).
 */
interface StreamWorkerInterface extends \Spiral\RoadRunner\WorkerInterface
{
    public function withStreamMode(): static;
}
