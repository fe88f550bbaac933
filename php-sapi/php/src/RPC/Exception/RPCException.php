<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC\Exception;

/**
 * Transport or protocol failure of an RPC call (aliased as Spiral\Goridge\RPC\Exception\RPCException).
 */
class RPCException extends \RuntimeException
{
}
