#!/usr/bin/env python3
"""Probes for rustrunner against the real Spiral packages. Usage: check.py APPDIR BASEPORT"""
import hashlib, http.client, json, os, re, sys, time

app, base = sys.argv[1], int(sys.argv[2])
P = dict(hello=base, probe=base + 2, stream=base + 3, raw=base + 4, probe1=base + 5)
results = []

def req(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    hs = r.getheaders()
    c.close()
    return r.status, hs, data

def hget(hs, name):
    v = [x[1] for x in hs if x[0].lower() == name.lower()]
    return v

def log(name):
    with open(os.path.join(app, name + '.log'), 'rb') as f:
        return re.sub(rb'\x1b\[[0-9;]*m', b'', f.read()).decode('utf-8', 'replace')

def probe(name):
    def deco(fn):
        try:
            detail = fn()
            results.append((name, True, detail or ''))
        except Exception as e:  # noqa
            results.append((name, False, f'{type(e).__name__}: {e}'))
        return fn
    return deco

def eq(a, b, what=''):
    if a != b:
        raise AssertionError(f'{what} expected {b!r}, got {a!r}')

@probe('hello (guide episode-0 worker.php verbatim)')
def _():
    s, h, b = req(P['hello'], 'GET', '/')
    eq(s, 200, 'status'); eq(b, b'Hello from RoadRunner!', 'body')
    return b.decode()

@probe('real Spiral classes loaded (not the server fallback)')
def _():
    s, h, b = req(P['probe'], 'GET', '/whoami')
    eq(s, 200, 'status')
    j = json.loads(b)
    wf = hget(h, 'X-Worker-File')[0]
    eq(wf, os.path.realpath(app) + '/vendor/spiral/roadrunner-worker/src/Worker.php', 'X-Worker-File')
    for c, f in j['files'].items():
        if not f.startswith(os.path.realpath(app) + '/vendor/'):
            raise AssertionError(f'{c} from {f}')
    return f"X-Worker-File: {wf}; sapi={j['sapi']} relay={j['rr_relay']} mode={j['rr_mode']} stdin={j['stdin_meta']['stream_type']}"

@probe('echo GET: method/uri/query/multi-value headers/cookies')
def _():
    s, h, b = req(P['probe'], 'GET', '/echo?a=1&b%5B%5D=2&b%5B%5D=3&c=x+y', headers={
        'X-Multi': 'one', 'authorization': 'Basic dTpw', 'Cookie': 's=a%20b; t=2'})
    # http.client cannot repeat a header via dict; send a second request with raw putheader below
    j = json.loads(b)
    eq(j['method'], 'GET', 'method')
    eq(j['uri'], f"http://127.0.0.1:{P['probe']}/echo?a=1&b%5B%5D=2&b%5B%5D=3&c=x+y", 'uri')
    eq(j['query'], {'a': '1', 'b': ['2', '3'], 'c': 'x y'}, 'query')
    eq(j['headers'].get('Authorization'), ['Basic dTpw'], 'Authorization (canonical name)')
    eq(j['cookies'], {'s': 'a b', 't': '2'}, 'cookies')
    eq(j['server'].get('REMOTE_ADDR'), '127.0.0.1', 'REMOTE_ADDR')
    c = http.client.HTTPConnection('127.0.0.1', P['probe'], timeout=10)
    c.putrequest('GET', '/echo'); c.putheader('X-Multi', 'one'); c.putheader('X-Multi', 'two'); c.endheaders()
    j2 = json.loads(c.getresponse().read()); c.close()
    eq(j2['headers'].get('X-Multi'), ['one', 'two'], 'X-Multi')
    eq(j2['server'].get('HTTP_X_MULTI'), 'one, two', 'HTTP_X_MULTI')
    return f"query={j['query']} cookies={j['cookies']} X-Multi={j2['headers']['X-Multi']}"

@probe('url-encoded form -> parsed body')
def _():
    s, h, b = req(P['probe'], 'POST', '/echo', body='a=1&a=2&b[]=x&b[]=y&c[d]=z',
                  headers={'Content-Type': 'application/x-www-form-urlencoded'})
    j = json.loads(b)
    eq(j['parsed'], {'a': '2', 'b': ['x', 'y'], 'c': {'d': 'z'}}, 'parsed')
    eq(j['attributes'].get('rr_parsed_body'), True, 'rr_parsed_body')
    return json.dumps(j['parsed'])

@probe('JSON body (raw, not parsed)')
def _():
    body = json.dumps({'k': [1, 2, {'x': 'é'}]}, ensure_ascii=False).encode()
    s, h, b = req(P['probe'], 'PUT', '/echo', body=body, headers={'Content-Type': 'application/json'})
    j = json.loads(b)
    eq(j['body'].encode(), body, 'body'); eq(j['parsed'], None, 'parsed'); eq(j['method'], 'PUT', 'method')
    return j['body']

@probe('5 MB binary request body (sha256)')
def _():
    data = os.urandom(5 * 1024 * 1024)
    s, h, b = req(P['probe'], 'POST', '/sha', body=data, headers={'Content-Type': 'application/octet-stream'})
    eq(s, 200, 'status'); eq(b.decode(), hashlib.sha256(data).hexdigest(), 'sha256')
    eq(hget(h, 'X-Len'), [str(len(data))], 'X-Len')
    return b.decode()

@probe('5 MB binary response body (sha256)')
def _():
    s, h, b = req(P['probe'], 'GET', '/big')
    eq(s, 200, 'status'); eq(len(b), 5 * 1024 * 1024, 'len')
    eq(hashlib.sha256(b).hexdigest(), hget(h, 'X-Sha')[0], 'sha256')
    return hget(h, 'X-Sha')[0]

@probe('5 MB response via PSR7Worker::$chunkSize=65536 (stream mode, 80 frames)')
def _():
    s, h, b = req(P['probe'], 'GET', '/big-chunked')
    eq(s, 200, 'status'); eq(len(b), 5 * 1024 * 1024, 'len')
    eq(hashlib.sha256(b).hexdigest(), hget(h, 'X-Sha')[0], 'sha256')
    return 'ok'

@probe('response status + multi-value headers (Set-Cookie x2)')
def _():
    s, h, b = req(P['probe'], 'GET', '/headers')
    eq(s, 201, 'status'); eq(b, b'created', 'body')
    eq(hget(h, 'Set-Cookie'), ['a=1; Path=/', 'b=2; Path=/'], 'Set-Cookie')
    eq(hget(h, 'X-Multi'), ['one', 'two'], 'X-Multi')
    return 'ok'

@probe("getWorker()->error('boom') -> 500, same worker keeps serving (1 worker)")
def _():
    s, h, b = req(P['probe1'], 'GET', '/')
    w, n = hget(h, 'X-Worker')[0], int(hget(h, 'X-Count')[0])
    s2, h2, b2 = req(P['probe1'], 'GET', '/error')
    eq(s2, 500, 'status'); eq(b2, b'', 'body')
    s3, h3, b3 = req(P['probe1'], 'GET', '/')
    eq(s3, 200, 'status'); eq(hget(h3, 'X-Worker')[0], w, 'same worker'); eq(int(hget(h3, 'X-Count')[0]), n + 2, 'count')
    if 'boom' not in log('probe1'):
        raise AssertionError('boom not logged')
    return f'worker {w}: count {n} -> 500 -> count {n+2}'

@probe('throw inside handler (guide catch -> error()) -> 500, worker survives')
def _():
    s, h, b = req(P['probe1'], 'GET', '/')
    w = hget(h, 'X-Worker')[0]
    s2, _, _ = req(P['probe1'], 'GET', '/throw'); eq(s2, 500, 'status')
    s3, h3, _ = req(P['probe1'], 'GET', '/'); eq(hget(h3, 'X-Worker')[0], w, 'same worker')
    return 'ok'

@probe('partial STREAM frame then error() -> 500, next response clean (1 worker)')
def _():
    s, h, b = req(P['probe1'], 'GET', '/partial-then-error')
    eq(s, 500, 'status')
    s2, h2, b2 = req(P['probe1'], 'GET', '/headers')
    if b'STALE' in b2 or hget(h2, 'X-Stale'):
        raise AssertionError(f'stale stream leaked into next response: status {s2}, X-Stale={hget(h2, "X-Stale")}, body={b2[:60]!r}')
    eq(s2, 201, 'next status'); eq(b2, b'created', 'next body')
    return 'ok'

@probe('after a failed 80-frame PSR7 stream, the next response is clean (1 worker)')
def _():
    req(P['probe1'], 'GET', '/big-chunked')
    s2, h2, b2 = req(P['probe1'], 'GET', '/headers')
    if len(b2) != 7 or hget(h2, 'X-Sha'):
        raise AssertionError(f'stale stream leaked into next response: status {s2}, X-Sha={hget(h2, "X-Sha")}, {len(b2)} bytes, tail={b2[-10:]!r}')
    eq(s2, 201, 'next status')
    return 'ok'

@probe('$worker->stop() -> request retried on another worker, stopping worker leaves its loop')
def _():
    flag = f'run{os.getpid()}{time.time_ns()}'
    s, h, b = req(P['probe'], 'GET', f'/stop?flag={flag}')
    eq(s, 200, 'status')
    if not b.startswith(b'served-after-stop'):
        raise AssertionError(f'body {b!r}')
    served_by = hget(h, 'X-Worker')[0]
    time.sleep(0.3)
    ends = re.findall(r'PROBE-LOOP-END (\w+)', log('probe'))
    if not ends:
        raise AssertionError('no worker left its loop')
    if ends[-1] == served_by:
        raise AssertionError('retried on the same worker')
    for _ in range(4):
        eq(req(P['probe'], 'GET', '/')[0], 200, 'later status')
    return f'stopped {ends[-1]}, served by {served_by}'

@probe('echo/print/STDERR inside the loop -> server log, not the response')
def _():
    s, h, b = req(P['probe'], 'GET', '/echo-out')
    eq(s, 200, 'status'); eq(b, b'after-echo', 'body')
    w = hget(h, 'X-Worker')[0]
    time.sleep(0.2)
    L = log('probe')
    for m in ('ECHO-MARKER', 'PRINT-MARKER', 'STDERR-MARKER', 'ERRORLOG-MARKER'):
        if f'{m}-{w}' not in L:
            raise AssertionError(f'{m} missing from log')
    return next(l for l in L.splitlines() if f'ECHO-MARKER-{w}' in l).strip()

@probe('exit(0) mid-request -> 500, then recovery')
def _():
    s, h, b = req(P['probe'], 'GET', '/exit'); eq(s, 500, 'status')
    codes = [req(P['probe'], 'GET', '/')[0] for _ in range(6)]
    eq(codes, [200] * 6, 'after exit')
    return f'500 then {codes}'

for n in (3, 6, 7, 12, 40):
    @probe(f'HttpWorker Generator streaming, {n} chunks')
    def _(n=n):
        s, h, b = req(P['stream'], 'GET', f'/s?chunks={n}')
        exp = ''.join(f'chunk-{i:02d}\n' for i in range(n)) + 'END\n'
        eq(s, 200, 'status'); eq(b.decode(), exp, 'body')
        return f'{len(b)} bytes'

@probe('raw Worker::create() + waitPayload()/respond(new Payload)')
def _():
    c = http.client.HTTPConnection('127.0.0.1', P['raw'], timeout=10)
    c.putrequest('POST', '/raw?q=1'); c.putheader('X-A', '1'); c.putheader('X-A', '2')
    c.putheader('Content-Type', 'text/plain'); c.putheader('Content-Length', '5'); c.endheaders(); c.send(b'hello')
    r = c.getresponse(); b = r.read()
    eq(r.status, 202, 'status'); eq(r.getheader('X-Raw'), 'yes', 'X-Raw')
    j = json.loads(b)
    eq(j['class'], 'Spiral\\RoadRunner\\Payload', 'class'); eq(j['body'], 'hello', 'body')
    ctx = j['ctx']
    eq(ctx['method'], 'POST', 'ctx.method'); eq(ctx['rawQuery'], 'q=1', 'rawQuery')
    eq(ctx['headers']['X-A'], ['1', '2'], 'ctx.headers.X-A')
    if 'Host' in ctx['headers']:
        raise AssertionError('Host in context headers (RR omits it)')
    return json.dumps(ctx)[:200]

fails = 0
for name, ok, detail in results:
    fails += not ok
    print(f"{'PASS' if ok else 'FAIL'}  {name}\n      {detail}")
print(f'{len(results) - fails} passed, {fails} failed')
sys.exit(1 if fails else 0)
