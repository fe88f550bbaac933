<?php

declare(strict_types=1);

namespace RustRunner\Worker\Metrics;

/**
 * An immutable collector declaration (aliased as
 * Spiral\RoadRunner\Metrics\Collector):
 *
 *     $metrics->declare('latency', Collector::histogram(0.1, 0.5, 1)->withLabels('route'));
 */
final class Collector implements CollectorInterface
{
    private string $namespace = '';
    private string $subsystem = '';
    private string $help = '';
    /** @var list<string> */
    private array $labels = [];

    /** @param list<float> $buckets */
    private function __construct(
        public readonly CollectorType $type,
        private readonly array $buckets = [],
    ) {
    }

    public static function counter(): self
    {
        return new self(CollectorType::Counter);
    }

    public static function gauge(): self
    {
        return new self(CollectorType::Gauge);
    }

    public static function histogram(float ...$bucket): self
    {
        return new self(CollectorType::Histogram, \array_values($bucket));
    }

    public static function summary(): self
    {
        return new self(CollectorType::Summary);
    }

    public function withNamespace(string $namespace): self
    {
        $c = clone $this;
        $c->namespace = $namespace;
        return $c;
    }

    public function withSubsystem(string $subsystem): self
    {
        $c = clone $this;
        $c->subsystem = $subsystem;
        return $c;
    }

    public function withHelp(string $help): self
    {
        $c = clone $this;
        $c->help = $help;
        return $c;
    }

    public function withLabels(string ...$label): self
    {
        $c = clone $this;
        $c->labels = \array_values($label);
        return $c;
    }

    public function toArray(): array
    {
        return [
            'namespace' => $this->namespace,
            'subsystem' => $this->subsystem,
            'type' => $this->type->value,
            'help' => $this->help,
            'labels' => $this->labels,
            'buckets' => $this->buckets,
        ];
    }

    public function jsonSerialize(): array
    {
        return $this->toArray();
    }
}
