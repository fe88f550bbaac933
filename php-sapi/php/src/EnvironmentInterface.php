<?php

declare(strict_types=1);

namespace RustRunner\Worker;

/**
 * What the server tells a worker through its environment
 * (aliased as Spiral\RoadRunner\EnvironmentInterface).
 */
interface EnvironmentInterface
{
    /** RR_MODE: one of the Environment\Mode constants, '' when unset. */
    public function getMode(): string;

    /** RR_RELAY, 'pipes' when unset. */
    public function getRelayAddress(): string;

    /** RR_RPC, 'tcp://127.0.0.1:6001' when unset. */
    public function getRPCAddress(): string;
}
