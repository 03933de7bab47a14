import test from 'ava';
import { chmod, mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Mustache from 'mustache';
import {
  DEVICE_CONFIG_FORMAT,
  deviceConfigFromGrid,
  readDeviceConfig,
  validateDeviceConfig,
  writeDeviceConfig,
} from '../../../../core/config/device-config.ts';
import type { GridConfig } from '../../../../core/config/grid-config.ts';
import { createContext } from '../../../../core/context.ts';
import { tcpGrid } from '../../../support/grid-fixture.ts';
import { ConfigError, NotConfiguredError } from '../../../../core/errors.ts';

// the builder tests' grid, with the mount transport
const grid: GridConfig = { ...tcpGrid, transport: 'mount' };

function problems(input: unknown): string[] {
  const result = validateDeviceConfig(input);
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

async function tempRoot(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sysback-devcfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('deviceConfigFromGrid: the grid, its transport, and every default', (t) => {
  const config = deviceConfigFromGrid(grid);
  t.deepEqual(config, {
    format: DEVICE_CONFIG_FORMAT,
    grid,
    transport: 'mount',
    backup: { intervalHours: 240, retention: 5, verifyIntervalDays: 30, leaseIntervalDays: 7 },
    tahoe: { reservedSpace: '1G', offerStorage: true, webPorts: { private: 3456, public: 3457 }, sftpPorts: { private: 8022, public: 8023 }, serverWaitSeconds: 300, tubPort: 3458 },
  });
  t.is(deviceConfigFromGrid(grid, { transport: 'webapi', backup: { intervalHours: 24 } }).backup.intervalHours, 24);
  t.is(deviceConfigFromGrid(grid, { transport: 'webapi' }).transport, 'webapi');
});

test('the file the builder renders (sysback.json.mustache) validates to the same shape', (t) => {
  // the template as the builder's overlay holds it; rendered the way the builder does
  const template = `{
  "format": "sysback-device/1",
  "grid": {{{grid_json}}},
  "transport": "{{transport}}",
  "backup": {
    "intervalHours": {{interval_hours}},
    "retention": {{retention}}
  },
  "tahoe": {
    "reservedSpace": "{{reserved_space}}"
  }
}`;
  const text = Mustache.render(template, { grid_json: JSON.stringify(grid), transport: 'webapi', interval_hours: 240, retention: 5, reserved_space: '1G' });
  const result = validateDeviceConfig(JSON.parse(text));
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.value, deviceConfigFromGrid(grid, { transport: 'webapi' }));
});

test('every problem is reported with its path, down into the grid', (t) => {
  const bad = {
    format: 'sysback-device/2',
    grid: { ...grid, introducers: [{ name: 'x', furl: 'http://nope' }] },
    transport: 'ftp',
    backup: { intervalHours: 0, retention: 1.5 },
    tahoe: { reservedSpace: 'lots', webPorts: { private: 80, public: 3457 } },
  };
  t.deepEqual(problems(bad).sort(), [
    'backup.intervalHours: at least one minute (1/60 h)',
    'backup.retention: Invalid input: expected int, received number',
    'format: Invalid input: expected "sysback-device/1"',
    'grid.introducers[0].furl: not a fURL (pb://TUBID@HINTS/NAME)',
    'tahoe.reservedSpace: a size such as 1G or 500MB',
    'tahoe.webPorts.private: a port from 1024 to 65535',
    'transport: Invalid option: expected one of "mount"|"webapi"',
  ]);
});

test('the four node ports must differ', (t) => {
  const config = { ...deviceConfigFromGrid(grid), tahoe: { ...deviceConfigFromGrid(grid).tahoe, sftpPorts: { private: 3456, public: 8023 } } };
  t.deepEqual(problems(config), ['tahoe.sftpPorts.private: port 3456 is already used by tahoe.webPorts.private']);
  // reported even when another field is wrong too
  t.deepEqual(problems({ ...config, transport: 'ftp' }).length, 2);
  t.deepEqual(problems({ ...config, tahoe: { ...config.tahoe, sftpPorts: { private: 8022, public: 8023 }, tubPort: 8022 } }), [
    'tahoe.tubPort: port 8022 is already used by tahoe.sftpPorts.private',
  ]);
});

test('unknown fields are refused (a typo is not silently ignored)', (t) => {
  t.deepEqual(problems({ ...deviceConfigFromGrid(grid), backup: { intervalHour: 24 } }), ['backup: Unrecognized key: "intervalHour"']);
});

test('write then read under ctx.root; a missing file is NotConfiguredError, a damaged one a ConfigError', async (t) => {
  const root = await tempRoot(t);
  const ctx = createContext({ root });
  t.throws(() => readDeviceConfig(ctx), { instanceOf: NotConfiguredError });
  const file = await writeDeviceConfig(ctx, deviceConfigFromGrid(grid));
  t.is(file, path.join(root, 'etc/sysback/sysback.json'));
  t.deepEqual(readDeviceConfig(ctx), deviceConfigFromGrid(grid));
  t.is((await stat(file)).mode & 0o777, 0o600, 'it holds the public directory write cap: readable by root only');
  t.true((await readFile(file, 'utf8')).endsWith('}\n'));
  await writeFile(file, '{"format": "sysback-device/1", "transport": "mount"}');
  const error = t.throws(() => readDeviceConfig(ctx), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.path), ['grid']);
});

test('writeDeviceConfig makes /etc/sysback when the root has none', async (t) => {
  const root = await tempRoot(t);
  await mkdir(path.join(root, 'etc'));
  await writeDeviceConfig(createContext({ root }), deviceConfigFromGrid(grid));
  t.truthy(await stat(path.join(root, 'etc/sysback/sysback.json')));
});

test('cap-readable-by-all: rewriting an existing 0644 device config (an old recovery did) leaves it 0600', async (t) => {
  const root = await tempRoot(t);
  const ctx = createContext({ root });
  const file = await writeDeviceConfig(ctx, deviceConfigFromGrid(grid));
  await chmod(file, 0o644);
  await writeDeviceConfig(ctx, deviceConfigFromGrid(grid));
  t.is((await stat(file)).mode & 0o777, 0o600);
});

test('lease-expiry: a backup interval longer than 20 days is refused (backup runs renew the 31-day leases)', (t) => {
  const config = deviceConfigFromGrid(grid, { transport: 'webapi' });
  t.deepEqual(problems({ ...config, backup: { ...config.backup, intervalHours: 481 } }), [
    'backup.intervalHours: at most 480 h (20 days): leases last 31 days and are renewed by backup runs',
  ]);
  t.deepEqual(problems({ ...config, backup: { ...config.backup, intervalHours: 480 } }), []);
});

test('an interval from one minute up: fractions of an hour are accepted (a test image is made due in minutes), under a minute is refused', (t) => {
  const config = deviceConfigFromGrid(grid, { transport: 'webapi' });
  t.deepEqual(problems({ ...config, backup: { ...config.backup, intervalHours: 0.05 } }), []);
  t.deepEqual(problems({ ...config, backup: { ...config.backup, intervalHours: 1 / 60 } }), []);
  t.deepEqual(problems({ ...config, backup: { ...config.backup, intervalHours: 0.01 } }), ['backup.intervalHours: at least one minute (1/60 h)']);
});
