<?php
// Raw Worker API: Worker::create() + waitPayload() / respond(new Payload(...)).
use Spiral\RoadRunner\Worker;
use Spiral\RoadRunner\Payload;

require __DIR__.'/vendor/autoload.php';

$worker = Worker::create();
while ($payload = $worker->waitPayload()) {
    $ctx = json_decode($payload->header, true);
    $worker->respond(new Payload(
        json_encode(['ctx' => $ctx, 'body' => $payload->body, 'class' => get_class($payload)], JSON_UNESCAPED_SLASHES),
        json_encode(['status' => 202, 'headers' => ['X-Raw' => ['yes'], 'Content-Type' => ['application/json']]])
    ));
}
