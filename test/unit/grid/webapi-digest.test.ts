// The web API client's read-back (digest) and bodies, against a loopback HTTP server standing in for
// a Tahoe node: hashes what is sent however it is framed (length, chunks, connection close), turns an
// HTTP error into a TahoeHttpError and a body cut short into a GridUnreachableError, never a wrong
// hash. And an upload body is sent as the socket takes it (node:http, pipeline).
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { GridUnreachableError } from '../../../core/errors.ts';
import { ChunkedDecoder, TahoeHttpError, TahoeWebApi } from '../../../grid/webapi.ts';

async function serve(t: { teardown(fn: () => void): void }, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TahoeWebApi> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => server.close());
  return new TahoeWebApi((server.address() as AddressInfo).port);
}

const body = randomBytes(300_000);
const sha = createHash('sha256').update(body).digest('hex');

test('digest hashes a body sent with a Content-Length', async (t) => {
  const api = await serve(t, (_req, res) => {
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  t.deepEqual(await api.digest('URI:CHK:x'), { sha256: sha, size: body.length });
});

test('digest hashes a chunked body (chunks split anywhere across reads)', async (t) => {
  const api = await serve(t, (_req, res) => {
    let at = 0;
    const next = () => {
      if (at >= body.length) return res.end();
      const n = 1 + Math.floor(Math.random() * 20000);
      res.write(body.subarray(at, at + n));
      at += n;
      setImmediate(next);
    };
    next();
  });
  t.deepEqual(await api.digest('URI:CHK:x'), { sha256: sha, size: body.length });
});

test('the chunked decoder hands out exactly the data, whatever the split', (t) => {
  const wire = Buffer.from('5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n');
  for (let split = 1; split < wire.length; split++) {
    const decoder = new ChunkedDecoder();
    const out: Buffer[] = [];
    const first = decoder.feed(wire.subarray(0, split), (b) => out.push(Buffer.from(b)));
    const second = first === 'done' ? 'done' : decoder.feed(wire.subarray(split), (b) => out.push(Buffer.from(b)));
    t.is(second, 'done', `split at ${split}`);
    t.is(Buffer.concat(out).toString(), 'hello world!', `split at ${split}`);
  }
});

test('digest of a missing file is a TahoeHttpError with the status and Tahoe\'s last line', async (t) => {
  const api = await serve(t, (_req, res) => {
    res.statusCode = 404;
    res.end('Traceback...\nNo such child: SysBackup.tar.gz\n');
  });
  const error = await t.throwsAsync(api.digest('URI:DIR2:x', 'SysBackup.tar.gz'), { instanceOf: TahoeHttpError });
  t.is(error?.status, 404);
  t.regex(error?.message ?? '', /No such child/);
});

test('a body cut short is a GridUnreachableError, never a digest of the part that came', async (t) => {
  const api = await serve(t, (_req, res) => {
    res.setHeader('content-length', body.length);
    res.write(body.subarray(0, 100_000), () => res.socket?.destroy());
  });
  await t.throwsAsync(api.digest('URI:CHK:x'), { instanceOf: GridUnreachableError });
});

test('a node that does not answer is a GridUnreachableError for digest and for put', async (t) => {
  // a port nobody listens on
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const dead = new TahoeWebApi(deadPort);
  await t.throwsAsync(dead.digest('URI:CHK:x'), { instanceOf: GridUnreachableError });
  await t.throwsAsync(dead.put(Readable.from([Buffer.alloc(10)])), { instanceOf: GridUnreachableError });
});

test('put streams a Readable body and returns the cap the node answers', async (t) => {
  let received = 0;
  const api = await serve(t, (req, res) => {
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => res.end('URI:CHK:abc\n'));
  });
  t.is(await api.put(Readable.from([body, body])), 'URI:CHK:abc');
  t.is(received, 2 * body.length);
});

test('put fails with the source\'s own error when the source fails midway', async (t) => {
  const api = await serve(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('URI:CHK:abc'));
  });
  const source = new Readable({
    read() {
      this.destroy(new Error('disk on fire'));
    },
  });
  await t.throwsAsync(api.put(source), { message: /disk on fire/ });
});

test('lease-renewal-redirect: a started deep check answers 302 to its status page (node:http follows no redirect); the renewal polls that page and reports its counts', async (t) => {
  const seen: string[] = [];
  let polls = 0;
  const api = await serve(t, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.method === 'POST' && req.url?.includes('t=start-deep-check')) {
      const handle = new URL(req.url, 'http://x').searchParams.get('ophandle');
      res.writeHead(302, { location: `/operations/${handle}?output=JSON` });
      return res.end('redirecting');
    }
    if (req.url?.startsWith('/operations/')) {
      polls += 1;
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify(polls < 2 ? { finished: false } : { finished: true, 'count-objects-checked': 4, 'count-objects-unhealthy': 1 }));
    }
    res.writeHead(404);
    res.end('no');
  });
  t.deepEqual(await api.renewLeases('URI:DIR2:a:b', 10_000), { objects: 4, unhealthy: 1 });
  t.is(seen.filter((s) => s.startsWith('POST')).length, 1);
  t.is(polls, 2);
});

test('a redirect from any other call is still an error (only a started operation answers with one)', async (t) => {
  const api = await serve(t, (_req, res) => {
    res.writeHead(302, { location: '/elsewhere' });
    res.end('moved');
  });
  const error = await t.throwsAsync(api.check('URI:CHK:x'));
  t.true(error instanceof TahoeHttpError);
  t.is((error as TahoeHttpError).status, 302);
});
