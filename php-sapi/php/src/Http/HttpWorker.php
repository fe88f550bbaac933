<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http;

use RustRunner\Worker\Worker as NativeWorker;
use Spiral\RoadRunner\Http\Request;
use Spiral\RoadRunner\Payload;
use Spiral\RoadRunner\WorkerInterface;

/**
 * HTTP requests and responses (aliased as Spiral\RoadRunner\Http\HttpWorker).
 *
 * On the server's native worker the request arrives as PHP values and the
 * response leaves as PHP values, with no JSON in between. Any other
 * WorkerInterface (a test double, a relay-based worker) gets RoadRunner's JSON
 * context payloads.
 */
class HttpWorker implements \Spiral\RoadRunner\Http\HttpWorkerInterface
{
    private const DECODE = \JSON_THROW_ON_ERROR | \JSON_INVALID_UTF8_SUBSTITUTE;

    private readonly ?NativeWorker $native;

    public function __construct(
        private readonly WorkerInterface $worker,
    ) {
        $this->native = $worker instanceof NativeWorker ? $worker : null;
    }

    public function getWorker(): WorkerInterface
    {
        return $this->worker;
    }

    /**
     * @throws \JsonException
     */
    public function waitRequest(): ?Request
    {
        if ($this->native !== null) {
            $request = $this->native->nextRequest();

            return $request === null ? null : self::fromNative($request);
        }

        $payload = $this->worker->waitPayload();
        if ($payload === null || ($payload->body === '' && $payload->header === '')) {
            return null;
        }

        return self::fromContext($payload->body, (array) \json_decode($payload->header, true, 512, self::DECODE));
    }

    /**
     * A generator body is streamed on the server's own worker: each yielded
     * value is one part, then its return value (any other WorkerInterface gets
     * them collected into one payload). With $endOfStream false the response
     * stays open and the next respond() call adds to it (status and headers of
     * the first part win). A 1xx status with $endOfStream false is an interim
     * response.
     *
     * @param array<array-key, array<array-key, string>|string> $headers name => list of values
     * @throws \JsonException
     */
    public function respond(int $status, string|\Generator $body = '', array $headers = [], bool $endOfStream = true): void
    {
        if ($status >= 100 && $status < 200 && $body !== '') {
            throw new \InvalidArgumentException('Unable to send a body with informational status code.');
        }

        if ($body instanceof \Generator && $this->native !== null && $this->native->canStream()) {
            $this->stream($status, $headers, $body, $endOfStream);
            return;
        }

        if ($body instanceof \Generator) {
            $content = '';
            while ($body->valid()) {
                $content .= (string) $body->current();
                try {
                    $body->next();
                } catch (\Throwable) {
                    // The generator failed after its first part: the response ends
                    // with what it produced (RoadRunner ends the stream the same way).
                    $this->send($status, $headers, $content, true);
                    return;
                }
            }
            $content .= (string) $body->getReturn();
            if ($content === '' && !$endOfStream) {
                return;
            }
            $body = $content;
        }

        $this->send($status, $headers, $body, $endOfStream);
    }

    /**
     * Sends each value of the generator as one part of the response, then its
     * return value as the last part. When the client goes away the generator
     * gets a StreamStoppedException and the response ends.
     */
    private function stream(int $status, array $headers, \Generator $body, bool $endOfStream): void
    {
        $native = $this->native;
        \assert($native !== null);
        try {
            while ($body->valid()) {
                $native->sendResponse($status, $headers, (string) $body->current(), false);
                if ($native->streamStopped()) {
                    try {
                        $body->throw(new \Spiral\RoadRunner\Http\Exception\StreamStoppedException('the client went away'));
                    } catch (\Throwable) {
                    }
                    $native->sendResponse($status, $headers, '', true);
                    return;
                }
                $body->next();
            }
            $last = (string) $body->getReturn();
        } catch (\Throwable) {
            // The generator failed: end the response with what it produced.
            $native->sendResponse($status, $headers, '', true);
            return;
        }
        $native->sendResponse($status, $headers, $last, $endOfStream);
    }

    private function send(int $status, array $headers, string $body, bool $endOfStream): void
    {
        if ($this->native !== null) {
            $this->native->sendResponse($status, $headers, $body, $endOfStream);
            return;
        }

        $context = \json_encode(['status' => $status, 'headers' => $headers ?: new \stdClass()], \JSON_THROW_ON_ERROR);
        $this->worker->respond(new Payload($body, $context, $endOfStream));
    }

    /**
     * @param array<string, mixed> $r what rustrunner_wait_request() returned
     */
    private static function fromNative(array $r): Request
    {
        \parse_str($r['rawQuery'], $query);

        $attributes = [Request::PARSED_BODY_ATTRIBUTE_NAME => $r['parsed']];
        if ($r['attributes'] !== '') {
            $attributes += (array) \json_decode($r['attributes'], true, 512, self::DECODE);
        }

        return new Request(
            remoteAddr: $r['remoteAddr'],
            protocol: $r['protocol'],
            method: $r['method'],
            uri: $r['uri'],
            headers: self::filterHeaders($r['headers']),
            cookies: $r['cookies'],
            uploads: $r['uploads'] === '' ? [] : (array) \json_decode($r['uploads'], true, 512, self::DECODE),
            attributes: $attributes,
            query: $query,
            body: $r['body'],
            parsed: $r['parsed'],
        );
    }

    /**
     * @param array<string, mixed> $context RoadRunner's JSON request context
     */
    private static function fromContext(string $body, array $context): Request
    {
        \parse_str((string) ($context['rawQuery'] ?? ''), $query);
        $parsed = (bool) ($context['parsed'] ?? false);

        return new Request(
            remoteAddr: (string) ($context['remoteAddr'] ?? ''),
            protocol: (string) ($context['protocol'] ?? ''),
            method: (string) ($context['method'] ?? ''),
            uri: (string) ($context['uri'] ?? ''),
            headers: self::filterHeaders((array) ($context['headers'] ?? [])),
            cookies: (array) ($context['cookies'] ?? []),
            uploads: (array) ($context['uploads'] ?? []),
            attributes: [Request::PARSED_BODY_ATTRIBUTE_NAME => $parsed] + (array) ($context['attributes'] ?? []),
            query: $query,
            body: $body,
            parsed: $parsed,
        );
    }

    /** Drops headers whose name is not a non-empty string. */
    private static function filterHeaders(array $headers): array
    {
        foreach ($headers as $name => $_) {
            if (!\is_string($name) || $name === '') {
                unset($headers[$name]);
            }
        }

        return $headers;
    }
}
