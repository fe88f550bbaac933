<?php

/**
 * Self-test of the server's PHP worker API under a plain php CLI:
 *
 *     php -d include_path=/usr/share/php selftest.php
 *
 * It defines stand-ins for the rustrunner_* functions, feeds fake requests and
 * checks what HttpWorker, PSR7Worker and Worker make of them. The PSR-7 part
 * needs nyholm/psr7 + psr/http-factory on the include path (Debian:
 * php-nyholm-psr7) and is skipped without them. Exit status 0 = all passed.
 */

declare(strict_types=1);

if (\function_exists('rustrunner_wait_request')) {
    \fwrite(\STDERR, "selftest.php fakes the server; run it with a plain php CLI, not inside rustrunner.\n");
    exit(2);
}

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
}

/** What the fake server holds: requests to hand out, calls received. */
final class FakeServer
{
    /** @var list<array|null> */
    public static array $queue = [];
    /** @var list<array> */
    public static array $calls = [];

    /** @param list<array> $requests */
    public static function feed(array $requests): void
    {
        self::$queue = $requests;
        self::$queue[] = null;
        self::$calls = [];
    }

    public static function request(array $override = []): array
    {
        return $override + [
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

// From here on the server is faked.
if (!\function_exists('rustrunner_wait_request')) {
    function rustrunner_wait_request(): ?array
    {
        return \array_shift(FakeServer::$queue);
    }

    function rustrunner_respond(int $status, array $headers, string $body): bool
    {
        FakeServer::$calls[] = ['respond', $status, $headers, $body];
        return true;
    }

    function rustrunner_error(string $message): void
    {
        FakeServer::$calls[] = ['error', $message];
    }

    function rustrunner_stop(): void
    {
        FakeServer::$calls[] = ['stop'];
    }
}

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

FakeServer::feed([
    FakeServer::request([
        'method' => 'POST',
        'headers' => ['Content-Type' => ['multipart/form-data; boundary=x']],
        'cookies' => [],
        'uploads' => '{"file":{"name":"a.txt","mime":"text/plain","size":3,"error":0,"tmpName":"/tmp/upload1"}}',
        'parsed' => true,
        'body' => '{"a":"1"}',
    ]),
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
$worker->respond(new \Spiral\RoadRunner\Payload('raw'));
$worker->respond(new \Spiral\RoadRunner\Payload('', 'not json'));
$worker->respond(new \Spiral\RoadRunner\Payload('p1', '{"status":206,"headers":{"X-P":["1"]}}', false));
$worker->respond(new \Spiral\RoadRunner\Payload('p2', '{"status":200,"headers":{}}', true));
$worker->respond(new \Spiral\RoadRunner\Payload('', '{"stop":true}'));
$worker->error('boom');
$worker->stop();
T::same(null, $worker->waitPayload(), 'waitPayload() gives null at the end');
$calls = FakeServer::$calls;
T::same(['respond', 201, ['X-A' => ['1', '2'], 'X-B' => '3'], 'made'], $calls[0] ?? null, 'respond(Payload) with a context');
T::same(['respond', 200, [], 'raw'], $calls[1] ?? null, 'respond(Payload) without a context');
T::same('error', $calls[2][0] ?? null, 'a bad context fails the request');
T::same(['respond', 206, ['X-P' => ['1']], 'p1p2'], $calls[3] ?? null, 'eos=false parts make one response');
T::same(['stop'], $calls[4] ?? null, 'the {"stop":true} payload stops the worker');
T::same(['error', 'boom'], $calls[5] ?? null, 'error()');
T::same(['stop'], $calls[6] ?? null, 'stop()');
T::same(7, \count($calls), 'no other calls');

$p = new \Spiral\RoadRunner\Payload(null);
T::same(['', '', true], [$p->body, $p->header, $p->eos], 'Payload defaults');

// ---------------------------------------------------------------------------
// HttpWorker (native values)
// ---------------------------------------------------------------------------

$http = new \Spiral\RoadRunner\Http\HttpWorker($worker);
T::ok($http->getWorker() === $worker, 'HttpWorker::getWorker()');
T::ok($http instanceof \Spiral\RoadRunner\Http\HttpWorkerInterface, 'HttpWorker implements HttpWorkerInterface');

FakeServer::feed([
    FakeServer::request(['attributes' => '{"ipAddress":"10.0.0.9","foo":"bar"}']),
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
$gen = (static function (): \Generator {
    yield 'a';
    yield 'b';
    return 'c';
})();
$http->respond(200, $gen, ['X-Gen' => ['1']]);
$http->respond(103, '', ['Link' => ['</a.css>; rel=preload']], false);
$http->respond(202, 'part1', ['X-Part' => ['1']], false);
$http->respond(500, 'part2');
$broken = (static function (): \Generator {
    yield 'first';
    throw new \LogicException('generator failed');
})();
$http->respond(200, $broken);
T::throws(\InvalidArgumentException::class, static fn () => $http->respond(103, 'body'), '1xx with a body');
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
T::same(null, $http->waitRequest(), 'waitRequest() gives null at the end');

$calls = FakeServer::$calls;
T::same(['respond', 200, ['Content-Type' => ['text/plain']], 'hello'], $calls[0] ?? null, 'respond(string)');
T::same(['respond', 200, ['X-Gen' => ['1']], 'abc'], $calls[1] ?? null, 'respond(Generator) joins chunks and return value');
T::same(['respond', 202, ['X-Part' => ['1']], 'part1part2'], $calls[2] ?? null, '103 is dropped; endOfStream=false parts are joined');
T::same(['respond', 200, [], 'first'], $calls[3] ?? null, 'a failing generator ends the response');
T::same(['respond', 204, [], ''], $calls[4] ?? null, 'respond(204)');
T::same(5, \count($calls), 'no other calls');

// An unfinished response is sent before the next request is taken.
FakeServer::feed([FakeServer::request()]);
$http->respond(200, 'unfinished', [], false);
$http->waitRequest();
T::same([['respond', 200, [], 'unfinished']], FakeServer::$calls, 'unfinished response is flushed by waitRequest()');

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
// PSR7Worker
// ---------------------------------------------------------------------------

$psr7 = \stream_resolve_include_path('Nyholm/Psr7/autoload.php');
if ($psr7 === false) {
    echo "SKIP PSR7Worker: Nyholm/Psr7/autoload.php is not on the include path\n";
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

    FakeServer::feed([
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

    $calls = FakeServer::$calls;
    T::same(['respond', 201, ['X-Test' => ['1'], 'Set-Cookie' => ['a=1', 'b=2']], 'created body'], $calls[0] ?? null, 'PSR-7 respond (body rewound)');
    T::same(['respond', 404, [], ''], $calls[1] ?? null, 'PSR-7 respond(404)');
    T::same(2, \count($calls), 'no other calls');
    \unlink($tmp);
}

// ---------------------------------------------------------------------------

foreach (T::$failures as $failure) {
    echo "FAIL $failure\n";
}
echo \sprintf("%s: %d checks, %d failed\n", T::$failures === [] ? 'OK' : 'FAILED', T::$checks, \count(T::$failures));
exit(T::$failures === [] ? 0 : 1);
