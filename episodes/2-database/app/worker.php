<?php
// Episode 2: a notes JSON API on the PSR-7 worker and PostgreSQL through
// Doctrine DBAL (pdo_pgsql underneath). See ../README.md.
//
// The worker is a long-lived loop: everything above `while` runs once per
// worker (one connection per worker, kept across requests), everything in
// `handle()` once per request.

declare(strict_types=1);

use Doctrine\DBAL\Connection;
use Doctrine\DBAL\DriverManager;
use Doctrine\DBAL\Exception\DriverException;
use Doctrine\DBAL\ParameterType;
use Doctrine\DBAL\Tools\DsnParser;
use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\Response;
use Psr\Http\Message\ServerRequestInterface;
use Spiral\RoadRunner\Http\PSR7Worker;
use Spiral\RoadRunner\Worker;

require __DIR__ . '/vendor/autoload.php';

/** An error the client caused or should see: HTTP status + message. */
final class HttpError extends RuntimeException
{
    public function __construct(public readonly int $status, string $message)
    {
        parent::__construct($message);
    }
}

function connect(): Connection
{
    $url = getenv('DATABASE_URL') ?: 'pgsql://postgres@127.0.0.1:5432/notes';
    $params = (new DsnParser(['pgsql' => 'pdo_pgsql', 'postgres' => 'pdo_pgsql', 'postgresql' => 'pdo_pgsql']))->parse($url);
    // PDO::ATTR_PERSISTENT: the connection belongs to the worker (its thread,
    // or its process on `server.executor: process`), not to the Connection
    // object, so it also outlives a worker restarted on the same thread.
    $params['driverOptions'] = [PDO::ATTR_PERSISTENT => true];
    return DriverManager::getConnection($params);
}

/**
 * Create the schema if it is missing. Eight workers start at once: the
 * advisory lock makes them do it one after the other (two concurrent
 * CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalog).
 */
function ensure_schema(Connection $db): void
{
    $db->transactional(static function (Connection $db): void {
        $db->executeStatement('SELECT pg_advisory_xact_lock(4242)');
        $db->executeStatement(<<<'SQL'
            CREATE TABLE IF NOT EXISTS notes (
                id         bigserial PRIMARY KEY,
                title      text NOT NULL UNIQUE CHECK (char_length(title) BETWEEN 1 AND 200),
                body       text NOT NULL DEFAULT '',
                created_at timestamptz NOT NULL DEFAULT now()
            )
            SQL);
        $db->executeStatement(<<<'SQL'
            CREATE TABLE IF NOT EXISTS note_tags (
                note_id bigint NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
                tag     text NOT NULL CHECK (tag ~ '^[a-z0-9-]{1,32}$'),
                PRIMARY KEY (note_id, tag)
            )
            SQL);
        $db->executeStatement('CREATE INDEX IF NOT EXISTS note_tags_tag ON note_tags (tag)');
    });
}

/** The JSON object of the request body (400 otherwise). */
function json_body(ServerRequestInterface $request): array
{
    // A form body reaches the worker parsed, not as bytes: say so.
    if (!str_starts_with(strtolower($request->getHeaderLine('Content-Type')), 'application/json')) {
        throw new HttpError(415, 'send Content-Type: application/json');
    }
    try {
        $data = json_decode((string) $request->getBody(), true, 16, JSON_THROW_ON_ERROR);
    } catch (JsonException $e) {
        throw new HttpError(400, 'invalid JSON: ' . $e->getMessage());
    }
    if (!is_array($data) || array_is_list($data) && $data !== []) {
        throw new HttpError(400, 'expected a JSON object');
    }
    return $data;
}

function load_note(Connection $db, int $id): ?array
{
    $note = $db->fetchAssociative('SELECT id, title, body, created_at FROM notes WHERE id = ?', [$id], [ParameterType::INTEGER]);
    if ($note === false) {
        return null;
    }
    $note['id'] = (int) $note['id'];
    $note['tags'] = $db->fetchFirstColumn('SELECT tag FROM note_tags WHERE note_id = ? ORDER BY tag', [$id], [ParameterType::INTEGER]);
    return $note;
}

/** @return array{int, mixed} status and JSON body */
function handle(Connection $db, ServerRequestInterface $request, array $me): array
{
    $method = $request->getMethod();
    $path = rtrim($request->getUri()->getPath(), '/') ?: '/';
    parse_str($request->getUri()->getQuery(), $query);

    if ($path === '/') {
        // Which worker and which PostgreSQL backend served this: with
        // persistent connections a worker keeps its backend_pid.
        return [200, $me + [
            'backend_pid' => (int) $db->fetchOne('SELECT pg_backend_pid()'),
            'notes' => (int) $db->fetchOne('SELECT count(*) FROM notes'),
        ]];
    }

    if ($path === '/notes') {
        if ($method === 'GET') {
            $limit = filter_var($query['limit'] ?? 50, FILTER_VALIDATE_INT, ['options' => ['min_range' => 1, 'max_range' => 500]]);
            if ($limit === false) {
                throw new HttpError(400, 'limit must be an integer from 1 to 500');
            }
            $tag = $query['tag'] ?? null;
            if ($tag !== null && !is_string($tag)) {
                throw new HttpError(400, 'tag must be a string');
            }
            $rows = $tag === null
                ? $db->fetchAllAssociative('SELECT id, title FROM notes ORDER BY id DESC LIMIT ?', [$limit], [ParameterType::INTEGER])
                : $db->fetchAllAssociative(
                    'SELECT n.id, n.title FROM notes n JOIN note_tags t ON t.note_id = n.id WHERE t.tag = ? ORDER BY n.id DESC LIMIT ?',
                    [$tag, $limit],
                    [ParameterType::STRING, ParameterType::INTEGER],
                );
            return [200, array_map(static fn (array $r) => ['id' => (int) $r['id'], 'title' => $r['title']], $rows)];
        }
        if ($method === 'POST') {
            $in = json_body($request);
            $title = $in['title'] ?? null;
            $body = $in['body'] ?? '';
            $tags = $in['tags'] ?? [];
            if (!is_string($title) || !is_string($body) || !is_array($tags) || !array_is_list($tags)
                || array_filter($tags, 'is_string') !== $tags) {
                throw new HttpError(400, 'expected {"title": string, "body"?: string, "tags"?: [string, ...]}');
            }
            // One transaction: the note and its tags are stored together or
            // not at all (a duplicate tag or a bad one rolls the note back).
            $id = $db->transactional(static function (Connection $db) use ($title, $body, $tags): int {
                $id = (int) $db->fetchOne('INSERT INTO notes (title, body) VALUES (?, ?) RETURNING id', [$title, $body]);
                foreach ($tags as $tag) {
                    $db->executeStatement('INSERT INTO note_tags (note_id, tag) VALUES (?, ?)', [$id, $tag], [ParameterType::INTEGER]);
                }
                return $id;
            });
            return [201, load_note($db, $id)];
        }
        throw new HttpError(405, "$method not allowed on /notes");
    }

    if (preg_match('#^/notes/([0-9]{1,18})$#', $path, $m)) {
        $id = (int) $m[1];
        if ($method === 'GET') {
            return ($note = load_note($db, $id)) === null ? throw new HttpError(404, "no note $id") : [200, $note];
        }
        if ($method === 'DELETE') {
            $n = $db->executeStatement('DELETE FROM notes WHERE id = ?', [$id], [ParameterType::INTEGER]);
            return $n === 0 ? throw new HttpError(404, "no note $id") : [204, null];
        }
        throw new HttpError(405, "$method not allowed on /notes/{id}");
    }

    throw new HttpError(404, "no route $path");
}

/**
 * A database error as an HTTP status, by SQLSTATE class: the client's
 * fault (409 for a duplicate, 422 for another constraint or bad data) or
 * the database being unavailable (503); anything else is a 500.
 */
function db_status(Connection $db, DriverException $e): int
{
    $state = (string) $e->getSQLState();
    // pdo_pgsql reports a connection the server dropped (a restart, an
    // idle timeout, pg_terminate_backend) as HY000, "General error: 7",
    // without the server's SQLSTATE: ask the connection whether it still
    // works before calling it a 500.
    if ($state === 'HY000') {
        try {
            $db->fetchOne('SELECT 1');
        } catch (Throwable) {
            return 503;
        }
    }
    return match (true) {
        $state === '23505' => 409,                        // unique_violation
        str_starts_with($state, '23') => 422,             // other integrity constraints
        str_starts_with($state, '22') => 422,             // data exception (too long, bad input)
        str_starts_with($state, '08'),                    // connection exception
        str_starts_with($state, '57P') => 503,            // server shutting down / restarting
        $state === '' => 503,                             // no SQLSTATE: could not connect
        default => 500,
    };
}

$worker = Worker::create();
$factory = new Psr17Factory();
$psr7 = new PSR7Worker($worker, $factory, $factory, $factory);

$db = connect();
$me = ['worker' => bin2hex(random_bytes(4)), 'pid' => getmypid(), 'served' => 0];
$schema = false;

while (true) {
    try {
        $request = $psr7->waitRequest();
        if ($request === null) {
            break;
        }
    } catch (Throwable $e) {
        $psr7->respond(new Response(400, [], 'bad request'));
        continue;
    }
    $me['served']++;
    try {
        if (!$schema) {
            ensure_schema($db);
            $schema = true;
        }
        [$status, $out] = handle($db, $request, $me);
    } catch (HttpError $e) {
        [$status, $out] = [$e->status, ['error' => $e->getMessage()]];
    } catch (DriverException $e) {
        $status = db_status($db, $e);
        // The client sees the SQLSTATE and a short reason, not the SQL.
        $out = ['error' => $status === 503 ? 'database unavailable' : 'rejected by the database', 'sqlstate' => $e->getSQLState()];
        if ($status >= 500) {
            // Reconnect on the next request (a restarted server, a dropped
            // connection) instead of reusing a broken handle.
            $db->close();
            fwrite(STDERR, "notes: {$e->getMessage()}\n");
        }
    } catch (Throwable $e) {
        [$status, $out] = [500, ['error' => 'internal error']];
        fwrite(STDERR, "notes: $e\n");
    }
    $headers = ['X-Worker' => $me['worker']];
    if ($status === 204) {
        $psr7->respond(new Response(204, $headers));
        continue;
    }
    $headers['Content-Type'] = 'application/json';
    $psr7->respond(new Response($status, $headers, json_encode($out, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)));
}
