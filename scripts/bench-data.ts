// Owns the benchmark's data set (issue 3: "a generated tree of ~3,000 config-like files plus one
// 50 MB file"). Contract: the same seed gives the same tree, byte for byte (paths, contents, modes,
// mtimes), so two runs of `npm run bench` measure the same work. Files are written from the host
// into a router's root (a host directory); the device paths they get are returned for files.txt.
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../test/support/seeded-random.ts';

export interface BenchDataOptions {
  seed: number;
  /** small config-like files, spread over nested directories */
  files: number;
  /** size of the one large file */
  bigBytes: number;
}

export interface BenchData {
  /** device paths to add to /etc/sysback/files.txt */
  listed: string[];
  files: number;
  dirs: number;
  smallBytes: number;
  bigBytes: number;
  bigPath: string;
}

export const TREE_DIR = '/etc/benchapp';
export const BIG_FILE = '/var/lib/benchapp/firmware-cache.bin';
const MTIME = new Date('2026-01-02T03:04:05Z');


const WORDS = ['interface', 'address', 'gateway', 'netmask', 'option', 'enabled', 'disabled', 'timeout', 'retries', 'proto',
  'static', 'dhcp', 'lan', 'wan', 'wlan0', 'eth0', 'br-lan', 'zone', 'forward', 'accept', 'reject', 'drop', 'masq', 'mtu',
  'ssid', 'encryption', 'psk2', 'channel', 'hostname', 'server', 'port', 'listen', 'allow', 'deny', 'log_level', 'cache'];

/** A config-like text file: sections and key = value lines, 150 B to ~5 KB. */
function configText(rand: () => number, index: number): string {
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)]!;
  const lines = [`# benchapp generated config ${index}`, ''];
  const sections = 1 + Math.floor(rand() * 6);
  for (let s = 0; s < sections; s++) {
    lines.push(`[${pick()} "${pick()}${Math.floor(rand() * 100)}"]`);
    const keys = 2 + Math.floor(rand() * 14);
    for (let k = 0; k < keys; k++) {
      const value = rand() < 0.3 ? `10.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}` : rand() < 0.5 ? String(Math.floor(rand() * 65535)) : `${pick()}-${pick()}`;
      lines.push(`\t${pick()} = ${value}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * The large file: semi-compressible (about 2:1 under gzip), like a cache of firmware or logs. Each
 * 64 KiB block is half AES-CTR keystream (incompressible, seeded) and half repeated text lines.
 */
function writeBigFile(file: string, bytes: number, seed: number): void {
  const key = createHash('sha256').update(`sysback-bench-${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const block = 64 * 1024;
  const text = Buffer.alloc(block / 2);
  const line = Buffer.from('2026-01-02T03:04:05Z benchapp[1234]: link up on wan, lease renewed, nothing to report\n');
  for (let i = 0; i < text.length; i += line.length) line.copy(text, i);
  const fd = openSync(file, 'w', 0o600);
  try {
    for (let written = 0; written < bytes; written += block) {
      const random = cipher.update(Buffer.alloc(block / 2));
      const chunk = Buffer.concat([random, text]).subarray(0, Math.min(block, bytes - written));
      writeSync(fd, chunk);
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes the data set under `root` (the router's root on the host) and describes it. */
export function generateBenchData(root: string, options: BenchDataOptions): BenchData {
  const rand = seededRandom(options.seed).next;
  const host = (devicePath: string) => path.join(root, devicePath);
  const dirs = new Set<string>();
  let smallBytes = 0;
  // three levels: 12 services x 5 groups x N files each
  const services = 12;
  const groups = 5;
  const perDir = Math.ceil(options.files / (services * groups));
  let made = 0;
  for (let s = 0; s < services && made < options.files; s++) {
    for (let g = 0; g < groups && made < options.files; g++) {
      const dir = `${TREE_DIR}/service-${String(s).padStart(2, '0')}/${g === 0 ? 'conf.d' : `group-${g}`}`;
      mkdirSync(host(dir), { recursive: true, mode: 0o755 });
      dirs.add(dir);
      for (let f = 0; f < perDir && made < options.files; f++, made++) {
        const content = configText(rand, made);
        const file = host(`${dir}/${WORDS[made % WORDS.length]}-${f}.conf`);
        const mode = rand() < 0.1 ? 0o600 : 0o644;
        writeFileSync(file, content, { mode });
        utimesSync(file, MTIME, MTIME);
        smallBytes += Buffer.byteLength(content);
      }
    }
  }
  mkdirSync(host(path.posix.dirname(BIG_FILE)), { recursive: true, mode: 0o755 });
  writeBigFile(host(BIG_FILE), options.bigBytes, options.seed);
  utimesSync(host(BIG_FILE), MTIME, MTIME);
  return {
    listed: [TREE_DIR, path.posix.dirname(BIG_FILE)],
    files: made,
    dirs: dirs.size,
    smallBytes,
    bigBytes: options.bigBytes,
    bigPath: BIG_FILE,
  };
}
