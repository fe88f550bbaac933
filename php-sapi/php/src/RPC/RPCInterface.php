<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC;

use Spiral\Goridge\RPC\CodecInterface;

/**
 * Goridge RPC client (aliased as Spiral\Goridge\RPC\RPCInterface).
 */
interface RPCInterface
{
    /** A copy that prefixes every method with "<service>.". */
    public function withServicePrefix(string $service): self;

    /** A copy that encodes arguments and results with another codec. */
    public function withCodec(CodecInterface $codec): self;

    /**
     * @throws \Spiral\Goridge\RPC\Exception\RPCException on transport failures
     * @throws \Spiral\Goridge\RPC\Exception\ServiceException when the server answers with an error
     */
    public function call(string $method, mixed $payload, mixed $options = null): mixed;
}
