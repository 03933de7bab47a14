// The transport contract suite (test/support/transport-contract-cases.ts) at unit speed: the web-API
// transport over the in-memory grid's client, the same cases the real grid runs. The mount
// transport is not here: it needs sshfs and Tahoe's SFTP frontend (the integration run has it).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { createWebApiTransport } from '../../../grid/webapi-transport.ts';
import { registerContractCases, registerNodeDownCases, type ContractEnvironment } from '../../support/transport-contract-cases.ts';

const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-transport-mem-'));
const grid = new MemoryGrid();
const node = grid.client({ name: 'transport-client' });
let area = '';

test.before(async () => {
  area = await node.mkdir();
});
test.after.always(() => rmSync(parent, { recursive: true, force: true }));

const environment: ContractEnvironment = {
  kinds: ['webapi'],
  skipReason: () => undefined,
  api: () => node,
  area: () => area,
  work: path.join(parent, 'work'),
  transport: () => createWebApiTransport(node),
  // nothing to leak: no mount, no process
  assertNothingLeft: () => undefined,
  stopNode: async () => node.stop(),
};

registerContractCases(test, environment);
registerNodeDownCases(test, environment);
