<?php
// The classic front controller for nginx + php-fpm: the same routes and the
// same PSR-7 objects as the worker, built anew for every request.
declare(strict_types=1);

use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;

require __DIR__ . '/vendor/autoload.php';
require __DIR__ . '/payloads.php';

$factory = new Psr17Factory();
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
switch ($path) {
    case '/json':
        $response = new Response(200, ['Content-Type' => 'application/json'], bench_json_16k());
        break;
    case '/echo':
        $response = new Response(200, ['Content-Type' => 'application/octet-stream'], (string) file_get_contents('php://input'));
        break;
    case '/db':
        try {
            $response = new Response(200, ['Content-Type' => 'application/json'], bench_db_row(bench_pdo(), $_SERVER['QUERY_STRING'] ?? ''));
        } catch (\PDOException $e) {
            $response = new Response(500, [], $e->getMessage());
        }
        break;
    default:
        $response = new Response(200, [], 'Hello from RoadRunner!');
}
http_response_code($response->getStatusCode());
foreach ($response->getHeaders() as $name => $values) {
    foreach ($values as $v) {
        header("$name: $v", false);
    }
}
echo $response->getBody();
