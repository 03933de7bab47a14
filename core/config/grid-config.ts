// Owns the schema of grid.json: what a router needs to join a community grid (DESIGN §2, journey 1).
// Written by `sysback grid init`, read by the builder and by the device. It holds no per-device
// secret; the public directory's write cap is shared by design (everyone links their alias there).
import { z } from 'zod';
import { validateWith, type Validation } from './validate.ts';

export const GRID_FORMAT = 'sysback-grid/1';

/** A foolscap URL: pb://TUBID@HINTS/SWISSNUM */
const furl = z.string().regex(/^pb:\/\/[a-z2-7]+@[^/\s]+\/[A-Za-z0-9_-]+$/, 'not a fURL (pb://TUBID@HINTS/NAME)');
const dirWriteCap = z.string().regex(/^URI:DIR2:[a-z2-7]+:[a-z2-7]+$/, 'not a Tahoe directory write cap (URI:DIR2:...)');
const endpoint = z.string().regex(/^tcp:(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/, 'not a loopback endpoint (tcp:127.0.0.1:PORT)');

export const sharesSchema = z
  .object({
    needed: z.number().int().min(1).max(256),
    happy: z.number().int().min(1).max(256),
    total: z.number().int().min(1).max(256),
  })
  .strict()
  .refine((s) => s.needed <= s.happy && s.happy <= s.total, {
    message: 'must satisfy needed <= happy <= total',
  });

export const gridSchema = z
  .object({
    format: z.literal(GRID_FORMAT),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
    introducers: z
      .array(z.object({ name: z.string().min(1), furl }).strict())
      .min(1, 'at least one introducer is needed (two are recommended)'),
    publicDirectory: dirWriteCap,
    shares: sharesSchema,
    /** how grid nodes listen: plain TCP on loopback (tests, demo) or Tor onion services */
    listen: z.enum(['tcp', 'tor']),
    /** the device's transport to its private area */
    transport: z.enum(['mount', 'webapi']),
    tor: z
      .object({
        /** tor's control port as Tahoe wants it; never a default port, see DESIGN §7 */
        controlPort: endpoint,
        /** a bare SOCKS port number (foolscap ignores HOST:PORT forms) */
        socksPort: z.number().int().min(1).max(65535),
        /**
         * tests and demos only: a private Tor network (TestingTorNetwork 1) whose authorities are on
         * loopback; the router's system tor then uses these authorities and never the public network
         */
        testNetwork: z
          .object({
            dirAuthorities: z
              .array(z.string().regex(/^[A-Za-z0-9]{1,19} orport=\d{1,5} v3ident=[0-9A-F]{40} 127\.0\.0\.1:\d{1,5} [0-9A-F]{40}$/, 'a DirAuthority line on 127.0.0.1 (NAME orport=P v3ident=HEX 127.0.0.1:P FINGERPRINT)'))
              .min(1),
            /**
             * where the router's tor finds a SOCKS5 proxy to the authorities and relays, which are on
             * the host's loopback (tor's Socks5Proxy; `sysback boot` runs it, builder/relay-proxy.ts);
             * a private address only, so no proxy out on the internet is ever named here
             */
            socks5Proxy: z
              .string()
              .regex(/^(10|127)\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d{1,5}$|^192\.168\.\d{1,3}\.\d{1,3}:\d{1,5}$/, 'a private IPv4 address and port (10.x, 127.x or 192.168.x), e.g. 10.0.2.100:1080')
              .optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((grid, ctx) => {
    if (grid.listen === 'tor' && !grid.tor) {
      ctx.addIssue({ code: 'custom', path: ['tor'], message: 'required when listen is "tor"' });
    }
    if (grid.listen === 'tcp' && grid.tor) {
      ctx.addIssue({ code: 'custom', path: ['tor'], message: 'a tor block with listen "tcp" would make routers announce their IP: use listen "tor", or drop the tor block' });
    }
    if (grid.listen === 'tor') {
      // a Tor grid must not reveal an IP: every hint of every fURL is an onion address
      grid.introducers.forEach((intro, i) => {
        const hints = furlHints(intro.furl);
        const bad = hints.filter((hint) => !/^tor:[a-z2-7]{56}\.onion:\d{1,5}$/.test(hint));
        if (bad.length > 0) {
          ctx.addIssue({ code: 'custom', path: ['introducers', i, 'furl'], message: `a Tor grid's fURLs name onion services only, not ${bad.join(', ')}` });
        }
      });
    }
  });

/** The location hints of a fURL (pb://TUBID@HINT,HINT/NAME). */
export function furlHints(furl: string): string[] {
  const at = /^pb:\/\/[^@]+@([^/]*)\//.exec(furl)?.[1] ?? '';
  return at.split(',').filter(Boolean);
}

export type GridConfig = z.infer<typeof gridSchema>;
export type Shares = z.infer<typeof sharesSchema>;

export function validateGridConfig(input: unknown): Validation<GridConfig> {
  return validateWith(gridSchema, input);
}

/**
 * Encoding that suits a grid of `storageNodes` servers: every server gets a share, uploads still
 * succeed with one server down (happy = total - 1, at most 7 as in Tahoe's default), and any half of
 * the shares rebuilds the file.
 */
export function sharesFor(storageNodes: number): Shares {
  const total = Math.max(1, Math.min(storageNodes, 10));
  const happy = Math.max(1, Math.min(total - 1, 7));
  const needed = Math.max(1, Math.min(happy, Math.ceil(total / 2)));
  return { needed, happy, total };
}
