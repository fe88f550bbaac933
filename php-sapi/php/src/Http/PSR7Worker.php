<?php

declare(strict_types=1);

namespace RustRunner\Worker\Http;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestFactoryInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Message\UploadedFileFactoryInterface;
use Psr\Http\Message\UploadedFileInterface;
use Spiral\RoadRunner\Http\HttpWorker;
use Spiral\RoadRunner\Http\Request;
use Spiral\RoadRunner\WorkerInterface;

/**
 * PSR-7 requests and responses (aliased as Spiral\RoadRunner\Http\PSR7Worker).
 * The PSR-17 factories come from the application.
 */
class PSR7Worker implements \Spiral\RoadRunner\Http\PSR7WorkerInterface
{
    /** Accepted for compatibility; responses are always sent whole. */
    public int $chunkSize = 0;

    private readonly HttpWorker $httpWorker;

    /** @var array<array-key, mixed> $_SERVER as it was when the worker was built */
    private readonly array $originalServer;

    public function __construct(
        WorkerInterface $worker,
        private readonly ServerRequestFactoryInterface $requestFactory,
        private readonly StreamFactoryInterface $streamFactory,
        private readonly UploadedFileFactoryInterface $uploadsFactory,
    ) {
        $this->httpWorker = new HttpWorker($worker);
        $this->originalServer = $_SERVER;
    }

    public function getWorker(): WorkerInterface
    {
        return $this->httpWorker->getWorker();
    }

    public function getHttpWorker(): HttpWorker
    {
        return $this->httpWorker;
    }

    /**
     * The next request, with $_SERVER set for it; null means "leave your loop".
     *
     * @throws \JsonException
     */
    public function waitRequest(): ?ServerRequestInterface
    {
        $httpRequest = $this->httpWorker->waitRequest();
        if ($httpRequest === null) {
            return null;
        }

        $_SERVER = $this->configureServer($httpRequest);

        return $this->mapRequest($httpRequest, $_SERVER);
    }

    /**
     * @throws \JsonException
     */
    public function respond(ResponseInterface $response): void
    {
        $stream = $response->getBody();
        if ($stream->isSeekable()) {
            $stream->rewind();
        }

        $this->httpWorker->respond($response->getStatusCode(), (string) $stream, $response->getHeaders());
    }

    /**
     * The $_SERVER of one request: the construction-time copy plus request data.
     *
     * @return array<array-key, mixed>
     */
    protected function configureServer(Request $request): array
    {
        $server = $this->originalServer;
        $server['REQUEST_URI'] = $request->uri;
        $server['REQUEST_TIME'] = $this->timeInt();
        $server['REQUEST_TIME_FLOAT'] = $this->timeFloat();
        $server['REMOTE_ADDR'] = $request->getRemoteAddr();
        $server['REQUEST_METHOD'] = $request->method;
        $server['HTTP_USER_AGENT'] = '';

        return \Spiral\RoadRunner\Http\GlobalState::withHeaders($server, $request->headers);
    }

    protected function timeInt(): int
    {
        return \time();
    }

    protected function timeFloat(): float
    {
        return \microtime(true);
    }

    /**
     * @param array<array-key, mixed> $server
     * @throws \JsonException
     */
    protected function mapRequest(Request $httpRequest, array $server): ServerRequestInterface
    {
        $request = $this->requestFactory
            ->createServerRequest($httpRequest->method, $httpRequest->uri, $server)
            ->withProtocolVersion(self::protocolVersion($httpRequest->protocol))
            ->withCookieParams($httpRequest->cookies)
            ->withQueryParams($httpRequest->query)
            ->withUploadedFiles($this->wrapUploads($httpRequest->uploads));

        foreach ($httpRequest->attributes as $name => $value) {
            $request = $request->withAttribute((string) $name, $value);
        }

        foreach ($httpRequest->headers as $name => $values) {
            $request = $request->withHeader((string) $name, $values);
        }

        if ($httpRequest->parsed) {
            $request = $request->withParsedBody($httpRequest->getParsedBody());
        }

        if ($httpRequest->body !== '') {
            $request = $request->withBody($this->streamFactory->createStream($httpRequest->body));
        }

        return $request;
    }

    /**
     * Turns the upload tree into UploadedFileInterface objects. An entry with a
     * 'name' key is a file {name, mime, size, error, tmpName}; others are groups.
     *
     * @return array<array-key, UploadedFileInterface|array>
     */
    protected function wrapUploads(array $files): array
    {
        $result = [];
        foreach ($files as $index => $file) {
            if (!\is_array($file)) {
                continue;
            }
            if (!isset($file['name'])) {
                $result[$index] = $this->wrapUploads($file);
                continue;
            }

            $error = (int) ($file['error'] ?? \UPLOAD_ERR_NO_FILE);
            $stream = $error === \UPLOAD_ERR_OK
                ? $this->streamFactory->createStreamFromFile((string) $file['tmpName'])
                : $this->streamFactory->createStream('');

            $result[$index] = $this->uploadsFactory->createUploadedFile(
                $stream,
                isset($file['size']) ? (int) $file['size'] : null,
                $error,
                (string) $file['name'],
                isset($file['mime']) ? (string) $file['mime'] : null,
            );
        }

        return $result;
    }

    /** 'HTTP/2.0' => '2', 'HTTP/1.0' => '1.0'; anything unknown => '1.1'. */
    private static function protocolVersion(string $protocol): string
    {
        $version = \substr($protocol, 5);
        if ($version === '2.0') {
            return '2';
        }

        return $version === '1.0' || $version === '1.1' || $version === '2' ? $version : '1.1';
    }
}
