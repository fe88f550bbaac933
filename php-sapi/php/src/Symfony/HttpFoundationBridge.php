<?php

declare(strict_types=1);

namespace RustRunner\Worker\Symfony;

use Symfony\Component\HttpFoundation\BinaryFileResponse;
use Symfony\Component\HttpFoundation\File\UploadedFile;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpFoundation\StreamedResponse;

/**
 * The server's request (what rustrunner_wait_request() returns) straight into
 * an HttpFoundation Request, and an HttpFoundation Response back into status,
 * headers and body: no PSR-7 objects, no JSON.
 *
 * $_SERVER is built the way baldinof/roadrunner-bundle builds it
 * (HttpFoundationWorker::configureServer): the worker's own $_SERVER, then
 * SERVER_NAME/SERVER_PORT from the absolute uri, a relative REQUEST_URI,
 * QUERY_STRING, HTTPS, SERVER_PROTOCOL, REMOTE_ADDR, HTTP_* headers, and
 * PHP_AUTH_USER/PHP_AUTH_PW from a Basic Authorization header.
 *
 * @internal
 */
final class HttpFoundationBridge
{
    private const DECODE = \JSON_THROW_ON_ERROR | \JSON_INVALID_UTF8_SUBSTITUTE;

    /**
     * @param array<string, mixed> $r       what rustrunner_wait_request() returned
     * @param array<string, mixed> $baseServer $_SERVER as the worker started with it
     */
    public static function toRequest(array $r, array $baseServer): Request
    {
        $server = self::server($r, $baseServer);
        $_SERVER = $server;

        \parse_str((string) $r['rawQuery'], $query);

        $parsed = (bool) $r['parsed'];
        $post = [];
        if ($parsed && $r['body'] !== '') {
            $post = (array) \json_decode((string) $r['body'], true, 512, self::DECODE);
        }

        $attributes = ['rr_parsed_body' => $parsed];
        if ($r['attributes'] !== '') {
            $attributes += (array) \json_decode((string) $r['attributes'], true, 512, self::DECODE);
        }

        $files = $r['uploads'] === ''
            ? []
            : self::wrapUploads((array) \json_decode((string) $r['uploads'], true, 512, self::DECODE));

        $request = new Request(
            $query,
            $post,
            $attributes,
            (array) $r['cookies'],
            $files,
            $server,
            (string) $r['body'],
        );
        // Header names are Go-canonical lists; the bag lower-cases them.
        $request->headers->add((array) $r['headers']);

        return $request;
    }

    /**
     * @param array<string, mixed> $r
     * @param array<string, mixed> $server
     * @return array<string, mixed>
     */
    public static function server(array $r, array $server): array
    {
        $uri = (string) $r['uri'];
        $c = \parse_url($uri);
        if ($c === false) {
            throw new \UnexpectedValueException(\sprintf('rustrunner: cannot parse the request uri "%s"', $uri));
        }

        if (isset($c['host'])) {
            $server['SERVER_NAME'] = $c['host'];
        }
        if (isset($c['port'])) {
            $server['SERVER_PORT'] = $c['port'];
        } elseif (isset($c['scheme'])) {
            $server['SERVER_PORT'] = $c['scheme'] === 'https' ? 443 : 80;
        }
        $server['REQUEST_URI'] = $c['path'] ?? '/';
        unset($server['QUERY_STRING'], $server['HTTPS']);
        if (isset($c['query']) && $c['query'] !== '') {
            $server['QUERY_STRING'] = $c['query'];
            $server['REQUEST_URI'] .= '?' . $c['query'];
        }
        if (($c['scheme'] ?? '') === 'https') {
            $server['HTTPS'] = 'on';
        }

        $server['REQUEST_TIME'] = \time();
        $server['REQUEST_TIME_FLOAT'] = \microtime(true);
        $attributes = $r['attributes'] !== '' ? (array) \json_decode((string) $r['attributes'], true) : [];
        $server['REMOTE_ADDR'] = (string) ($attributes['ipAddress'] ?? $r['remoteAddr']);
        $server['REQUEST_METHOD'] = (string) $r['method'];
        $server['SERVER_PROTOCOL'] = (string) $r['protocol'];

        $server['HTTP_USER_AGENT'] = '';
        foreach ((array) $r['headers'] as $name => $values) {
            $key = \strtoupper(\str_replace('-', '_', (string) $name));
            $value = \implode(', ', (array) $values);
            if ($key === 'CONTENT_TYPE' || $key === 'CONTENT_LENGTH') {
                $server[$key] = $value;
            } else {
                $server['HTTP_' . $key] = $value;
            }
        }

        unset($server['PHP_AUTH_USER'], $server['PHP_AUTH_PW']);
        $authorization = $r['headers']['Authorization'][0] ?? null;
        if (\is_string($authorization) && \preg_match('/^Basic\s+(.*)$/i', $authorization, $m)) {
            $decoded = \base64_decode($m[1], true);
            if ($decoded !== false && $decoded !== '') {
                $pair = \explode(':', $decoded, 2);
                $server['PHP_AUTH_USER'] = $pair[0];
                $server['PHP_AUTH_PW'] = $pair[1] ?? '';
            }
        }

        return $server;
    }

    /**
     * @param array<array-key, mixed> $files tree of {name, mime, size, error, tmpName}
     * @return array<array-key, mixed>
     */
    private static function wrapUploads(array $files): array
    {
        $out = [];
        foreach ($files as $key => $file) {
            if (!\is_array($file)) {
                continue;
            }
            if (!isset($file['name'])) {
                $out[$key] = self::wrapUploads($file);
                continue;
            }
            // test mode: the server wrote the file, PHP's is_uploaded_file() does not know it.
            $out[$key] = new UploadedFile(
                (string) ($file['tmpName'] ?? ''),
                (string) $file['name'],
                isset($file['mime']) ? (string) $file['mime'] : null,
                (int) ($file['error'] ?? \UPLOAD_ERR_OK),
                true,
            );
        }

        return $out;
    }

    /**
     * Status, headers (name => list of values, Set-Cookie included) and the
     * whole body of a response. Streamed and file responses are buffered.
     *
     * @return array{0: int, 1: array<string, list<string>>, 2: string}
     */
    public static function fromResponse(Response $response): array
    {
        if ($response instanceof BinaryFileResponse && !$response->headers->has('Content-Range')) {
            $path = $response->getFile()->getPathname();
            $body = @\file_get_contents($path);
            if ($body === false) {
                throw new \RuntimeException(\sprintf('rustrunner: cannot read the file "%s" of a BinaryFileResponse', $path));
            }
        } elseif ($response instanceof StreamedResponse || $response instanceof BinaryFileResponse) {
            $body = '';
            \ob_start(static function (string $buffer) use (&$body): string {
                $body .= $buffer;

                return '';
            }, 1);
            try {
                $response->sendContent();
            } finally {
                \ob_end_clean();
            }
        } else {
            $body = (string) $response->getContent();
        }

        $headers = [];
        foreach ($response->headers->allPreserveCaseWithoutCookies() as $name => $values) {
            $list = [];
            foreach ((array) $values as $v) {
                $list[] = (string) $v;
            }
            $headers[(string) $name] = $list;
        }
        $cookies = [];
        foreach ($response->headers->getCookies() as $cookie) {
            $cookies[] = (string) $cookie;
        }
        if ($cookies !== []) {
            $headers['Set-Cookie'] = $cookies;
        }

        return [$response->getStatusCode(), $headers, $body];
    }
}
