<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC\Exception;

/**
 * The server answered with an error (aliased as Spiral\Goridge\RPC\Exception\ServiceException).
 */
class ServiceException extends \Spiral\Goridge\RPC\Exception\RPCException
{
}
