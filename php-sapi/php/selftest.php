<?php

/**
 * Self-test of the server's PHP worker API outside the server:
 *
 *     php -n -d include_path=.:/usr/share/php selftest.php
 *
 * It defines stand-ins for the rustrunner_* functions that behave as the
 * server does (php-sapi/rustrunner.c for the signatures, WorkerHost in
 * src/pool/worker.rs for what happens to a request), feeds requests and checks
 * what Worker, HttpWorker and PSR7Worker make of them and what a client would
 * get. It also plays the server on a goridge relay (socket and pipes) for the
 * relay transport (RUSTRUNNER_WORKER_TRANSPORT=relay), with child processes
 * run on PHP_BINARY.
 *
 * - The PSR-7 part needs nyholm/psr7 + psr/http-factory on the include path
 *   (Debian: php-nyholm-psr7) and is skipped without them.
 * - The stand-ins' signatures are compared with the real functions' when
 *   RUSTRUNNER_SELFTEST_NATIVE_SIGNATURES holds them. The real functions
 *   exist only in a worker thread of `rr serve` (not in `rr php-cli`): with
 *   `server.command: php selftest.php --native-signatures` every request is
 *   answered with them, one line per function.
 *
 * `cargo test --test phplib_selftest` runs it on the CLI of the PHP rr was
 * built with and on `rr php-cli`. Exit status 0 = all passed.
 */

declare(strict_types=1);

const NATIVE_FUNCTIONS = ['rustrunner_wait_request', 'rustrunner_respond', 'rustrunner_error', 'rustrunner_stop'];

/** A function's signature as one line: name(type $param = default, ...): type */
function signature(string $function): string
{
    $f = new \ReflectionFunction($function);
    $params = [];
    foreach ($f->getParameters() as $p) {
        $s = ($p->hasType() ? $p->getType() . ' ' : '') . ($p->isPassedByReference() ? '&' : '')
            . ($p->isVariadic() ? '...' : '') . '$' . $p->getName();
        if ($p->isDefaultValueAvailable()) {
            $s .= ' = ' . \var_export($p->getDefaultValue(), true);
        } elseif ($p->isOptional() && !$p->isVariadic()) {
            $s .= ' = ?';
        }
        $params[] = $s;
    }

    return $function . '(' . \implode(', ', $params) . ')' . ($f->hasReturnType() ? ': ' . $f->getReturnType() : '');
}

if (($argv[1] ?? '') === '--native-signatures') {
    foreach (NATIVE_FUNCTIONS as $function) {
        if (!\function_exists($function)) {
            \fwrite(\STDERR, "$function is not defined: run this as the worker of `rr serve`.\n");
            exit(2);
        }
    }
    $lines = \implode("\n", \array_map('signature', NATIVE_FUNCTIONS)) . "\n";
    while (\rustrunner_wait_request() !== null) {
        \rustrunner_respond(200, ['Content-Type' => ['text/plain']], $lines);
    }
    exit(0);
}

if (\function_exists('rustrunner_wait_request')) {
    \fwrite(\STDERR, "selftest.php fakes the server; run it with a php CLI, not as a worker of rr serve.\n");
    exit(2);
}

// The environment running the test must not pick the transport.
\putenv('RUSTRUNNER_WORKER_TRANSPORT');
unset($_ENV['RUSTRUNNER_WORKER_TRANSPORT'], $_SERVER['RUSTRUNNER_WORKER_TRANSPORT']);

final class T
{
    public static int $checks = 0;
    /** @var list<string> */
    public static array $failures = [];

    public static function ok(bool $condition, string $what): void
    {
        self::$checks++;
        if (!$condition) {
            self::$failures[] = $what;
        }
    }

    public static function same(mixed $expected, mixed $actual, string $what): void
    {
        self::$checks++;
        if ($expected !== $actual) {
            self::$failures[] = $what . "\n    expected: " . \var_export($expected, true)
                . "\n    actual:   " . \var_export($actual, true);
        }
    }

    /** @param class-string<\Throwable> $class */
    public static function throws(string $class, callable $fn, string $what): ?\Throwable
    {
        self::$checks++;
        try {
            $fn();
        } catch (\Throwable $e) {
            if ($e instanceof $class) {
                return $e;
            }
            self::$failures[] = "$what: expected $class, got " . $e::class . ': ' . $e->getMessage();
            return null;
        }
        self::$failures[] = "$what: expected $class, nothing was thrown";
        return null;
    }

    public static function skip(string $what, string $why): void
    {
        echo "SKIP $what: $why\n";
    }
}

/**
 * The server side of the native functions, as WorkerHost (src/pool/worker.rs)
 * implements it for a worker thread: wait_request, respond (on_response_part),
 * error and stop. It records what each request became, i.e. what its client
 * got, not only what PHP called. One worker life at a time: life() starts one.
 */
final class FakeServer
{
    /** rustrunner_wait_request()'s array: keys in the order rustrunner.c adds them, and their types. */
    private const REQUEST = [
        'remoteAddr' => 'string', 'protocol' => 'string', 'method' => 'string', 'uri' => 'string',
        'headers' => 'array', 'cookies' => 'array', 'rawQuery' => 'string', 'parsed' => 'bool',
        'uploads' => 'string', 'attributes' => 'string', 'body' => 'string',
    ];

    /** The keys of an answer, in the order answer() gives them. */
    private const ANSWER = ['failed', 'requeued', 'interim', 'status', 'headers', 'body', 'parts', 'end'];

    /** @var list<list<mixed>> every call of a rustrunner_* function with its arguments, in order */
    public static array $calls = [];
    /** @var list<string> what the server would log as a warning (misuse of the protocol) */
    public static array $warnings = [];
    /** The client of the next streamed response leaves after receiving this many parts (null: it stays). */
    public static ?int $clientLeavesAfter = null;

    /** @var list<array<string, mixed>> requests still to hand out */
    private static array $queue = [];
    /** @var list<array<string, mixed>> what each request handed out became, in order */
    private static array $answers = [];
    /** The request in flight: handed out, no response head yet (the host's job). */
    private static ?int $job = null;
    /** The streamed response in progress: head sent, more parts may follow. */
    private static ?int $stream = null;
    /** Whether the client of that stream still reads (the host's events channel). */
    private static bool $streamAlive = false;
    /** Parts that client received. */
    private static int $delivered = 0;
    /** stop(), or error() while idle: wait_request gives null from now on. */
    private static bool $leaving = false;

    /** A new worker life; the pool holds $requests, then has no more. */
    public static function life(array $requests): void
    {
        self::$queue = $requests;
        self::$calls = [];
        self::$warnings = [];
        self::$clientLeavesAfter = null;
        self::$answers = [];
        self::$job = null;
        self::$stream = null;
        self::$leaving = false;
    }

    /** A request as rustrunner_wait_request() gives it; $override must use its keys and types. */
    public static function request(array $override = []): array
    {
        $defaults = [
            'remoteAddr' => '127.0.0.1',
            'protocol' => 'HTTP/1.1',
            'method' => 'GET',
            'uri' => 'http://localhost:8080/hello?x=1&y[]=2',
            'headers' => ['Accept' => ['*/*'], 'User-Agent' => ['selftest/1.0']],
            'cookies' => ['sid' => 'abc def'],
            'rawQuery' => 'x=1&y[]=2',
            'parsed' => false,
            'uploads' => '',
            'attributes' => '',
            'body' => '',
        ];
        $unknown = \array_diff_key($override, self::REQUEST);
        if ($unknown !== []) {
            throw new \LogicException('not a key of a native request: ' . \implode(', ', \array_keys($unknown)));
        }
        $request = [];
        foreach (self::REQUEST as $key => $type) {
            $value = \array_key_exists($key, $override) ? $override[$key] : $defaults[$key];
            if (\get_debug_type($value) !== $type) {
                throw new \LogicException("a native request's $key is a $type, not " . \get_debug_type($value));
            }
            $request[$key] = $value;
        }
        foreach ($request['headers'] as $values) {
            if (!\is_array($values) || !\array_is_list($values) || \array_filter($values, 'is_string') !== $values) {
                throw new \LogicException('a native request has a list of strings per header name');
            }
        }
        if (\array_filter($request['cookies'], 'is_string') !== $request['cookies']) {
            throw new \LogicException('a native request has one string per cookie');
        }

        return $request;
    }

    /** How many requests the pool still holds (not handed out). */
    public static function pending(): int
    {
        return \count(self::$queue);
    }

    /**
     * What request $i became: a response (status, headers as the name/value
     * pairs the server reads, body; for a streamed one the parts the client
     * received and how it ended: complete, client left, cut), interim
     * responses, a failure (the client gets a 500) or a requeue (stop()).
     */
    public static function answer(int $i): ?array
    {
        if (!isset(self::$answers[$i])) {
            return null;
        }
        $out = [];
        foreach (self::ANSWER as $key) {
            if (\array_key_exists($key, self::$answers[$i])) {
                $out[$key] = self::$answers[$i][$key];
            }
        }

        return $out;
    }

    /** @return list<array<string, mixed>> */
    public static function answers(): array
    {
        return \array_map(self::answer(...), \array_keys(self::$answers));
    }

    /** Internal functions refuse extra arguments; user functions would take them silently. */
    public static function arity(string $function, int $given): void
    {
        $f = new \ReflectionFunction($function);
        $max = $f->getNumberOfParameters();
        if ($given > $max) {
            throw new \ArgumentCountError(\sprintf(
                '%s() expects %s %d argument%s, %d given',
                $function,
                $f->getNumberOfRequiredParameters() === $max ? 'exactly' : 'at most',
                $max,
                $max === 1 ? '' : 's',
                $given,
            ));
        }
    }

    public static function waitRequest(): ?array
    {
        self::$calls[] = ['wait_request'];
        if (self::$stream !== null) {
            // A streamed response the script never finished ends here.
            self::endStream();
        }
        if (self::$job !== null) {
            self::$warnings[] = 'worker asked for a new request without answering the current one';
            self::fail('the worker did not answer');
        }
        if (self::$leaving) {
            return null;
        }
        $request = \array_shift(self::$queue);
        if ($request === null) {
            self::$leaving = true;
            return null;
        }
        self::$answers[] = [];
        self::$job = \count(self::$answers) - 1;

        return $request;
    }

    public static function respond(int $status, array $headers, string $body, bool $more): bool
    {
        self::$calls[] = ['respond', $status, $headers, $body, $more];
        if (self::$stream !== null) {
            // A later part: its status and headers are ignored.
            return self::part($body, $more);
        }
        if (self::$job === null) {
            self::$warnings[] = 'respond() without a request in flight (ignored)';
            return false;
        }
        if ($status < 100 || $status > 599) {
            self::fail("unknown status code from worker: $status");
            return false;
        }
        $pairs = self::headerPairs($headers);
        $answer = &self::$answers[self::$job];
        if ($status < 200 && $more) {
            // An interim response (103 Early Hints), its body dropped; 101 is never sent.
            if ($status !== 101) {
                $answer['interim'][] = [$status, $pairs];
            }
            return true;
        }
        $answer['status'] = $status;
        $answer['headers'] = $pairs;
        if (!$more) {
            $answer['body'] = $body;
            self::$job = null;
            return true;
        }
        // The head and the first part of a streamed response.
        self::$stream = self::$job;
        self::$job = null;
        self::$streamAlive = self::$clientLeavesAfter !== 0;
        self::$delivered = self::$streamAlive ? 1 : 0;
        $answer['body'] = self::$streamAlive ? $body : '';
        $answer['parts'] = self::$streamAlive ? [$body] : [];
        $answer['end'] = 'open';

        return self::$streamAlive;
    }

    public static function error(string $message): void
    {
        self::$calls[] = ['error', $message];
        if (self::$stream !== null) {
            // The streamed response is cut; the worker stays.
            self::$answers[self::$stream]['end'] = 'cut';
            self::$stream = null;
            return;
        }
        if (self::$job !== null) {
            self::fail($message);
            return;
        }
        self::$warnings[] = "worker error while idle; restarting the worker: $message";
        self::$leaving = true;
    }

    public static function stop(): void
    {
        self::$calls[] = ['stop'];
        // The request goes back to the pool for another worker; a stream is cut.
        if (self::$stream !== null) {
            self::$answers[self::$stream]['end'] = 'cut';
            self::$stream = null;
        }
        if (self::$job !== null) {
            self::$answers[self::$job]['requeued'] = true;
            self::$job = null;
        }
        self::$leaving = true;
    }

    private static function part(string $body, bool $more): bool
    {
        $answer = &self::$answers[self::$stream];
        if (self::$streamAlive && $body !== '') {
            if (self::$clientLeavesAfter !== null && self::$delivered >= self::$clientLeavesAfter) {
                self::$streamAlive = false;
            } else {
                self::$delivered++;
                $answer['parts'][] = $body;
                $answer['body'] .= $body;
            }
        }
        $alive = self::$streamAlive;
        if (!$more) {
            self::endStream();
        }

        return $alive;
    }

    private static function endStream(): void
    {
        self::$answers[self::$stream]['end'] = self::$streamAlive ? 'complete' : 'client left';
        self::$stream = null;
    }

    private static function fail(string $reason): void
    {
        self::$answers[self::$job] = ['failed' => $reason];
        self::$job = null;
    }

    /**
     * The header list the server reads, as rustrunner.c builds it: a name per
     * key (integer keys too), a value per scalar (one scalar, or each scalar of
     * a list); other values are skipped.
     *
     * @return list<array{string, string}>
     */
    private static function headerPairs(array $headers): array
    {
        $pairs = [];
        foreach ($headers as $name => $values) {
            foreach (\is_array($values) ? $values : [$values] as $value) {
                if (\is_scalar($value)) {
                    $pairs[] = [(string) $name, (string) $value];
                }
            }
        }

        return $pairs;
    }
}

/**
 * The server's end of a goridge relay (frames as src/relay/frame.rs writes
 * and reads them), for the relay transport.
 */
final class Relay
{
    public const CONTROL = 0x01;
    public const CODEC_JSON = 0x08;
    public const ERROR = 0x40;
    public const STREAM = 0x01;
    public const STOP = 0x02;
    public const PING = 0x04;
    public const PONG = 0x08;

    /** @param list<int> $options */
    public static function frame(int $flags, string $payload, array $options = [], int $stream = 0): string
    {
        $head = \pack('CCV', 0x10 | (3 + \count($options)), $flags, \strlen($payload));

        return $head . \pack('V', \crc32($head)) . \pack('CC', $stream, 0)
            . ($options === [] ? '' : \pack('V*', ...$options)) . $payload;
    }

    /** What the server sends first: the pid request. */
    public static function pid(): string
    {
        return self::frame(self::CONTROL | self::CODEC_JSON, '{"pid":' . \getmypid() . '}');
    }

    /** A request frame: RoadRunner's JSON context, then the body. */
    public static function request(array $context, string $body = ''): string
    {
        $json = \json_encode($context, \JSON_THROW_ON_ERROR | \JSON_UNESCAPED_SLASHES);

        return self::frame(self::CODEC_JSON, $json . $body, [\strlen($json)]);
    }

    public static function stopWorker(): string
    {
        return self::frame(self::CONTROL | self::CODEC_JSON, '{"stop":true}');
    }

    public static function streamAnswer(int $stream): string
    {
        return self::frame(0, '', [], $stream);
    }

    /**
     * The frames in $bytes, each described as ['control', payload],
     * ['error', payload] or [stream byte, decoded JSON context, body].
     *
     * @return list<list<int|string>>
     * @throws \UnexpectedValueException on bytes that are not frames
     */
    public static function describe(string $bytes): array
    {
        $frames = [];
        while ($bytes !== '') {
            if (\strlen($bytes) < 12) {
                throw new \UnexpectedValueException('a truncated frame: ' . \var_export($bytes, true));
            }
            $h = \unpack('Cvhl/Cflags/Vlen/Vcrc/Cstream', $bytes);
            if ($h['crc'] !== \crc32(\substr($bytes, 0, 6)) || ($h['vhl'] >> 4) !== 1) {
                throw new \UnexpectedValueException('not a frame: ' . \var_export(\substr($bytes, 0, 60), true));
            }
            $words = ($h['vhl'] & 0x0f) - 3;
            $options = $words > 0 ? \array_values(\unpack("V$words", $bytes, 12)) : [];
            $payload = \substr($bytes, 12 + 4 * $words, $h['len']);
            if (\strlen($payload) !== $h['len']) {
                throw new \UnexpectedValueException('a truncated frame: ' . \var_export($bytes, true));
            }
            $bytes = (string) \substr($bytes, 12 + 4 * $words + $h['len']);
            if ($h['flags'] & self::CONTROL) {
                $frames[] = ['control', $payload];
            } elseif ($h['flags'] & self::ERROR) {
                $frames[] = ['error', $payload];
            } else {
                $split = $options[0] ?? 0;
                $context = \json_decode(\substr($payload, 0, $split), true);
                $frames[] = [$h['stream'], $context, (string) \substr($payload, $split)];
            }
        }

        return $frames;
    }

    /** Reads $n frames from $conn (blocking, bounded by its timeout); whatever came, as bytes. */
    public static function read($conn, int $n): string
    {
        $bytes = '';
        for ($i = 0; $i < $n; $i++) {
            $head = self::exactly($conn, 12);
            if ($head === null) {
                break;
            }
            $h = \unpack('Cvhl/Cflags/Vlen', $head);
            $rest = self::exactly($conn, 4 * (($h['vhl'] & 0x0f) - 3) + $h['len']);
            $bytes .= $head . ($rest ?? '');
            if ($rest === null) {
                break;
            }
        }

        return $bytes;
    }

    private static function exactly($conn, int $n): ?string
    {
        $buf = '';
        while (\strlen($buf) < $n) {
            $chunk = \fread($conn, $n - \strlen($buf));
            if ($chunk === false || $chunk === '') {
                return null;
            }
            $buf .= $chunk;
        }

        return $buf;
    }
}

require __DIR__ . '/bootstrap.php';

// ---------------------------------------------------------------------------
// Autoloading and names
// ---------------------------------------------------------------------------

$names = [
    'Spiral\RoadRunner\WorkerInterface' => 'RustRunner\Worker\WorkerInterface',
    'Spiral\RoadRunner\Worker' => 'RustRunner\Worker\Worker',
    'Spiral\RoadRunner\Payload' => 'RustRunner\Worker\Payload',
    'Spiral\RoadRunner\EnvironmentInterface' => 'RustRunner\Worker\EnvironmentInterface',
    'Spiral\RoadRunner\Environment' => 'RustRunner\Worker\Environment',
    'Spiral\RoadRunner\Environment\Mode' => 'RustRunner\Worker\Environment\Mode',
    'Spiral\RoadRunner\WorkerAwareInterface' => 'RustRunner\Worker\WorkerAwareInterface',
    'Spiral\RoadRunner\StreamWorkerInterface' => 'RustRunner\Worker\StreamWorkerInterface',
    'Spiral\RoadRunner\Http\HttpWorkerInterface' => 'RustRunner\Worker\Http\HttpWorkerInterface',
    'Spiral\RoadRunner\Http\HttpWorker' => 'RustRunner\Worker\Http\HttpWorker',
    'Spiral\RoadRunner\Http\Request' => 'RustRunner\Worker\Http\Request',
    'Spiral\RoadRunner\Http\PSR7WorkerInterface' => 'RustRunner\Worker\Http\PSR7WorkerInterface',
    'Spiral\RoadRunner\Http\PSR7Worker' => 'RustRunner\Worker\Http\PSR7Worker',
    'Spiral\RoadRunner\Http\GlobalState' => 'RustRunner\Worker\Http\GlobalState',
];
foreach ($names as $spiral => $ours) {
    T::ok(\class_exists($spiral) || \interface_exists($spiral), "$spiral autoloads");
    T::same($ours, (new \ReflectionClass($spiral))->getName(), "$spiral is an alias of $ours");
}
T::ok(!\class_exists('Spiral\RoadRunner\Nope'), 'unknown Spiral names are left alone');
T::ok(\is_subclass_of('Spiral\RoadRunner\Worker', 'Spiral\RoadRunner\WorkerInterface'), 'Worker implements WorkerInterface');
T::ok(\is_subclass_of('Spiral\RoadRunner\Http\HttpWorker', 'Spiral\RoadRunner\WorkerAwareInterface'), 'HttpWorker is WorkerAware');
T::ok(\is_subclass_of('Spiral\RoadRunner\Http\PSR7Worker', 'Spiral\RoadRunner\Http\PSR7WorkerInterface'), 'PSR7Worker implements its interface');
T::same('http', \Spiral\RoadRunner\Environment\Mode::MODE_HTTP, 'Mode::MODE_HTTP');
T::same('temporal', \Spiral\RoadRunner\Environment\Mode::MODE_TEMPORAL, 'Mode::MODE_TEMPORAL');
$loaders = \spl_autoload_functions();
T::ok(\end($loaders) instanceof \Closure, 'our autoloader is appended, not prepended');

// A loader registered with prepend=true (Composer's) wins over ours; an existing class is not replaced.
$probe = <<<'PHP'
spl_autoload_register(function ($c) {
    if ($c === 'Spiral\RoadRunner\Payload') { eval('namespace Spiral\RoadRunner; class Payload { public $mine = 1; }'); }
}, true, true);
require getenv('RR_SELFTEST_BOOT');
spl_autoload_register(function ($c) {
    if ($c === 'Spiral\RoadRunner\Environment') { eval('namespace Spiral\RoadRunner; class Environment { public $mine = 1; }'); }
}, true, true);
echo get_class(new Spiral\RoadRunner\Payload()), ' ', get_class(new Spiral\RoadRunner\Environment()), ' ',
    (new ReflectionClass('Spiral\RoadRunner\Http\Request'))->getName();
PHP;
$cmd = 'RR_SELFTEST_BOOT=' . \escapeshellarg(__DIR__ . '/bootstrap.php') . ' '
    . \escapeshellarg(\PHP_BINARY) . ' -n -r ' . \escapeshellarg($probe) . ' 2>&1';
T::same(
    'Spiral\RoadRunner\Payload Spiral\RoadRunner\Environment RustRunner\Worker\Http\Request',
    \trim((string) \shell_exec($cmd)),
    'prepended autoloaders win over ours',
);

// ---------------------------------------------------------------------------
// Outside rustrunner
// ---------------------------------------------------------------------------

$e = T::throws(\RuntimeException::class, static fn () => \Spiral\RoadRunner\Worker::create(), 'Worker::create() outside rustrunner');
T::ok($e !== null && \str_contains($e->getMessage(), 'only runs inside rustrunner'), 'the error says why');

// From here on the server is faked: the same signatures as rustrunner.c's
// functions (checked below), the server's behaviour in FakeServer.
if (!\function_exists('rustrunner_wait_request')) {
    function rustrunner_wait_request(): ?array
    {
        FakeServer::arity(__FUNCTION__, \func_num_args());
        return FakeServer::waitRequest();
    }

    function rustrunner_respond(int $status, array $headers, string $body, bool $more = false): bool
    {
        FakeServer::arity(__FUNCTION__, \func_num_args());
        return FakeServer::respond($status, $headers, $body, $more);
    }

    function rustrunner_error(string $message): void
    {
        FakeServer::arity(__FUNCTION__, \func_num_args());
        FakeServer::error($message);
    }

    function rustrunner_stop(): void
    {
        FakeServer::arity(__FUNCTION__, \func_num_args());
        FakeServer::stop();
    }
}

$stubs = \implode("\n", \array_map('signature', NATIVE_FUNCTIONS));
$native = \getenv('RUSTRUNNER_SELFTEST_NATIVE_SIGNATURES');
if ($native === false || $native === '') {
    T::skip('stand-in signatures', 'RUSTRUNNER_SELFTEST_NATIVE_SIGNATURES is not set (a worker of rr serve running `selftest.php --native-signatures` answers with it)');
} else {
    T::same(\trim($native), $stubs, 'the stand-ins have the signatures of the native functions');
}
FakeServer::life([]);
T::throws(\ArgumentCountError::class, static fn () => \rustrunner_respond(200, [], '', true, 'extra'), 'an extra argument is refused, as by an internal function');
T::throws(\ArgumentCountError::class, static fn () => \rustrunner_stop(1), 'rustrunner_stop() takes no argument');

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

$_ENV['RR_MODE'] = 'jobs';
$_SERVER['RR_MODE'] = 'http';
$_ENV['RR_RPC'] = 'tcp://127.0.0.1:7001';
unset($_SERVER['RR_RELAY'], $_ENV['RR_RELAY'], $_SERVER['RR_RPC']);
$env = \Spiral\RoadRunner\Environment::fromGlobals();
T::ok($env instanceof \Spiral\RoadRunner\EnvironmentInterface, 'Environment implements EnvironmentInterface');
T::same('http', $env->getMode(), 'getMode(): $_SERVER wins over $_ENV');
T::same('pipes', $env->getRelayAddress(), 'getRelayAddress() default');
T::same('tcp://127.0.0.1:7001', $env->getRPCAddress(), 'getRPCAddress() from $_ENV');
T::same('tcp://127.0.0.1:6001', (new \Spiral\RoadRunner\Environment())->getRPCAddress(), 'getRPCAddress() default');
T::same('', (new \Spiral\RoadRunner\Environment())->getMode(), 'getMode() default');

// ---------------------------------------------------------------------------
// Worker (JSON payloads)
// ---------------------------------------------------------------------------

$worker = \Spiral\RoadRunner\Worker::create();
T::ok($worker instanceof \Spiral\RoadRunner\WorkerInterface, 'Worker::create() gives a WorkerInterface');
T::ok(\Spiral\RoadRunner\Worker::createFromEnvironment($env) instanceof \Spiral\RoadRunner\Worker, 'createFromEnvironment()');
T::same(false, $worker->hasPayload(), 'hasPayload()');
T::same(null, $worker->getPayload(), 'getPayload()');
$logger = \interface_exists('Psr\Log\LoggerInterface') ? $worker->getLogger() : null;
T::ok($logger === null || $logger instanceof \Psr\Log\LoggerInterface, 'getLogger() with psr/log');

FakeServer::life([
    FakeServer::request([
        'method' => 'POST',
        'headers' => ['Content-Type' => ['multipart/form-data; boundary=x']],
        'cookies' => [],
        'uploads' => '{"file":{"name":"a.txt","mime":"text/plain","size":3,"error":0,"tmpName":"/tmp/upload1"}}',
        'parsed' => true,
        'body' => '{"a":"1"}',
    ]),
    FakeServer::request(),
    FakeServer::request(),
    FakeServer::request(),
    FakeServer::request(),
    FakeServer::request(),
]);
$payload = $worker->waitPayload();
T::ok($payload instanceof \Spiral\RoadRunner\Payload, 'waitPayload() gives a Payload');
T::same('{"a":"1"}', $payload->body, 'Payload body');
T::same(
    '{"remoteAddr":"127.0.0.1","protocol":"HTTP/1.1","method":"POST","uri":"http://localhost:8080/hello?x=1&y[]=2",'
    . '"headers":{"Content-Type":["multipart/form-data; boundary=x"]},"cookies":{},"rawQuery":"x=1&y[]=2","parsed":true,'
    . '"uploads":{"file":{"name":"a.txt","mime":"text/plain","size":3,"error":0,"tmpName":"/tmp/upload1"}},"attributes":{}}',
    $payload->header,
    'Payload header is the RoadRunner JSON context',
);
T::same(true, $payload->eos, 'Payload eos');
$worker->respond(new \Spiral\RoadRunner\Payload('made', '{"status":201,"headers":{"X-A":["1","2"],"X-B":"3"}}'), 8);

$worker->waitPayload();
$worker->respond(new \Spiral\RoadRunner\Payload('raw'));
$worker->waitPayload();
$worker->respond(new \Spiral\RoadRunner\Payload('', 'not json'));
$worker->waitPayload();
$worker->respond(new \Spiral\RoadRunner\Payload('p1', '{"status":206,"headers":{"X-P":["1"]}}', false));
$worker->respond(new \Spiral\RoadRunner\Payload('p2', '{"status":200,"headers":{}}', true));
$worker->waitPayload();
$worker->respond(new \Spiral\RoadRunner\Payload('', '{"stop":true}'));
T::same(null, $worker->waitPayload(), 'waitPayload() gives null once the worker stopped');

T::same(['status' => 201, 'headers' => [['X-A', '1'], ['X-A', '2'], ['X-B', '3']], 'body' => 'made'], FakeServer::answer(0), 'respond(Payload) with a context');
T::same(['status' => 200, 'headers' => [], 'body' => 'raw'], FakeServer::answer(1), 'respond(Payload) without a context');
T::same(['failed' => 'invalid response context: Syntax error'], FakeServer::answer(2), 'a bad context fails the request');
T::same(
    ['status' => 206, 'headers' => [['X-P', '1']], 'body' => 'p1p2', 'parts' => ['p1', 'p2'], 'end' => 'complete'],
    FakeServer::answer(3),
    'eos=false parts stream one response; the first part\'s status and headers win',
);
T::same(['requeued' => true], FakeServer::answer(4), 'the {"stop":true} payload stops the worker; its request goes to another');
T::same(1, FakeServer::pending(), 'a stopped worker takes no more requests');
T::same(['respond', 206, ['X-P' => ['1']], 'p1', true], FakeServer::$calls[7] ?? null, 'a part is sent at once, with more=true');
T::same([], FakeServer::$warnings, 'the server saw the protocol kept');

FakeServer::life([FakeServer::request(), FakeServer::request(), FakeServer::request()]);
$worker->waitPayload();
$worker->error('boom');
$worker->waitPayload();
$worker->respond(new \Spiral\RoadRunner\Payload('half', '{"status":200,"headers":{}}', false));
$worker->error('late');
$worker->waitPayload();
$worker->stop();
T::same(null, $worker->waitPayload(), 'waitPayload() gives null after stop()');
T::same(
    [
        ['failed' => 'boom'],
        ['status' => 200, 'headers' => [], 'body' => 'half', 'parts' => ['half'], 'end' => 'cut'],
        ['requeued' => true],
    ],
    FakeServer::answers(),
    'error() fails the request or cuts its stream; stop() hands the request back',
);
T::same(
    [['wait_request'], ['error', 'boom'], ['wait_request'], ['respond', 200, [], 'half', true], ['error', 'late'], ['wait_request'], ['stop'], ['wait_request']],
    FakeServer::$calls,
    'error() and stop() calls',
);

$p = new \Spiral\RoadRunner\Payload(null);
T::same(['', '', true], [$p->body, $p->header, $p->eos], 'Payload defaults');

// ---------------------------------------------------------------------------
// HttpWorker (native values)
// ---------------------------------------------------------------------------

$http = new \Spiral\RoadRunner\Http\HttpWorker($worker);
T::ok($http->getWorker() === $worker, 'HttpWorker::getWorker()');
T::ok($http instanceof \Spiral\RoadRunner\Http\HttpWorkerInterface, 'HttpWorker implements HttpWorkerInterface');

FakeServer::life([
    FakeServer::request(['attributes' => '{"ipAddress":"10.0.0.9","foo":"bar"}']),
    FakeServer::request(),
    FakeServer::request(),
    FakeServer::request(),
    FakeServer::request(),
    FakeServer::request([
        'remoteAddr' => '::1',
        'protocol' => 'HTTP/2.0',
        'method' => 'POST',
        'uri' => 'https://example.com/form',
        'headers' => ['Content-Type' => ['application/x-www-form-urlencoded'], 'X-Multi' => ['a', 'b'], '' => ['bad']],
        'cookies' => [],
        'rawQuery' => '',
        'parsed' => true,
        'uploads' => '{"doc":{"name":"d.pdf","mime":"application/pdf","size":10,"error":0,"tmpName":"/tmp/upload2"}}',
        'body' => '{"name":"Ann","tags":["a","b"]}',
    ]),
]);

$r = $http->waitRequest();
T::ok($r instanceof \Spiral\RoadRunner\Http\Request, 'waitRequest() gives a Request');
T::same('127.0.0.1', $r->remoteAddr, 'Request::remoteAddr');
T::same('10.0.0.9', $r->getRemoteAddr(), 'getRemoteAddr() prefers the ipAddress attribute');
T::same('HTTP/1.1', $r->protocol, 'Request::protocol');
T::same('GET', $r->method, 'Request::method');
T::same('http://localhost:8080/hello?x=1&y[]=2', $r->uri, 'Request::uri');
T::same(['Accept' => ['*/*'], 'User-Agent' => ['selftest/1.0']], $r->headers, 'Request::headers');
T::same(['sid' => 'abc def'], $r->cookies, 'Request::cookies');
T::same(['x' => '1', 'y' => ['2']], $r->query, 'Request::query');
T::same(['rr_parsed_body' => false, 'ipAddress' => '10.0.0.9', 'foo' => 'bar'], $r->attributes, 'Request::attributes');
T::same([], $r->uploads, 'Request::uploads');
T::same('', $r->body, 'Request::body');
T::same(false, $r->parsed, 'Request::parsed');
T::same(null, $r->getParsedBody(), 'getParsedBody() of a raw body');
$http->respond(200, 'hello', ['Content-Type' => ['text/plain']]);

$http->waitRequest();
$gen = (static function (): \Generator {
    yield 'a';
    yield 'b';
    return 'c';
})();
$http->respond(200, $gen, ['X-Gen' => ['1']]);

$http->waitRequest();
$http->respond(103, '', ['Link' => ['</a.css>; rel=preload']], false);
$http->respond(202, 'part1', ['X-Part' => ['1']], false);
$http->respond(500, 'part2');

$http->waitRequest();
$broken = (static function (): \Generator {
    yield 'first';
    throw new \LogicException('generator failed');
})();
$http->respond(200, $broken);
T::throws(\InvalidArgumentException::class, static fn () => $http->respond(103, 'body'), '1xx with a body');

$http->waitRequest();
$http->respond(204);

$r2 = $http->waitRequest();
T::same('::1', $r2->getRemoteAddr(), 'IPv6 remote address');
T::same('HTTP/2.0', $r2->protocol, 'second request protocol');
T::same(['Content-Type' => ['application/x-www-form-urlencoded'], 'X-Multi' => ['a', 'b']], $r2->headers, 'empty header names are dropped');
T::same([], $r2->query, 'empty query');
T::same(['rr_parsed_body' => true], $r2->attributes, 'attributes without server attributes');
T::same(['name' => 'Ann', 'tags' => ['a', 'b']], $r2->getParsedBody(), 'getParsedBody()');
T::same(
    ['doc' => ['name' => 'd.pdf', 'mime' => 'application/pdf', 'size' => 10, 'error' => 0, 'tmpName' => '/tmp/upload2']],
    $r2->uploads,
    'Request::uploads tree',
);
$http->respond(200, 'form', ['X-N' => [1, 2.5, true], 7 => 'int name', 'X-Skip' => [null, ['nested']]]);
T::same(null, $http->waitRequest(), 'waitRequest() gives null at the end');

T::same(['status' => 200, 'headers' => [['Content-Type', 'text/plain']], 'body' => 'hello'], FakeServer::answer(0), 'respond(string)');
T::same(
    ['status' => 200, 'headers' => [['X-Gen', '1']], 'body' => 'abc', 'parts' => ['a', 'b', 'c'], 'end' => 'complete'],
    FakeServer::answer(1),
    'respond(Generator) streams each value, then the return value',
);
T::same(
    [
        'interim' => [[103, [['Link', '</a.css>; rel=preload']]]],
        'status' => 202,
        'headers' => [['X-Part', '1']],
        'body' => 'part1part2',
        'parts' => ['part1', 'part2'],
        'end' => 'complete',
    ],
    FakeServer::answer(2),
    '103 goes as an interim response; endOfStream=false parts stream one response',
);
T::same(
    ['status' => 200, 'headers' => [], 'body' => 'first', 'parts' => ['first'], 'end' => 'complete'],
    FakeServer::answer(3),
    'a failing generator ends the response with what it produced',
);
T::same(['status' => 204, 'headers' => [], 'body' => ''], FakeServer::answer(4), 'respond(204)');
T::same(
    ['status' => 200, 'headers' => [['X-N', '1'], ['X-N', '2.5'], ['X-N', '1'], ['7', 'int name']], 'body' => 'form'],
    FakeServer::answer(5),
    'header values are sent as the server reads them',
);
T::same(6, \count(FakeServer::answers()), 'no other answers');
T::same([], FakeServer::$warnings, 'HttpWorker keeps the protocol');

// The client leaves during a streamed response.
FakeServer::life([FakeServer::request(), FakeServer::request()]);
FakeServer::$clientLeavesAfter = 1;
$stopped = [];
$leaving = (static function () use (&$stopped): \Generator {
    try {
        yield 'one';
        yield 'two';
        yield 'three';
    } catch (\Spiral\RoadRunner\Http\Exception\StreamStoppedException $e) {
        $stopped[] = $e->getMessage();
    }
})();
$http->waitRequest();
$http->respond(200, $leaving);
$http->waitRequest();
$http->respond(200, 'next');
T::same(['the client went away'], $stopped, 'the generator gets a StreamStoppedException when the client leaves');
T::same(
    [
        ['status' => 200, 'headers' => [], 'body' => 'one', 'parts' => ['one'], 'end' => 'client left'],
        ['status' => 200, 'headers' => [], 'body' => 'next'],
    ],
    FakeServer::answers(),
    'the response ends when its client left; the next request is served',
);

// An unfinished response is ended by the server before the next request.
FakeServer::life([FakeServer::request(), FakeServer::request()]);
$http->waitRequest();
$http->respond(200, 'unfinished', [], false);
$http->waitRequest();
T::same(
    ['status' => 200, 'headers' => [], 'body' => 'unfinished', 'parts' => ['unfinished'], 'end' => 'complete'],
    FakeServer::answer(0),
    'an unfinished response is ended by waitRequest()',
);
T::same([], FakeServer::$warnings, 'leaving a response unfinished is allowed');

// ---------------------------------------------------------------------------
// HttpWorker over another WorkerInterface (RoadRunner JSON payloads)
// ---------------------------------------------------------------------------

final class FakeRelayWorker implements \Spiral\RoadRunner\WorkerInterface
{
    /** @var list<\Spiral\RoadRunner\Payload> */
    public array $in = [];
    /** @var list<\Spiral\RoadRunner\Payload> */
    public array $out = [];

    public function waitPayload(): ?\Spiral\RoadRunner\Payload
    {
        return \array_shift($this->in);
    }

    public function respond(\Spiral\RoadRunner\Payload $payload): void
    {
        $this->out[] = $payload;
    }

    public function error(string $error): void
    {
    }

    public function stop(): void
    {
    }

    public function hasPayload(?string $class = null): bool
    {
        return false;
    }

    public function getPayload(?string $class = null): ?\Spiral\RoadRunner\Payload
    {
        return null;
    }
}

$relay = new FakeRelayWorker();
$relay->in[] = new \Spiral\RoadRunner\Payload(
    'body',
    '{"remoteAddr":"1.2.3.4","protocol":"HTTP/1.0","method":"PUT","uri":"http://h/p?q=1","headers":{"X-Y":["z"]},'
    . '"cookies":null,"rawQuery":"q=1","parsed":false,"uploads":null,"attributes":{}}',
);
$relay->in[] = new \Spiral\RoadRunner\Payload('', '');
$viaJson = new \Spiral\RoadRunner\Http\HttpWorker($relay);
$r = $viaJson->waitRequest();
T::same(['1.2.3.4', 'PUT', ['X-Y' => ['z']], [], ['q' => '1'], 'body'], [$r->remoteAddr, $r->method, $r->headers, $r->cookies, $r->query, $r->body], 'JSON context request');
$viaJson->respond(200, 'ok');
$viaJson->respond(201, 'yes', ['A' => ['b']]);
T::same('{"status":200,"headers":{}}', $relay->out[0]->header ?? null, 'JSON response context without headers');
T::same('{"status":201,"headers":{"A":["b"]}}', $relay->out[1]->header ?? null, 'JSON response context');
T::same('yes', $relay->out[1]->body ?? null, 'JSON response body');
T::same(null, $viaJson->waitRequest(), 'an empty payload ends the loop');

// ---------------------------------------------------------------------------
// GlobalState
// ---------------------------------------------------------------------------

$server = \Spiral\RoadRunner\Http\GlobalState::enrichServerVars(new \Spiral\RoadRunner\Http\Request(
    uri: 'https://roadrunner.dev:8080/x',
    headers: ['Content-Type' => ['a/b'], 'X-Forwarded-For' => ['1.1.1.1', '2.2.2.2']],
));
T::same('roadrunner.dev:8080', $server['HTTP_HOST'] ?? null, 'GlobalState HTTP_HOST');
T::same('a/b', $server['CONTENT_TYPE'] ?? null, 'GlobalState CONTENT_TYPE');
T::same('1.1.1.1, 2.2.2.2', $server['HTTP_X_FORWARDED_FOR'] ?? null, 'GlobalState HTTP_*');
T::same('https://roadrunner.dev:8080/x', $server['REQUEST_URI'] ?? null, 'GlobalState REQUEST_URI');

// ---------------------------------------------------------------------------
// Relay transport (RUSTRUNNER_WORKER_TRANSPORT=relay): goridge frames
// ---------------------------------------------------------------------------

// In this process the rustrunner_* functions exist (the stand-ins), as in
// `rr php-cli`, yet this is no worker thread: a socket relay must be used.
$listener = \stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
$address = 'tcp://' . \stream_socket_get_name($listener, false);
\putenv('RUSTRUNNER_WORKER_TRANSPORT=relay');
\putenv("RR_RELAY=$address");
$relayWorker = \Spiral\RoadRunner\Worker::create(false);
$conn = @\stream_socket_accept($listener, 5.0);
T::ok($conn !== false, 'the relay transport connects to RR_RELAY where rustrunner_* functions exist but STDIN is no server relay');
if ($conn !== false) {
    \stream_set_timeout($conn, 10);
    $context = [
        'remoteAddr' => '10.1.1.1', 'protocol' => 'HTTP/1.1', 'method' => 'PUT', 'uri' => 'http://h/r?q=1',
        'headers' => ['X-Y' => ['z']], 'cookies' => ['c' => 'v'], 'rawQuery' => 'q=1', 'parsed' => false,
        'uploads' => null, 'attributes' => ['k' => 'v'],
    ];
    // Everything the server will say, in order: the worker reads one frame
    // after each streamed part (PONG, or STOP when the client left).
    \fwrite($conn, Relay::pid() . Relay::request($context, 'put body')
        . Relay::streamAnswer(Relay::PONG) . Relay::streamAnswer(Relay::PONG) . Relay::streamAnswer(Relay::PONG)
        . Relay::request($context) . Relay::streamAnswer(Relay::STOP)
        . Relay::request($context) . Relay::stopWorker());

    $relayHttp = new \Spiral\RoadRunner\Http\HttpWorker($relayWorker);
    $r = $relayHttp->waitRequest();
    T::same(
        ['10.1.1.1', 'PUT', 'http://h/r?q=1', ['X-Y' => ['z']], ['c' => 'v'], ['q' => '1'], ['rr_parsed_body' => false, 'k' => 'v'], 'put body'],
        [$r?->remoteAddr, $r?->method, $r?->uri, $r?->headers, $r?->cookies, $r?->query, $r?->attributes, $r?->body],
        'relay: the request frame',
    );
    $relayHttp->respond(103, '', ['Link' => ['</s.css>']], false);
    $relayHttp->respond(200, (static function (): \Generator {
        yield 'x';
        yield 'y';
        return 'z';
    })(), ['X' => ['1']]);

    $relayHttp->waitRequest();
    $stopped = [];
    $relayHttp->respond(200, (static function () use (&$stopped): \Generator {
        try {
            yield 'p';
            yield 'q';
        } catch (\Spiral\RoadRunner\Http\Exception\StreamStoppedException) {
            $stopped[] = 'stopped';
        }
    })());
    T::same(['stopped'], $stopped, 'relay: a STOP answer throws StreamStoppedException into the generator');

    $relayHttp->waitRequest();
    $relayWorker->error('relay error');
    T::same(null, $relayHttp->waitRequest(), 'relay: the stop control frame ends the loop');
    $relayWorker->stop();

    $ping = Relay::STREAM | Relay::PING;
    try {
        $frames = Relay::describe(Relay::read($conn, 9));
    } catch (\UnexpectedValueException $e) {
        $frames = $e->getMessage();
    }
    T::same(
        [
            ['control', '{"pid":' . \getmypid() . '}'],
            [$ping, ['status' => 103, 'headers' => ['Link' => ['</s.css>']]], ''],
            [$ping, ['status' => 200, 'headers' => ['X' => ['1']]], 'x'],
            [$ping, ['status' => 200, 'headers' => ['X' => ['1']]], 'y'],
            [0, ['status' => 200, 'headers' => ['X' => ['1']]], 'z'],
            [$ping, ['status' => 200, 'headers' => []], 'p'],
            [0, ['status' => 200, 'headers' => []], ''],
            ['error', 'relay error'],
            [0, ['stop' => true], ''],
        ],
        $frames,
        'relay: the frames the worker wrote',
    );
}

// Process workers on PHP_BINARY, over pipes and over TCP: echo must not reach
// the relay. When PHP_BINARY is rr itself (a php hard link), the children
// have the real rustrunner_* functions, as process workers do in the image.
$child = <<<'PHP'
require getenv('RR_SELFTEST_BOOT');
$worker = Spiral\RoadRunner\Worker::create();
echo "echo from the worker\n";
$http = new Spiral\RoadRunner\Http\HttpWorker($worker);
while ($r = $http->waitRequest()) {
    print "print from the worker\n";
    $http->respond(200, $r->method . ' ' . $r->uri . (function_exists('rustrunner_wait_request') ? ' (rr)' : ''));
}
PHP;
$childRequest = Relay::request(['method' => 'GET', 'uri' => 'http://h/child', 'protocol' => 'HTTP/1.1', 'headers' => []]);
/**
 * Runs $child as a process worker on RR_RELAY=$relay. $serve plays the server
 * (it gets the child's STDIN and STDOUT, must close STDIN) and returns what
 * the worker wrote on the relay.
 *
 * @return array{frames: string, stdout: string, stderr: string, status: int, pid: int}
 */
$runChild = static function (string $relay, \Closure $serve) use ($child): array {
    $env = \getenv();
    $env['RUSTRUNNER_WORKER_TRANSPORT'] = 'relay';
    $env['RR_RELAY'] = $relay;
    $env['RR_SELFTEST_BOOT'] = __DIR__ . '/bootstrap.php';
    $proc = \proc_open([\PHP_BINARY, '-n', '-r', $child], [['pipe', 'r'], ['pipe', 'w'], ['pipe', 'w']], $pipes, null, $env);
    $pid = \proc_get_status($proc)['pid'];
    $frames = $serve($pipes[0], $pipes[1]);
    $stdout = (string) \stream_get_contents($pipes[1]);
    $stderr = (string) \stream_get_contents($pipes[2]);
    \fclose($pipes[1]);
    \fclose($pipes[2]);

    return ['frames' => $frames, 'stdout' => $stdout, 'stderr' => $stderr, 'status' => \proc_close($proc), 'pid' => $pid];
};
$describe = static function (string $bytes): array|string {
    try {
        return Relay::describe($bytes);
    } catch (\UnexpectedValueException $e) {
        return $e->getMessage();
    }
};

$rrChild = \shell_exec(\escapeshellarg(\PHP_BINARY) . " -n -r 'echo function_exists(\"rustrunner_wait_request\") ? 1 : 0;'") === '1';
echo 'NOTE relay children run on ', \PHP_BINARY, $rrChild ? ', which has' : ', which lacks', " the rustrunner_* functions\n";
$run = $runChild('pipes', static function ($in, $out) use ($childRequest): string {
    // The child's STDIN and STDOUT are the relay.
    \fwrite($in, Relay::pid() . $childRequest . Relay::stopWorker());
    \fclose($in);
    return (string) \stream_get_contents($out);
});
$frames = $describe($run['frames']);
$expected = [
    ['control', '{"pid":' . $run['pid'] . '}'],
    [0, ['status' => 200, 'headers' => []], 'GET http://h/child' . ($rrChild ? ' (rr)' : '')],
];
T::same($expected, $frames, 'relay over pipes: only frames on STDOUT');
T::same('', $run['stdout'], 'relay over pipes: nothing after the frames');
T::same("echo from the worker\nprint from the worker\n", $run['stderr'], 'relay over pipes: echo and print go to STDERR');
T::same(0, $run['status'], 'relay over pipes: the worker exits 0 after the stop frame');

$listener = \stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
$address = 'tcp://' . \stream_socket_get_name($listener, false);
$run = $runChild($address, static function ($in) use ($listener, $childRequest): string {
    \fclose($in);
    $conn = @\stream_socket_accept($listener, 10.0);
    if ($conn === false) {
        return 'the worker did not connect';
    }
    \stream_set_timeout($conn, 10);
    \fwrite($conn, Relay::pid() . $childRequest . Relay::stopWorker());
    return (string) \stream_get_contents($conn);
});
$expected[0] = ['control', '{"pid":' . $run['pid'] . '}'];
T::same($expected, $describe($run['frames']), 'relay over TCP: the worker connects to RR_RELAY');
T::same('', $run['stdout'], 'relay over TCP: nothing on STDOUT');
T::same("echo from the worker\nprint from the worker\n", $run['stderr'], 'relay over TCP: echo and print go to STDERR');
T::same(0, $run['status'], 'relay over TCP: the worker exits 0 after the stop frame');
\putenv('RUSTRUNNER_WORKER_TRANSPORT');
\putenv('RR_RELAY');

// ---------------------------------------------------------------------------
// PSR7Worker
// ---------------------------------------------------------------------------

$psr7 = \stream_resolve_include_path('Nyholm/Psr7/autoload.php');
if ($psr7 === false) {
    T::skip('PSR7Worker', 'Nyholm/Psr7/autoload.php is not on the include path (Debian: php-nyholm-psr7)');
} else {
    require_once $psr7;
    $factory = new \Nyholm\Psr7\Factory\Psr17Factory();

    $tmp = \tempnam(\sys_get_temp_dir(), 'upload');
    \file_put_contents($tmp, 'file-bytes');

    $_SERVER['SELFTEST_BEFORE'] = 'yes';
    $psr = new \Spiral\RoadRunner\Http\PSR7Worker($worker, $factory, $factory, $factory);
    $_SERVER['SELFTEST_AFTER'] = 'yes';
    T::ok($psr->getWorker() === $worker, 'PSR7Worker::getWorker()');
    T::ok($psr->getHttpWorker() instanceof \Spiral\RoadRunner\Http\HttpWorker, 'PSR7Worker::getHttpWorker()');
    $psr->chunkSize = 4;

    FakeServer::life([
        FakeServer::request([
            'protocol' => 'HTTP/2.0',
            'headers' => [
                'Accept' => ['text/html', 'application/json'],
                'Content-Type' => ['text/plain'],
                'Content-Length' => ['0'],
                'X-Forwarded-For' => ['9.9.9.9'],
            ],
            'attributes' => '{"route":"home"}',
        ]),
        FakeServer::request([
            'protocol' => 'HTTP/3.0',
            'method' => 'POST',
            'uri' => 'http://localhost:8080/upload',
            'headers' => ['Content-Type' => ['multipart/form-data; boundary=x'], 'User-Agent' => ['curl/8']],
            'cookies' => [],
            'rawQuery' => '',
            'parsed' => true,
            'uploads' => \json_encode([
                'avatar' => ['name' => 'me.png', 'mime' => 'image/png', 'size' => 10, 'error' => 0, 'tmpName' => $tmp],
                'docs' => [
                    ['name' => 'a.pdf', 'mime' => 'application/pdf', 'size' => 0, 'error' => 4, 'tmpName' => ''],
                ],
            ], \JSON_THROW_ON_ERROR),
            'body' => '{"title":"hi","tags":{"0":"x"}}',
        ]),
    ]);

    $req = $psr->waitRequest();
    T::ok($req instanceof \Psr\Http\Message\ServerRequestInterface, 'PSR7Worker::waitRequest() gives a ServerRequestInterface');
    T::same('GET', $req->getMethod(), 'PSR-7 method');
    T::same((string) $factory->createUri('http://localhost:8080/hello?x=1&y[]=2'), (string) $req->getUri(), 'PSR-7 uri');
    T::same('2', $req->getProtocolVersion(), 'HTTP/2.0 => 2');
    T::same(['sid' => 'abc def'], $req->getCookieParams(), 'PSR-7 cookies');
    T::same(['x' => '1', 'y' => ['2']], $req->getQueryParams(), 'PSR-7 query');
    T::same('home', $req->getAttribute('route'), 'PSR-7 attribute');
    T::same(false, $req->getAttribute('rr_parsed_body'), 'PSR-7 rr_parsed_body attribute');
    T::same('text/html, application/json', $req->getHeaderLine('accept'), 'PSR-7 headers');
    T::same(['text/html', 'application/json'], $req->getHeader('Accept'), 'PSR-7 header values');
    T::same(null, $req->getParsedBody(), 'PSR-7 parsed body of a raw request');
    T::same('', (string) $req->getBody(), 'PSR-7 empty body');
    T::same([], $req->getUploadedFiles(), 'PSR-7 no uploads');
    $sp = $req->getServerParams();
    T::same('http://localhost:8080/hello?x=1&y[]=2', $sp['REQUEST_URI'] ?? null, 'REQUEST_URI is the absolute uri');
    T::same('127.0.0.1', $sp['REMOTE_ADDR'] ?? null, 'REMOTE_ADDR');
    T::same('GET', $sp['REQUEST_METHOD'] ?? null, 'REQUEST_METHOD');
    T::same('', $sp['HTTP_USER_AGENT'] ?? null, 'HTTP_USER_AGENT defaults to empty');
    T::same('text/html, application/json', $sp['HTTP_ACCEPT'] ?? null, 'HTTP_ACCEPT joined with ", "');
    T::same('text/plain', $sp['CONTENT_TYPE'] ?? null, 'CONTENT_TYPE without prefix');
    T::same('0', $sp['CONTENT_LENGTH'] ?? null, 'CONTENT_LENGTH without prefix');
    T::same('9.9.9.9', $sp['HTTP_X_FORWARDED_FOR'] ?? null, 'HTTP_X_FORWARDED_FOR');
    T::ok(!isset($sp['HTTP_CONTENT_TYPE']), 'no HTTP_CONTENT_TYPE');
    T::ok(\is_int($sp['REQUEST_TIME'] ?? null) && \is_float($sp['REQUEST_TIME_FLOAT'] ?? null), 'REQUEST_TIME(_FLOAT)');
    T::same('yes', $sp['SELFTEST_BEFORE'] ?? null, '$_SERVER snapshot taken at construction');
    T::ok(!isset($sp['SELFTEST_AFTER']), 'later $_SERVER changes are not seen');
    T::same($sp, $_SERVER, '$_SERVER is replaced for the request');

    $response = $factory->createResponse(201)
        ->withHeader('X-Test', '1')
        ->withAddedHeader('Set-Cookie', 'a=1')
        ->withAddedHeader('Set-Cookie', 'b=2')
        ->withBody($factory->createStream('created body'));
    $response->getBody()->getContents(); // leaves the pointer at the end
    $psr->respond($response);

    $req = $psr->waitRequest();
    T::same('1.1', $req->getProtocolVersion(), 'unknown protocol => 1.1');
    T::same(['title' => 'hi', 'tags' => ['x']], $req->getParsedBody(), 'PSR-7 parsed body');
    T::same(true, $req->getAttribute('rr_parsed_body'), 'rr_parsed_body true');
    T::same('{"title":"hi","tags":{"0":"x"}}', (string) $req->getBody(), 'body stream is the frame body');
    T::same('curl/8', $req->getServerParams()['HTTP_USER_AGENT'] ?? null, 'HTTP_USER_AGENT from the header');
    $files = $req->getUploadedFiles();
    $avatar = $files['avatar'] ?? null;
    T::ok($avatar instanceof \Psr\Http\Message\UploadedFileInterface, 'uploaded file');
    if ($avatar instanceof \Psr\Http\Message\UploadedFileInterface) {
        T::same(['me.png', 'image/png', 10, 0], [$avatar->getClientFilename(), $avatar->getClientMediaType(), $avatar->getSize(), $avatar->getError()], 'uploaded file fields');
        T::same('file-bytes', (string) $avatar->getStream(), 'uploaded file stream reads tmpName');
    }
    $doc = $files['docs'][0] ?? null;
    T::ok($doc instanceof \Psr\Http\Message\UploadedFileInterface, 'nested uploaded file');
    if ($doc instanceof \Psr\Http\Message\UploadedFileInterface) {
        T::same([\UPLOAD_ERR_NO_FILE, 'a.pdf'], [$doc->getError(), $doc->getClientFilename()], 'failed upload keeps its error');
    }
    $psr->respond($factory->createResponse(404));
    T::same(null, $psr->waitRequest(), 'PSR7Worker::waitRequest() gives null at the end');

    T::same(
        [
            ['status' => 201, 'headers' => [['X-Test', '1'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']], 'body' => 'created body'],
            ['status' => 404, 'headers' => [], 'body' => ''],
        ],
        FakeServer::answers(),
        'PSR-7 responses (the body rewound)',
    );
    T::same([], FakeServer::$warnings, 'PSR7Worker keeps the protocol');
    \unlink($tmp);
}

// ---------------------------------------------------------------------------

foreach (T::$failures as $failure) {
    echo "FAIL $failure\n";
}
echo \sprintf("%s: %d checks, %d failed\n", T::$failures === [] ? 'OK' : 'FAILED', T::$checks, \count(T::$failures));
exit(T::$failures === [] ? 0 : 1);
