<?php

declare(strict_types=1);

namespace RustRunner\Worker\Environment;

/**
 * Values of RR_MODE (aliased as Spiral\RoadRunner\Environment\Mode).
 */
interface Mode
{
    public const MODE_HTTP = 'http';
    public const MODE_TEMPORAL = 'temporal';
    public const MODE_JOBS = 'jobs';
    public const MODE_GRPC = 'grpc';
    public const MODE_TCP = 'tcp';
    public const MODE_CENTRIFUGE = 'centrifuge';
}
