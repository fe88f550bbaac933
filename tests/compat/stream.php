<?php
// Streaming through the real HttpWorker: Generator body (12 chunks -> PING on the 6th frame).
use Spiral\RoadRunner\Worker;
use Spiral\RoadRunner\Http\HttpWorker;

require __DIR__.'/vendor/autoload.php';

$http = new HttpWorker(Worker::create());
$wid = bin2hex(random_bytes(4));
$n = 0;
while ($req = $http->waitRequest()) {
    $n++;
    parse_str(parse_url($req->uri, PHP_URL_QUERY) ?? '', $q);
    $chunks = (int)($q['chunks'] ?? 12);
    $gen = (function () use ($chunks) {
        for ($i = 0; $i < $chunks; $i++) {
            yield sprintf("chunk-%02d\n", $i);
        }
        return "END\n";
    })();
    $http->respond(200, $gen, ['Content-Type' => ['text/plain'], 'X-Worker' => [$wid], 'X-Count' => [(string)$n]]);
}
