<?php
// Probe worker: real spiral/roadrunner-http PSR7Worker + nyholm/psr7, routed by path.
use Spiral\RoadRunner\Worker;
use Spiral\RoadRunner\Http\PSR7Worker;
use Nyholm\Psr7\Response;
use Nyholm\Psr7\Factory\Psr17Factory;

require __DIR__.'/vendor/autoload.php';

$worker = Worker::create();
$factory = new Psr17Factory();
$psr7 = new PSR7Worker($worker, $factory, $factory, $factory);
$wid = bin2hex(random_bytes(4));   // identifies this worker life (all threads share one pid)
$n = 0;

while ($request = $psr7->waitRequest()) {
    $n++;
    $path = $request->getUri()->getPath();
    $h = ['X-Worker' => $wid, 'X-Count' => (string)$n];
    try {
        switch ($path) {
            case '/whoami':
                $files = [];
                foreach ([Worker::class, PSR7Worker::class, Spiral\RoadRunner\Http\HttpWorker::class,
                          Spiral\Goridge\StreamRelay::class, Spiral\RoadRunner\Payload::class,
                          Psr\Log\LoggerInterface::class, Psr\Http\Message\ResponseInterface::class] as $c) {
                    $files[$c] = (new ReflectionClass($c))->getFileName();
                }
                $h['X-Worker-File'] = $files[Worker::class];
                $h['Content-Type'] = 'application/json';
                $psr7->respond(new Response(200, $h, json_encode([
                    'files' => $files,
                    'sapi' => PHP_SAPI, 'zts' => PHP_ZTS, 'php' => PHP_VERSION,
                    'stdin_type' => get_resource_type(STDIN),
                    'stdin_meta' => stream_get_meta_data(STDIN),
                    'stdout_meta' => stream_get_meta_data(STDOUT),
                    'rr_mode' => getenv('RR_MODE'), 'rr_relay' => getenv('RR_RELAY'),
                    'server_rr_mode' => $_SERVER['RR_MODE'] ?? null,
                    'json_validate' => function_exists('json_validate'),
                    'ob_level' => ob_get_level(),
                    'ob_handlers' => ob_list_handlers(),
                    'autoloaders' => count(spl_autoload_functions()),
                    // roadrunner-http >= 3.5 auto-detects JSON/proto once and sets this static (8 = CODEC_JSON)
                    'http_codec' => property_exists(Spiral\RoadRunner\Http\HttpWorker::class, 'codec')
                        ? (new ReflectionProperty(Spiral\RoadRunner\Http\HttpWorker::class, 'codec'))->getValue() : 'n/a (<3.5)',
                ], JSON_PRETTY_PRINT|JSON_UNESCAPED_SLASHES)));
                break;
            case '/echo':
                $body = (string)$request->getBody();
                $sp = $request->getServerParams();
                $h['Content-Type'] = 'application/json';
                $psr7->respond(new Response(200, $h, json_encode([
                    'method' => $request->getMethod(),
                    'uri' => (string)$request->getUri(),
                    'protocol' => $request->getProtocolVersion(),
                    'query' => $request->getQueryParams(),
                    'headers' => $request->getHeaders(),
                    'cookies' => $request->getCookieParams(),
                    'parsed' => $request->getParsedBody(),
                    'body' => $body,
                    'attributes' => $request->getAttributes(),
                    'server' => array_intersect_key($sp, array_flip(['REMOTE_ADDR','REQUEST_METHOD','REQUEST_URI','HTTP_USER_AGENT','CONTENT_TYPE','HTTP_X_MULTI','REQUEST_TIME'])),
                ], JSON_PRETTY_PRINT|JSON_UNESCAPED_SLASHES)));
                break;
            case '/sha':
                $body = (string)$request->getBody();
                $h['X-Len'] = (string)strlen($body);
                $psr7->respond(new Response(200, $h, hash('sha256', $body)));
                break;
            case '/big':
                // 5 MB binary response, deterministic
                $data = '';
                for ($i = 0; strlen($data) < 5*1024*1024; $i++) { $data .= hash('sha256', (string)$i, true); }
                $data = substr($data, 0, 5*1024*1024);
                $h['X-Sha'] = hash('sha256', $data);
                $psr7->respond(new Response(200, $h, $data));
                break;
            case '/big-chunked':
                // same 5 MB body, but PSR7Worker::$chunkSize turns it into a streamed Generator (80 frames)
                $data = '';
                for ($i = 0; strlen($data) < 5*1024*1024; $i++) { $data .= hash('sha256', (string)$i, true); }
                $data = substr($data, 0, 5*1024*1024);
                $h['X-Sha'] = hash('sha256', $data);
                $psr7->chunkSize = 65536;
                try { $psr7->respond(new Response(200, $h, $data)); } finally { $psr7->chunkSize = 0; }
                break;
            case '/partial-then-error':
                // one STREAM frame (eos=false) through the real Worker API, then error(): the request must fail
                // and nothing of it may show up in the next response
                $psr7->getWorker()->withStreamMode()->respond(new Spiral\RoadRunner\Payload('STALE-PARTIAL-CHUNK', json_encode(['status' => 299, 'headers' => ['X-Stale' => ['1']]]), false));
                $psr7->getWorker()->error('failed after a partial stream');
                break;
            case '/error':
                $psr7->getWorker()->error('boom');
                break;
            case '/stop':
                // stop() only in the first worker that sees this flag; the retried request is then served normally
                $flag = sys_get_temp_dir() . '/rrcompat-stop-' . preg_replace('/\W/', '', $request->getQueryParams()['flag'] ?? 'x');
                if (@fopen($flag, 'x') !== false) {
                    $psr7->getWorker()->stop();
                    break;  // loop continues: waitRequest() must now return null
                }
                $psr7->respond(new Response(200, $h, "served-after-stop worker=$wid count=$n"));
                break;
            case '/echo-out':
                echo "ECHO-MARKER-$wid\n";
                print "PRINT-MARKER-$wid\n";
                fwrite(STDERR, "STDERR-MARKER-$wid\n");
                error_log("ERRORLOG-MARKER-$wid");
                $psr7->respond(new Response(200, $h, 'after-echo'));
                break;
            case '/exit':
                exit(0);
            case '/throw':
                throw new RuntimeException('thrown-in-handler');
            case '/headers':
                $psr7->respond(new Response(201, $h + [
                    'Set-Cookie' => ['a=1; Path=/', 'b=2; Path=/'],
                    'X-Multi' => ['one', 'two'],
                    'Content-Type' => 'text/plain; charset=utf-8',
                ], 'created'));
                break;
            default:
                $psr7->respond(new Response(200, $h, "count=$n worker=$wid"));
        }
    } catch (\Throwable $e) {
        $psr7->getWorker()->error((string)$e);
    }
}
fwrite(STDERR, "PROBE-LOOP-END $wid after $n requests\n");
