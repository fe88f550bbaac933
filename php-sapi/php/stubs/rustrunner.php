<?php

/**
 * Declarations of the native functions that rustrunner's worker threads
 * have, for IDEs and static analysis (PHPStan `stubFiles`, Psalm `stubs`).
 * Never include this file at run time: inside `rr serve` the functions exist
 * already, and outside it they do nothing useful.
 */

/**
 * Wait for the next HTTP request. Returns null when the worker must leave its
 * loop (the server stops or restarts it).
 *
 * @return array{remoteAddr: string, protocol: string, method: string, uri: string,
 *     headers: array<string, list<string>>, cookies: array<string, string>, rawQuery: string,
 *     body: string, parsed: bool, uploads: string, attributes: string}|null
 */
function rustrunner_wait_request(): ?array
{
    return null;
}

/**
 * Answer the current request. With $more the body is one part of a streamed
 * response and more parts follow. Returns false when the client went away.
 *
 * @param array<string, string|list<string>> $headers
 */
function rustrunner_respond(int $status, array $headers, string $body, bool $more = false): bool
{
    return false;
}

/** Fail the current request with a 500 (the worker stays). */
function rustrunner_error(string $message): void
{
}

/** Leave the loop after this request; the server starts a new life. */
function rustrunner_stop(): void
{
}
