<?php
// The benchmark worker: episode 0's loop, plus a 16 KB JSON, a POST echo
// and a 1 MiB response (bench/ab.py's big1m).
declare(strict_types=1);

use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;
use Spiral\RoadRunner\Http\PSR7Worker;
use Spiral\RoadRunner\Worker;

require __DIR__ . '/vendor/autoload.php';
require __DIR__ . '/payloads.php';

$worker = Worker::create();
$factory = new Psr17Factory();
$psr7 = new PSR7Worker($worker, $factory, $factory, $factory);
$json = bench_json_16k();
$big = str_repeat('0123456789abcdef', 65536);
$pdo = null;

while ($request = $psr7->waitRequest()) {
    try {
        switch ($request->getUri()->getPath()) {
            case '/json':
                $response = new Response(200, ['Content-Type' => 'application/json'], $json);
                break;
            case '/big':
                $response = new Response(200, ['Content-Type' => 'application/octet-stream'], $big);
                break;
            case '/echo':
                $response = new Response(200, ['Content-Type' => 'application/octet-stream'], (string) $request->getBody());
                break;
            case '/db':
                try {
                    $pdo ??= bench_pdo();
                    $response = new Response(200, ['Content-Type' => 'application/json'], bench_db_row($pdo, $request->getUri()->getQuery()));
                } catch (\PDOException $e) {
                    $pdo = null;
                    $response = new Response(500, [], $e->getMessage());
                }
                break;
            default:
                $response = new Response(200, [], 'Hello from RoadRunner!');
        }
        $psr7->respond($response);
    } catch (\Throwable $e) {
        $psr7->getWorker()->error((string) $e);
    }
}
