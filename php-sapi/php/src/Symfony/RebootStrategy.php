<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

/**
 * When to reboot the Symfony kernel inside a worker life, with the meanings of
 * baldinof/roadrunner-bundle's `kernel_reboot` options:
 *
 * - on_exception (default): after a request during which an exception reached
 *   the kernel (kernel.exception), unless it is one of allowed_exceptions;
 * - always: after every request;
 * - max_jobs: after a random number of requests in
 *   [max_jobs * (1 - max_jobs_dispersion), max_jobs].
 *
 * Several strategies may be combined: any of them asks for a reboot.
 *
 * @internal
 */
final class RebootStrategy
{
    public const ALWAYS = 'always';
    public const ON_EXCEPTION = 'on_exception';
    public const MAX_JOBS = 'max_jobs';

    /** @var list<string> */
    private array $strategies;

    /** @var list<string> */
    private array $allowedExceptions;

    private int $limit = 0;
    private int $jobs = 0;
    private ?\Throwable $exception = null;

    /**
     * @param array{strategy?: string|list<string>, allowed_exceptions?: list<string>, max_jobs?: int|string, max_jobs_dispersion?: float|string} $config
     */
    public function __construct(array $config = [])
    {
        $strategies = $config['strategy'] ?? [self::ON_EXCEPTION];
        $this->strategies = \array_values(\array_map('strval', (array) $strategies));
        foreach ($this->strategies as $s) {
            if (!\in_array($s, [self::ALWAYS, self::ON_EXCEPTION, self::MAX_JOBS], true)) {
                throw new \InvalidArgumentException(\sprintf(
                    'rustrunner: unknown kernel_reboot strategy "%s" (use on_exception, always or max_jobs)',
                    $s,
                ));
            }
        }
        $this->allowedExceptions = \array_values(\array_map('strval', (array) ($config['allowed_exceptions'] ?? [])));

        if (\in_array(self::MAX_JOBS, $this->strategies, true)) {
            $max = (int) ($config['max_jobs'] ?? 1000);
            $dispersion = (float) ($config['max_jobs_dispersion'] ?? 0.2);
            if ($max < 1) {
                throw new \InvalidArgumentException('rustrunner: kernel_reboot.max_jobs must be at least 1');
            }
            if ($dispersion < 0 || $dispersion >= 1) {
                throw new \InvalidArgumentException('rustrunner: kernel_reboot.max_jobs_dispersion must be in [0, 1)');
            }
            $min = (int) \max(1, \round($max * (1 - $dispersion)));
            $this->limit = \random_int(\min($min, $max), $max);
        }
    }

    /** @return list<string> */
    public function strategies(): array
    {
        return $this->strategies;
    }

    /** An exception reached the kernel during the current request. */
    public function exception(\Throwable $e): void
    {
        $this->exception = $e;
    }

    /** Called once per handled request; true when the kernel must be rebooted now. */
    public function afterRequest(): bool
    {
        ++$this->jobs;
        $exception = $this->exception;
        $this->exception = null;

        $reboot = false;
        foreach ($this->strategies as $s) {
            if ($s === self::ALWAYS) {
                $reboot = true;
            } elseif ($s === self::ON_EXCEPTION && $exception !== null && !$this->allowed($exception)) {
                $reboot = true;
            } elseif ($s === self::MAX_JOBS && $this->jobs >= $this->limit) {
                $reboot = true;
            }
        }
        if ($reboot) {
            $this->jobs = 0;
        }

        return $reboot;
    }

    private function allowed(\Throwable $e): bool
    {
        foreach ($this->allowedExceptions as $class) {
            if ($e instanceof $class) {
                return true;
            }
        }

        return false;
    }
}
