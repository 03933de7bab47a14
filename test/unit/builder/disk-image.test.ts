import test from 'ava';
import { bootEntryConf, ESP_MIB, FIXED, GPT_ROOT_X86_64_TYPE, loaderConf, mke2fsArgv, sfdiskScript } from '../../../builder/disk-image.ts';
import { defaultBuildConfig } from '../../../builder/build-config.ts';
import { imageLayerArgv, imageLayerSpec } from '../../../builder/image-layer.ts';
import { computePlan, IMAGE_PACKAGES } from '../../../builder/plan.ts';
import { DEVICE_PACKAGES, defaultSpec } from '../../../builder/target-rootfs.ts';

const plan = computePlan(
  { format: 'sysback-grid/1', name: 'g', introducers: [{ name: 'i', furl: 'pb://abcd@tcp:127.0.0.1:1/x' }], publicDirectory: 'URI:DIR2:ab:cd', shares: { needed: 1, happy: 1, total: 1 }, listen: 'tcp', transport: 'webapi' },
  { config: defaultBuildConfig(), overlay: { layers: ['base', 'image'], sources: [], manifest: { defaults: { file: '0644', dir: '0755', owner: '0:0' }, entries: {} } }, appBundle: 'x' },
);

test('GPT: an ESP then a discoverable x86-64 root partition, fixed GUIDs, sizes in MiB', (t) => {
  const script = sfdiskScript(2048);
  t.regex(script, /^label: gpt$/m);
  t.regex(script, new RegExp(`^label-id: ${FIXED.diskGuid}$`, 'm'));
  t.regex(script, new RegExp(`start=2048, size=${ESP_MIB * 2048}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B`));
  t.regex(script, new RegExp(`start=${(1 + ESP_MIB) * 2048}, size=${2048 * 2048}, type=${GPT_ROOT_X86_64_TYPE}`));
});

test('ext4 from a tree: label root (the kernel command line finds it), fixed UUID and hash seed, no loop mount', (t) => {
  const argv = mke2fsArgv('/tree', '/out/root.ext4', 2048);
  t.deepEqual(argv.slice(argv.indexOf('-d'), argv.indexOf('-d') + 2), ['-d', '/tree']);
  t.deepEqual(argv.slice(argv.indexOf('-L'), argv.indexOf('-L') + 2), ['-L', 'root']);
  t.true(argv.includes(FIXED.rootFsUuid));
  t.true(argv.some((a) => a.includes(`hash_seed=${FIXED.hashSeed}`)));
  t.is(argv.at(-1), '2048M');
});

test('systemd-boot: the normal entry is the default; the recover entry adds sysback.mode=recover', (t) => {
  t.regex(loaderConf(plan), /^default sysback\.conf$/m);
  t.regex(loaderConf(plan), /^timeout 3$/m);
  const recover = plan.boot.entries.find((e) => e.id === 'sysback-recover')!;
  const conf = bootEntryConf(recover.title, recover.options);
  t.regex(conf, /^title Recover this router from the grid$/m);
  t.regex(conf, /^options .*root=LABEL=root .*quiet .*sysback\.mode=recover$/m);
  t.regex(conf, /^linux \/vmlinuz$/m);
});

test('the image layer installs only what the base lacks, from a copy of the base, with the same mirror', (t) => {
  const spec = imageLayerSpec([...DEVICE_PACKAGES, ...IMAGE_PACKAGES]);
  t.deepEqual(spec.packages, [...IMAGE_PACKAGES].sort());
  const argv = imageLayerArgv(spec, '/cache/base', '/cache/layer');
  t.true(argv.includes('--variant=custom'));
  t.true(argv.some((a) => a.startsWith('--setup-hook=tar -C \'/cache/base\'') && a.includes('--exclude=./dev/*')));
  t.is(argv.at(-1), `deb ${defaultSpec().mirror} trixie main`);
});
