<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC;

/**
 * How RPC arguments and results are encoded (aliased as Spiral\Goridge\RPC\CodecInterface).
 */
interface CodecInterface
{
    /** The goridge frame flag of this codec (JSON 0x08, raw 0x04). */
    public function getIndex(): int;

    public function encode(mixed $payload): string;

    public function decode(string $payload, mixed $options = null): mixed;
}
