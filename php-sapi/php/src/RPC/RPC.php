<?php

declare(strict_types=1);

namespace RustRunner\Worker\RPC;

use Spiral\Goridge\RPC\CodecInterface;

use Spiral\Goridge\RPC\Codec\JsonCodec;
use Spiral\Goridge\RPC\Exception\RPCException;
use Spiral\Goridge\RPC\Exception\ServiceException;

/**
 * Goridge RPC over a socket (aliased as Spiral\Goridge\RPC\RPC), for
 * applications that did not install spiral/goridge:
 *
 *     $rpc = RPC::create(getenv('RR_RPC'));   // tcp://127.0.0.1:6001 or unix:///path
 *     $rpc->call('informer.Workers', 'http');
 *
 * Frames as spiral/goridge writes them: version 1, flags = codec, options
 * [seq, strlen(method)], payload method . encoded argument. The connection is
 * opened on the first call and shared by copies made with withServicePrefix()
 * and withCodec().
 */
class RPC implements \Spiral\Goridge\RPC\RPCInterface
{
    private const ERROR = 0x40;

    /** Per process (here: per worker life), as in spiral/goridge. */
    private static int $seq = 1;

    private ?string $service = null;

    /** @var \stdClass holds the shared socket resource in ->socket */
    private \stdClass $conn;

    private CodecInterface $codec;

    public function __construct(private string $connection, ?CodecInterface $codec = null)
    {
        $this->codec = $codec ?? new JsonCodec();
        $this->conn = new \stdClass();
        $this->conn->socket = null;
    }

    public static function create(string $connection, ?CodecInterface $codec = null): \Spiral\Goridge\RPC\RPCInterface
    {
        return new self($connection, $codec);
    }

    public function withServicePrefix(string $service): \Spiral\Goridge\RPC\RPCInterface
    {
        $rpc = clone $this;
        $rpc->service = $service;
        return $rpc;
    }

    public function withCodec(CodecInterface $codec): \Spiral\Goridge\RPC\RPCInterface
    {
        $rpc = clone $this;
        $rpc->codec = $codec;
        return $rpc;
    }

    public function call(string $method, mixed $payload, mixed $options = null): mixed
    {
        if ($this->service !== null) {
            $method = $this->service . '.' . \ucfirst($method);
        }
        $seq = self::$seq;
        $body = $this->codec->encode($payload);
        $this->send($this->frame($this->codec->getIndex(), [$seq, \strlen($method)], $method . $body));

        [$flags, $opts, $data] = $this->receive();
        self::$seq++;
        if (\count($opts) !== 2) {
            throw new RPCException('Invalid RPC frame, options missing');
        }
        if ($opts[0] !== $seq) {
            throw new RPCException('Invalid RPC frame, sequence mismatch');
        }
        $result = \substr($data, $opts[1]);
        if ($flags & self::ERROR) {
            throw new ServiceException(\sprintf("Error '%s' on %s", $result, $this->connection));
        }
        return $this->codec->decode($result, $options);
    }

    /** @param list<int> $options */
    private function frame(int $flags, array $options, string $payload): string
    {
        $head = \chr(0x10 | (3 + \count($options))) . \chr($flags) . \pack('V', \strlen($payload));
        $head .= \pack('V', \crc32($head)) . "\0\0";
        foreach ($options as $o) {
            $head .= \pack('V', $o);
        }
        return $head . $payload;
    }

    /** @return resource */
    private function socket()
    {
        if ($this->conn->socket === null) {
            $errno = 0;
            $errstr = '';
            $s = @\stream_socket_client($this->connection, $errno, $errstr, 5.0);
            if ($s === false) {
                throw new RPCException(\sprintf('Unable to connect to %s: %s', $this->connection, $errstr));
            }
            \stream_set_timeout($s, 120);
            $this->conn->socket = $s;
        }
        return $this->conn->socket;
    }

    private function send(string $bytes): void
    {
        $s = $this->socket();
        while ($bytes !== '') {
            $n = @\fwrite($s, $bytes);
            if ($n === false || $n === 0) {
                $this->conn->socket = null;
                throw new RPCException('Unable to write to ' . $this->connection);
            }
            $bytes = \substr($bytes, $n);
        }
    }

    private function read(int $n): string
    {
        $s = $this->socket();
        $out = '';
        while (\strlen($out) < $n) {
            $chunk = @\fread($s, $n - \strlen($out));
            if ($chunk === false || $chunk === '') {
                $this->conn->socket = null;
                throw new RPCException('Unable to read from ' . $this->connection . ' (connection closed)');
            }
            $out .= $chunk;
        }
        return $out;
    }

    /** @return array{int, list<int>, string} */
    private function receive(): array
    {
        $h = $this->read(12);
        $hl = \ord($h[0]) & 0x0f;
        if ($hl < 3) {
            throw new RPCException('Invalid RPC frame header');
        }
        $flags = \ord($h[1]);
        $len = \unpack('V', \substr($h, 2, 4))[1];
        $opts = [];
        if ($hl > 3) {
            $opts = \array_values(\unpack('V*', $this->read(($hl - 3) * 4)));
        }
        return [$flags, $opts, $len > 0 ? $this->read($len) : ''];
    }
}
