<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

/**
 * PSR-7 on top of a worker (aliased as Spiral\RoadRunner\Http\PSR7WorkerInterface).
 */
interface PSR7WorkerInterface extends \Spiral\RoadRunner\WorkerAwareInterface
{
    /** Blocks for the next request; null means "leave your loop". */
    public function waitRequest(): ?ServerRequestInterface;

    public function respond(ResponseInterface $response): void;
}
