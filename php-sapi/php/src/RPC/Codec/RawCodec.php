<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC\Codec;

use Spiral\Goridge\RPC\CodecInterface;
use Spiral\Goridge\RPC\Exception\RPCException;

/**
 * Raw bytes, goridge flag 0x04 (aliased as Spiral\Goridge\RPC\Codec\RawCodec).
 */
final class RawCodec implements CodecInterface
{
    public function getIndex(): int
    {
        return 0x04;
    }

    public function encode(mixed $payload): string
    {
        if (!\is_string($payload)) {
            throw new RPCException('the raw codec sends strings only, got ' . \get_debug_type($payload));
        }
        return $payload;
    }

    public function decode(string $payload, mixed $options = null): mixed
    {
        return $payload;
    }
}
