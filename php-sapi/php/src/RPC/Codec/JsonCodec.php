<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC\Codec;

use Spiral\Goridge\RPC\CodecInterface;
use Spiral\Goridge\RPC\Exception\RPCException;

/**
 * JSON codec, goridge flag 0x08 (aliased as Spiral\Goridge\RPC\Codec\JsonCodec).
 */
final class JsonCodec implements CodecInterface
{
    public function getIndex(): int
    {
        return 0x08;
    }

    public function encode(mixed $payload): string
    {
        try {
            return \json_encode($payload, \JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new RPCException('json encode: ' . $e->getMessage(), (int) $e->getCode(), $e);
        }
    }

    public function decode(string $payload, mixed $options = null): mixed
    {
        try {
            $flags = \JSON_THROW_ON_ERROR;
            if (\is_int($options)) {
                $flags |= $options;
            }
            return \json_decode($payload, true, 512, $flags);
        } catch (\JsonException $e) {
            throw new RPCException('json decode: ' . $e->getMessage(), (int) $e->getCode(), $e);
        }
    }
}
