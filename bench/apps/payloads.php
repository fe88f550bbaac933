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

// The `db` scenario: one indexed SELECT (primary key of a seeded 100k-row
// table) on PostgreSQL through plain PDO, DSN from BENCH_PG_DSN. Persistent
// when BENCH_PG_PERSISTENT=1 (always for the rr targets, whose worker keeps
// its PDO object anyway; the nginx-fpm-persistent target for php-fpm).
function bench_pdo(): PDO
{
    return new PDO((string) getenv('BENCH_PG_DSN'), 'postgres', null, [
        PDO::ATTR_PERSISTENT => getenv('BENCH_PG_PERSISTENT') === '1',
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => false,
    ]);
}

function bench_db_row(PDO $pdo, string $query): string
{
    parse_str($query, $q);
    $id = (int) ($q['id'] ?? 1);
    $st = $pdo->prepare('SELECT id, sku, name, price FROM items WHERE id = ?');
    $st->execute([$id]);
    $row = $st->fetch(PDO::FETCH_ASSOC);
    return json_encode($row === false ? null : $row);
}
