<?php

declare(strict_types=1);

namespace RustRunner\Worker;

/**
 * Something built on top of a worker (aliased as Spiral\RoadRunner\WorkerAwareInterface).
 */
interface WorkerAwareInterface
{
    public function getWorker(): \Spiral\RoadRunner\WorkerInterface;
}
