<?php

declare(strict_types=1);

namespace RustRunner\Worker\Internal;

/**
 * Goridge v3 frames over STDIN/STDOUT: what spiral/roadrunner-worker does
 * over RoadRunner's pipes. The native functions are faster; this transport
 * exists so the server's relay can be exercised (and used) without the Spiral
 * packages. Chosen with RUSTRUNNER_WORKER_TRANSPORT=relay.
 *
 * @internal
 */
final class RelayTransport
{
    private const CONTROL = 0x01;
    private const CODEC_JSON = 0x08;
    private const ERROR = 0x40;
    private const STREAM = 0x01;
    private const STREAM_STOP = 0x02;
    private const STREAM_PING = 0x04;
    private const STREAM_PONG = 0x08;

    /** The server sent STOP during the current streamed response (the client went away). */
    public bool $stopped = false;

    /** @var resource */
    private $in;
    /** @var resource */
    private $out;

    public function __construct()
    {
        $relay = (string) (\getenv('RR_RELAY') ?: 'pipes');
        if ($relay === 'pipes' || \PHP_SAPI !== 'cli' || self::inProcess()) {
            // In-process workers always use the memory relay on STDIN/STDOUT.
            $this->in = \STDIN;
            $this->out = \STDOUT;
            return;
        }
        // A process worker on a socket relay: tcp://host:port or unix:///path.
        $socket = @\stream_socket_client($relay, $errno, $errstr, 5.0);
        if ($socket === false) {
            throw new \RuntimeException("cannot connect to the relay {$relay}: {$errstr}");
        }
        \stream_set_blocking($socket, true);
        $this->in = $socket;
        $this->out = $socket;
    }

    /**
     * In a php-cli process (not in-process), STDOUT may be the relay itself:
     * send echo/print output to STDERR, as spiral/roadrunner-worker does.
     */
    public static function interceptOutput(): void
    {
        if (self::inProcess()) {
            return; // the server already keeps output apart
        }
        \ob_start(static function (string $chunk): string {
            if ($chunk !== '') {
                \fwrite(\STDERR, $chunk);
            }
            return '';
        }, 1);
    }

    /**
     * Whether this PHP runs inside the server (a worker thread): STDIN is then
     * the server's memory relay, a stream of the type php-sapi/rustrunner.c
     * gives it (rr_stream_ops). That the rustrunner_* functions exist does
     * not tell: `rr php-cli` has them too, and it is what a process worker
     * runs when `php` is a hard link to rr (the container image, dist/php).
     */
    private static function inProcess(): bool
    {
        return \defined('STDIN') && \is_resource(\STDIN)
            && (\stream_get_meta_data(\STDIN)['stream_type'] ?? '') === 'rustrunner relay';
    }

    /** @return array<string, mixed>|null the request, or null to leave the loop */
    public function nextRequest(): ?array
    {
        while (true) {
            $frame = $this->readFrame();
            if ($frame === null) {
                return null;
            }
            [$flags, $stream, $options, $payload] = $frame;
            if ($flags & self::CONTROL) {
                $control = \json_decode($payload, true);
                if (!\is_array($control)) {
                    throw new \RuntimeException('invalid control frame from the server');
                }
                if (!empty($control['stop'])) {
                    return null;
                }
                if (!empty($control['pid'])) {
                    $this->writeFrame(self::CONTROL, [], \json_encode(['pid' => \getmypid()], \JSON_THROW_ON_ERROR));
                    continue;
                }
                throw new \RuntimeException('undefined control frame from the server');
            }
            if ($stream & (self::STREAM_STOP | self::STREAM_PONG)) {
                continue;
            }
            $split = $options[0] ?? 0;
            $context = \json_decode(\substr($payload, 0, $split), true, 512, \JSON_THROW_ON_ERROR);
            $uploads = $context['uploads'] ?? null;
            $attributes = $context['attributes'] ?? null;
            return [
                'remoteAddr' => (string) ($context['remoteAddr'] ?? ''),
                'protocol' => (string) ($context['protocol'] ?? 'HTTP/1.1'),
                'method' => (string) ($context['method'] ?? 'GET'),
                'uri' => (string) ($context['uri'] ?? ''),
                'headers' => \is_array($context['headers'] ?? null) ? $context['headers'] : [],
                'cookies' => \is_array($context['cookies'] ?? null) ? $context['cookies'] : [],
                'rawQuery' => (string) ($context['rawQuery'] ?? ''),
                'parsed' => (bool) ($context['parsed'] ?? false),
                'uploads' => $uploads === null ? '' : \json_encode($uploads, \JSON_THROW_ON_ERROR),
                'attributes' => empty($attributes) ? '' : \json_encode($attributes, \JSON_THROW_ON_ERROR),
                'body' => \substr($payload, $split),
            ];
        }
    }

    /**
     * One response frame. With $stream the frame is one part of a streamed
     * response (or a 1xx interim response); it carries a PING, and the
     * server's answer (PONG, or STOP when the client went away) is read right
     * away, so a stop is seen at the next part.
     *
     * @param array<array-key, mixed> $headers
     */
    public function respond(int $status, array $headers, string $body, bool $stream = false): void
    {
        $norm = [];
        foreach ($headers as $name => $values) {
            $norm[(string) $name] = \is_array($values) ? \array_values(\array_map('strval', $values)) : [(string) $values];
        }
        $context = \json_encode(['status' => $status, 'headers' => (object) $norm], \JSON_THROW_ON_ERROR);
        if (!$stream) {
            $this->writeFrame(self::CODEC_JSON, [\strlen($context)], $context . $body);
            $this->stopped = false;
            return;
        }
        $this->writeFrame(self::CODEC_JSON, [\strlen($context)], $context . $body, self::STREAM | self::STREAM_PING);
        $reply = $this->readFrame();
        if ($reply === null) {
            throw new \RuntimeException('the relay to the server is closed');
        }
        if ($reply[1] & self::STREAM_STOP) {
            $this->stopped = true;
        }
    }

    public function error(string $message): void
    {
        $this->writeFrame(self::ERROR, [], $message);
    }

    public function stop(): void
    {
        $this->writeFrame(0, [13], '{"stop":true}');
    }

    /** @return array{0:int,1:int,2:list<int>,3:string}|null */
    private function readFrame(): ?array
    {
        $header = $this->readExactly(12);
        if ($header === null) {
            return null;
        }
        $hl = \ord($header[0]) & 0x0f;
        $flags = \ord($header[1]);
        $len = \unpack('V', \substr($header, 2, 4))[1];
        $stream = \ord($header[10]);
        $options = [];
        if ($hl > 3) {
            $raw = $this->readExactly(($hl - 3) * 4);
            if ($raw === null) {
                return null;
            }
            $options = \array_values(\unpack('V*', $raw));
        }
        $payload = $len > 0 ? $this->readExactly($len) : '';
        if ($payload === null) {
            return null;
        }
        return [$flags, $stream, $options, $payload];
    }

    private function readExactly(int $n): ?string
    {
        $buf = '';
        while (\strlen($buf) < $n) {
            $chunk = \fread($this->in, $n - \strlen($buf));
            if ($chunk === false || $chunk === '') {
                return null;
            }
            $buf .= $chunk;
        }
        return $buf;
    }

    /** @param list<int> $options */
    private function writeFrame(int $flags, array $options, string $payload, int $stream = 0): void
    {
        $head = \chr(0x10 | (3 + \count($options))) . \chr($flags) . \pack('V', \strlen($payload));
        $head .= \pack('V', \crc32($head)) . \chr($stream) . "\0";
        foreach ($options as $o) {
            $head .= \pack('V', $o);
        }
        if (\fwrite($this->out, $head . $payload) === false) {
            throw new \RuntimeException('the relay to the server is closed');
        }
    }
}
