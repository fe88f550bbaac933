<?php

declare(strict_types=1);

namespace RustRunner\Worker;

use Psr\Log\LoggerInterface;
use Psr\Log\LoggerTrait;

/**
 * Default worker logger: one line per message on STDERR, which the server
 * forwards to its log. Compatible with psr/log 1, 2 and 3.
 */
final class Logger implements LoggerInterface
{
    use LoggerTrait;

    /**
     * @param mixed $level
     * @param string|\Stringable $message
     */
    public function log($level, $message, array $context = []): void
    {
        $line = \sprintf('[php %s] %s', \is_scalar($level) ? (string) $level : \get_debug_type($level), (string) $message);
        if ($context !== []) {
            $json = \json_encode($context, \JSON_UNESCAPED_SLASHES | \JSON_UNESCAPED_UNICODE
                | \JSON_INVALID_UTF8_SUBSTITUTE | \JSON_PARTIAL_OUTPUT_ON_ERROR);
            $line .= ' ' . ($json === false ? \print_r($context, true) : $json);
        }
        $line .= "\n";

        if (\defined('STDERR')) {
            \fwrite(\STDERR, $line);
        } else {
            \file_put_contents('php://stderr', $line);
        }
    }
}
