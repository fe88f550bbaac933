<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http\Exception;

/**
 * Thrown into a response generator when the client went away during a
 * streamed response (aliased as Spiral\RoadRunner\Http\Exception\StreamStoppedException).
 */
class StreamStoppedException extends \RuntimeException
{
}
