<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http;

/**
 * HTTP on top of a worker (aliased as Spiral\RoadRunner\Http\HttpWorkerInterface).
 */
interface HttpWorkerInterface extends \Spiral\RoadRunner\WorkerAwareInterface
{
    /** Blocks for the next request; null means "leave your loop". */
    public function waitRequest(): ?\Spiral\RoadRunner\Http\Request;

    /**
     * @param string|\Generator $body a generator's yielded values and return value form the body
     * @param array<array-key, array<array-key, string>|string> $headers name => list of values
     */
    public function respond(int $status, string|\Generator $body, array $headers = []): void;
}
