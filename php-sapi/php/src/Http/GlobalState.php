<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http;

/**
 * Builds a per-request $_SERVER from the one the worker started with
 * (aliased as Spiral\RoadRunner\Http\GlobalState).
 */
final class GlobalState
{
    /** @var array<array-key, mixed> */
    private static array $cachedServer = [];

    /** Remembers the current $_SERVER as the base of every request's $_SERVER. */
    public static function cacheServerVars(): void
    {
        self::$cachedServer = $_SERVER;
    }

    /**
     * The cached $_SERVER plus REQUEST_URI (absolute), REQUEST_TIME(_FLOAT),
     * REMOTE_ADDR, REQUEST_METHOD, HTTP_HOST (from the URI) and one HTTP_*
     * entry per header (CONTENT_TYPE/CONTENT_LENGTH without the prefix).
     *
     * @return array<array-key, mixed>
     */
    public static function enrichServerVars(\Spiral\RoadRunner\Http\Request $request): array
    {
        $server = self::$cachedServer;
        $server['REQUEST_URI'] = $request->uri;
        $server['REQUEST_TIME'] = \time();
        $server['REQUEST_TIME_FLOAT'] = \microtime(true);
        $server['REMOTE_ADDR'] = $request->getRemoteAddr();
        $server['REQUEST_METHOD'] = $request->method;
        $server['HTTP_USER_AGENT'] = '';

        $parts = \parse_url($request->uri);
        if (\is_array($parts) && isset($parts['host']) && $parts['host'] !== '') {
            $server['HTTP_HOST'] = isset($parts['port']) ? $parts['host'] . ':' . $parts['port'] : $parts['host'];
        }

        return self::withHeaders($server, $request->headers);
    }

    /**
     * The headers as CGI variables: HTTP_<NAME> (values joined with ", "),
     * CONTENT_TYPE and CONTENT_LENGTH without the prefix.
     *
     * @param array<string, mixed> $server
     * @param array<array-key, mixed> $headers
     * @return array<string, mixed>
     */
    public static function withHeaders(array $server, array $headers): array
    {
        foreach ($headers as $name => $values) {
            $key = \strtoupper(\str_replace('-', '_', (string) $name));
            $value = \is_array($values) ? \implode(', ', $values) : (string) $values;
            if ($key === 'CONTENT_TYPE' || $key === 'CONTENT_LENGTH') {
                $server[$key] = $value;
            } else {
                $server['HTTP_' . $key] = $value;
            }
        }

        return $server;
    }
}

GlobalState::cacheServerVars();
