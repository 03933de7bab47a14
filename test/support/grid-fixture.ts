// Small grid.json values for unit tests (pure data, no grid runs): a TCP grid and a Tor grid.
import type { GridConfig } from '../../core/config/grid-config.ts';

export const tcpGrid: GridConfig = {
  format: 'sysback-grid/1',
  name: 'testgrid',
  introducers: [
    { name: 'intro-1', furl: 'pb://aaaabbbbccccdddd@tcp:127.0.0.1:41001/introducer' },
    { name: 'intro-2', furl: 'pb://eeeeffffgggghhhh@tcp:127.0.0.1:41002/introducer' },
  ],
  publicDirectory: 'URI:DIR2:abcdefgh:ijklmnop',
  shares: { needed: 2, happy: 3, total: 4 },
  listen: 'tcp',
  transport: 'webapi',
};

export const torGrid: GridConfig = {
  ...tcpGrid,
  name: 'torgrid',
  introducers: [
    { name: 'intro-1', furl: `pb://aaaabbbbccccdddd@tor:${'a'.repeat(56)}.onion:3457/introducer` },
    { name: 'intro-2', furl: `pb://eeeeffffgggghhhh@tor:${'b'.repeat(56)}.onion:3457/introducer` },
  ],
  listen: 'tor',
  transport: 'mount',
  tor: { controlPort: 'tcp:127.0.0.1:39051', socksPort: 39050 },
};
