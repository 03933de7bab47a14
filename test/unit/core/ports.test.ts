import test from 'ava';
import net from 'node:net';
import { assertPortFree, freePorts, isPortFree } from '../../../core/ports.ts';
import { UserError } from '../../../core/errors.ts';

test('free ports are distinct, below the ephemeral range, and really free', async (t) => {
  const ports = await freePorts(20);
  t.is(new Set(ports).size, 20);
  for (const port of ports) {
    t.true(port >= 20000 && port < 32768, String(port));
    t.true(await isPortFree(port));
  }
});

test('a taken port is named in the error with its owner', async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.teardown(() => server.close());
  const error = await t.throwsAsync(assertPortFree(port, 'node storage-1'), { instanceOf: UserError });
  t.regex(error.message, new RegExp(`127\\.0\\.0\\.1:${port}, needed by node storage-1`));
});
