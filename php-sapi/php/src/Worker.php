<?php

declare(strict_types=1);

namespace RustRunner\Worker;

use Psr\Log\LoggerInterface;
use Spiral\RoadRunner\Payload;

/**
 * The native worker (aliased as Spiral\RoadRunner\Worker): tasks come from the
 * server's rustrunner_* functions instead of a goridge relay.
 *
 * Payloads carry the RoadRunner JSON HTTP context, so code written against
 * waitPayload()/respond() sees what it would see under RoadRunner. HttpWorker
 * bypasses the JSON and uses nextRequest()/sendResponse() directly.
 */
class Worker implements \Spiral\RoadRunner\StreamWorkerInterface
{
    private const ENCODE = \JSON_THROW_ON_ERROR | \JSON_INVALID_UTF8_SUBSTITUTE
        | \JSON_UNESCAPED_SLASHES | \JSON_UNESCAPED_UNICODE | \JSON_PRESERVE_ZERO_FRACTION;
    private const DECODE = \JSON_THROW_ON_ERROR | \JSON_INVALID_UTF8_SUBSTITUTE;

    /** The client of the streamed response in progress went away (native path). */
    private bool $nativeStopped = false;

    /** Goridge frames over STDIN/STDOUT instead of native calls (RUSTRUNNER_WORKER_TRANSPORT=relay). */
    private ?Internal\RelayTransport $relay = null;

    /**
     * @param bool $interceptSideEffects accepted for compatibility: the server already keeps output apart from responses
     */
    public function __construct(
        bool $interceptSideEffects = true,
        private ?LoggerInterface $logger = null,
    ) {
        if (\getenv('RUSTRUNNER_WORKER_TRANSPORT') === 'relay') {
            require_once __DIR__ . '/Internal/RelayTransport.php';
            $this->relay = new Internal\RelayTransport();
            if ($interceptSideEffects) {
                Internal\RelayTransport::interceptOutput();
            }
            return;
        }
        if (!\function_exists('rustrunner_wait_request')) {
            throw new \RuntimeException(
                'This script is a worker: start it with `rr serve` (the server runs it and hands it '
                . 'requests). This Spiral\RoadRunner\Worker is the rustrunner server\'s own implementation '
                . 'and only runs inside rustrunner (the rustrunner_* functions are missing). Under RoadRunner '
                . 'or another PHP, install spiral/roadrunner-worker and spiral/roadrunner-http with Composer.'
            );
        }
    }

    /** A worker for the current process; RR_RELAY is ignored (no relay is used). */
    public static function create(bool $interceptSideEffects = true, ?LoggerInterface $logger = null): static
    {
        return new static($interceptSideEffects, $logger);
    }

    public static function createFromEnvironment(
        \Spiral\RoadRunner\EnvironmentInterface $env,
        bool $interceptSideEffects = true,
        ?LoggerInterface $logger = null,
    ): static {
        return new static($interceptSideEffects, $logger);
    }

    /** A logger writing to STDERR, which the server sends to its log. Needs psr/log. */
    public function getLogger(): LoggerInterface
    {
        if ($this->logger === null) {
            if (!\interface_exists(LoggerInterface::class)) {
                throw new \RuntimeException('Worker::getLogger() needs psr/log (composer require psr/log).');
            }
            require_once __DIR__ . '/Logger.php';
            $this->logger = new Logger();
        }

        return $this->logger;
    }

    public function waitPayload(): ?Payload
    {
        $request = $this->nextRequest();
        if ($request === null) {
            return null;
        }

        $context = [
            'remoteAddr' => $request['remoteAddr'],
            'protocol' => $request['protocol'],
            'method' => $request['method'],
            'uri' => $request['uri'],
            'headers' => (object) $request['headers'],
            'cookies' => (object) $request['cookies'],
            'rawQuery' => $request['rawQuery'],
            'parsed' => $request['parsed'],
            'uploads' => $request['uploads'] === '' ? null : \json_decode($request['uploads'], false, 512, self::DECODE),
            'attributes' => $request['attributes'] === ''
                ? new \stdClass()
                : \json_decode($request['attributes'], false, 512, self::DECODE),
        ];

        return new Payload($request['body'], \json_encode($context, self::ENCODE));
    }

    /**
     * Sends the response described by a JSON context {"status":..,"headers":{..}}.
     * A context that cannot be read fails the request (HTTP 500), as under RoadRunner.
     *
     * @param int|null $codec ignored: there is no frame to flag
     */
    public function respond(Payload $payload, ?int $codec = null): void
    {
        if ($payload->header === '') {
            $this->sendResponse(200, [], $payload->body, $payload->eos);
            return;
        }
        if ($payload->body === '' && $payload->header === '{"stop":true}') {
            $this->stop();
            return;
        }

        try {
            $context = \json_decode($payload->header, true, 512, self::DECODE);
        } catch (\JsonException $e) {
            $this->error('invalid response context: ' . $e->getMessage());
            return;
        }
        if (!\is_array($context)) {
            $this->error('invalid response context: a JSON object is expected');
            return;
        }

        $status = $context['status'] ?? 0;
        $headers = $context['headers'] ?? [];
        $this->sendResponse(
            \is_int($status) ? $status : 0,
            \is_array($headers) ? $headers : [],
            $payload->body,
            $payload->eos,
        );
    }

    public function error(string $error): void
    {
        $this->relay ? $this->relay->error($error) : \rustrunner_error($error);
    }

    public function stop(): void
    {
        $this->relay ? $this->relay->stop() : \rustrunner_stop();
    }

    /** Nothing is ever queued: every task is taken by waitPayload(). */
    public function hasPayload(?string $class = null): bool
    {
        return false;
    }

    public function getPayload(?string $class = null): ?Payload
    {
        return null;
    }

    /** This worker streams already (see sendResponse()): the same worker. */
    public function withStreamMode(): static
    {
        return $this;
    }

    /**
     * Responses can be sent in parts: goridge STREAM frames on the relay
     * transport, parts through rustrunner_respond() on the native one.
     *
     * @internal used by HttpWorker
     */
    public function canStream(): bool
    {
        return true; // STREAM frames on the relay, parts through rustrunner_respond()
    }

    /**
     * The client of the streamed response in progress went away.
     *
     * @internal used by HttpWorker
     */
    public function streamStopped(): bool
    {
        return $this->relay !== null ? $this->relay->stopped : $this->nativeStopped;
    }

    /**
     * The next request as built by the server, or null when the worker must leave.
     *
     * @internal used by HttpWorker
     * @return array<string, mixed>|null
     */
    public function nextRequest(): ?array
    {
        // A streamed response left unfinished is ended by the server.
        return $this->relay ? $this->relay->nextRequest() : \rustrunner_wait_request();
    }

    /**
     * Sends a response, or one part of it while $endOfStream is false: the
     * client gets it at once, the first part's status and headers win (as in
     * RoadRunner's streamed responses), and the server ends a response left
     * unfinished when the next request is taken. A 1xx part with
     * $endOfStream false is an interim response (103 Early Hints).
     *
     * @internal used by HttpWorker
     * @param array<array-key, mixed> $headers name => list of values (or one string)
     */
    public function sendResponse(int $status, array $headers, string $body, bool $endOfStream = true): void
    {
        if ($this->relay !== null) {
            // Goridge frames: parts and 1xx interim responses go as STREAM frames.
            $this->relay->respond($status, $headers, $body, !$endOfStream);
            return;
        }
        // Native: a part with $endOfStream false is sent at once (a 1xx is an
        // interim response); the server answers false once the client left.
        $alive = \rustrunner_respond($status, $headers, $body, !$endOfStream);
        $this->nativeStopped = !$endOfStream && !$alive;
    }
}
