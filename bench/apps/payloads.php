<?php
// The same 16 KB JSON document as bench/bare_hyper.rs builds.
declare(strict_types=1);

function bench_json_16k(): string
{
    $items = [];
    $len = 0;
    for ($i = 0; ; $i++) {
        $item = sprintf('{"id":%d,"name":"item %d","tags":["a","b","c"],"price":%d.5}', $i, $i, $i * 3);
        if ($len + strlen($item) > 16 * 1024 - 20) {
            break;
        }
        $items[] = $item;
        $len += strlen($item) + 1;
    }
    return '{"items":[' . implode(',', $items) . ']}';
}
