<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http;

/**
 * One HTTP request as the server describes it (aliased as Spiral\RoadRunner\Http\Request).
 *
 * headers: name => list of values; uploads: tree of {name, mime, size, error, tmpName};
 * attributes: ['rr_parsed_body' => bool] + attributes set by server middleware;
 * body: the raw body, or a JSON data tree when $parsed (form posts).
 */
final class Request
{
    public const PARSED_BODY_ATTRIBUTE_NAME = 'rr_parsed_body';

    public function __construct(
        public readonly string $remoteAddr = '127.0.0.1',
        public readonly string $protocol = 'HTTP/1.0',
        public readonly string $method = 'GET',
        public readonly string $uri = 'http://localhost',
        public readonly array $headers = [],
        public readonly array $cookies = [],
        public readonly array $uploads = [],
        public readonly array $attributes = [],
        public readonly array $query = [],
        public readonly string $body = '',
        public readonly bool $parsed = false,
    ) {
    }

    /** The client address, or the 'ipAddress' attribute when a middleware set it. */
    public function getRemoteAddr(): string
    {
        return (string) ($this->attributes['ipAddress'] ?? $this->remoteAddr);
    }

    /**
     * The form data tree of a parsed body, null when the body is raw.
     *
     * @throws \JsonException
     */
    public function getParsedBody(): ?array
    {
        if (!$this->parsed) {
            return null;
        }

        return (array) \json_decode($this->body, true, 512, \JSON_THROW_ON_ERROR);
    }
}
