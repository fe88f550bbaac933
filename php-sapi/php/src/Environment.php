<?php

declare(strict_types=1);

namespace RustRunner\Worker;

/**
 * Worker environment read from RR_* variables (aliased as Spiral\RoadRunner\Environment).
 */
class Environment implements \Spiral\RoadRunner\EnvironmentInterface
{
    /**
     * @param array<string, mixed> $env
     */
    public function __construct(
        private array $env = [],
    ) {
    }

    public function getMode(): string
    {
        return $this->get('RR_MODE', '');
    }

    public function getRelayAddress(): string
    {
        return $this->get('RR_RELAY', 'pipes');
    }

    public function getRPCAddress(): string
    {
        return $this->get('RR_RPC', 'tcp://127.0.0.1:6001');
    }

    /** $_ENV and $_SERVER together; $_SERVER wins. */
    public static function fromGlobals(): self
    {
        return new self($_SERVER + $_ENV);
    }

    private function get(string $name, string $default): string
    {
        return \array_key_exists($name, $this->env) ? (string) $this->env[$name] : $default;
    }
}
