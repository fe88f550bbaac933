<?php

declare(strict_types=1);

namespace RustRunner\Worker;

use Spiral\RoadRunner\Payload;

/**
 * A worker's side of the server conversation (aliased as Spiral\RoadRunner\WorkerInterface).
 */
interface WorkerInterface
{
    /** Blocks for the next task; null means "leave your loop". */
    public function waitPayload(): ?Payload;

    /** Sends the result of the current task. */
    public function respond(Payload $payload): void;

    /** Fails the current task; the worker stays alive. */
    public function error(string $error): void;

    /** Leaves the pool: the in-flight task goes to another worker. */
    public function stop(): void;

    /** Whether a payload (of the given class) can be read without blocking. */
    public function hasPayload(?string $class = null): bool;

    /** Takes a payload (of the given class) that can be read without blocking. */
    public function getPayload(?string $class = null): ?Payload;
}
