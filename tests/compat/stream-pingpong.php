<?php
// Counts PING frames sent and PONG frames received by the real Worker in stream mode,
// through a subclass of the real goridge StreamRelay (all protocol logic stays in the packages).
use Spiral\Goridge\Frame;
use Spiral\Goridge\StreamRelay;
use Spiral\RoadRunner\Worker;
use Spiral\RoadRunner\Http\HttpWorker;

require __DIR__.'/vendor/autoload.php';

final class CountingRelay extends StreamRelay {
    public int $pings = 0; public int $pongs = 0; public int $selects = 0; public int $selectTrue = 0;
    public function send(Frame $frame): void { if ($frame->byte10 & Frame::BYTE10_PING) $this->pings++; parent::send($frame); }
    public function waitFrame(): Frame { $f = parent::waitFrame(); if ($f->byte10 & Frame::BYTE10_PONG) $this->pongs++; return $f; }
    public function hasFrame(): bool { $this->selects++; $r = parent::hasFrame(); $this->selectTrue += (int)$r; return $r; }
}
$relay = new CountingRelay(STDIN, STDOUT);
$http = new HttpWorker(new Worker($relay));
while ($req = $http->waitRequest()) {
    parse_str(parse_url($req->uri, PHP_URL_QUERY) ?? '', $q);
    if (isset($q['stats'])) {
        $http->respond(200, json_encode(['pings' => $relay->pings, 'pongs' => $relay->pongs, 'hasFrame' => $relay->selects, 'hasFrameTrue' => $relay->selectTrue]));
        continue;
    }
    $chunks = (int)($q['chunks'] ?? 40);
    $http->respond(200, (function () use ($chunks) { for ($i = 0; $i < $chunks; $i++) yield "c$i\n"; return "END\n"; })());
}
