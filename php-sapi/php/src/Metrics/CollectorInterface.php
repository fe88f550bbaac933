<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

/** How a collector is declared (aliased as Spiral\RoadRunner\Metrics\CollectorInterface). */
interface CollectorInterface extends \JsonSerializable
{
    public function withNamespace(string $namespace): self;

    public function withSubsystem(string $subsystem): self;

    public function withHelp(string $help): self;

    public function withLabels(string ...$label): self;

    /** The form the server's metrics.Declare takes. */
    public function toArray(): array;
}
