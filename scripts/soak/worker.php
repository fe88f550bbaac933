<?php
// The fault soak's worker (scripts/soak.py): one healthy route and one
// route per way a worker can fail.
declare(strict_types=1);

use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;
use Spiral\RoadRunner\Http\PSR7Worker;
use Spiral\RoadRunner\Worker;

require __DIR__ . '/autoload.php';

$id = bin2hex(random_bytes(4));
$worker = Worker::create();
$factory = new Psr17Factory();
$psr7 = new PSR7Worker($worker, $factory, $factory, $factory);
$served = 0;
$leak = [];

while ($request = $psr7->waitRequest()) {
    $served++;
    switch ($request->getUri()->getPath()) {
        case '/fatal':
            undefined_function_in_the_soak();
            break;
        case '/exit':
            exit(3);
        case '/throw':
            throw new RuntimeException('uncaught in the soak');
        case '/loop':
            // exec_ttl ends this.
            while (true) {
                $served++;
            }
        case '/leak':
            // Kept across requests: max_worker_memory recycles the worker.
            $leak[] = str_repeat('x', 24 * 1024 * 1024);
            break;
        case '/stop':
            // A worker that served before leaves; its request is retried on
            // another worker (a fresh one answers).
            if ($served > 1) {
                $psr7->getWorker()->stop();
                continue 2;
            }
            break;
        case '/error':
            $psr7->getWorker()->error('error() from the soak');
            continue 2;
        case '/garbage':
            echo "echoed garbage \x00\xff\n";
            fwrite(STDOUT, "this is not a goridge frame\n");
            break;
    }
    $psr7->respond(new Response(200, ['X-Worker' => $id], 'ok ' . $id . ' ' . $served));
}
