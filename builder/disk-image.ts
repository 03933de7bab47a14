// Owns turning a root tree into a bootable x86-64 UEFI disk without loop mounts (notes/image-boot.md
// §2, §3b): ext4 from the tree with `mke2fs -d` (root), an EFI system partition made as a file with
// mkfs.vfat + mtools holding systemd-boot, the kernel, the initrd and two boot entries (normal and
// "Recover this router from the grid"), and a GPT disk image assembled with sfdisk and dd. UUIDs, the
// volume id and the ext4 hash seed are fixed and mke2fs gets SOURCE_DATE_EPOCH, so the same tree makes
// the same file system layout. The argv builders are pure; `makeDiskImage` runs them.
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import type { Plan } from './plan.ts';

export const ESP_MIB = 128;
export const GPT_ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
/** discoverable partitions: "Linux root (x86-64)", so systemd-repart and gpt-auto know it */
export const GPT_ROOT_X86_64_TYPE = '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709';
export const FIXED = {
  diskGuid: '5b1c7a4e-0000-4000-8000-535953424143',
  espGuid: '5b1c7a4e-0001-4000-8000-535953424143',
  rootGuid: '5b1c7a4e-0002-4000-8000-535953424143',
  rootFsUuid: '5b1c7a4e-0003-4000-8000-535953424143',
  hashSeed: '5b1c7a4e-0004-4000-8000-535953424143',
  espVolumeId: '5b1c7a4e',
};

export function mke2fsArgv(tree: string, image: string, sizeMiB: number): string[] {
  return [
    'mke2fs', '-q', '-F', '-t', 'ext4', '-L', 'root', '-U', FIXED.rootFsUuid,
    '-E', `root_owner=0:0,hash_seed=${FIXED.hashSeed}`, '-d', tree, image, `${sizeMiB}M`,
  ];
}

export function loaderConf(plan: Plan): string {
  return `timeout ${plan.boot.timeoutSeconds}\ndefault ${plan.boot.entries[0]!.id}.conf\nconsole-mode keep\neditor no\n`;
}

export function bootEntryConf(title: string, options: string): string {
  return `title ${title}\nlinux /vmlinuz\ninitrd /initrd.img\noptions ${options}\n`;
}

export function sfdiskScript(rootMiB: number): string {
  return [
    'label: gpt',
    `label-id: ${FIXED.diskGuid}`,
    'unit: sectors',
    `start=2048, size=${ESP_MIB * 2048}, type=${GPT_ESP_TYPE}, uuid=${FIXED.espGuid}, name="esp"`,
    `start=${(1 + ESP_MIB) * 2048}, size=${rootMiB * 2048}, type=${GPT_ROOT_X86_64_TYPE}, uuid=${FIXED.rootGuid}, name="root"`,
    '',
  ].join('\n');
}

export interface DiskInputs {
  tree: string;
  vmlinuz: string;
  initrd: string;
  /** systemd-boot's EFI binary, from the tree */
  bootEfi: string;
}

export async function makeDiskImage(ctx: Context, plan: Plan, inputs: DiskInputs, outDir: string): Promise<string> {
  const { runner } = ctx;
  const work = path.join(outDir, '.disk-work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const env = { E2FSPROGS_FAKE_TIME: String(plan.sourceDateEpoch), MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(plan.sourceDateEpoch), TZ: 'UTC' };
  try {
    const rootImg = path.join(work, 'root.ext4');
    await runner.run(mke2fsArgv(inputs.tree, rootImg, plan.rootSizeMiB), { env, hint: 'the tree may be larger than rootSizeMiB in build.json' });
    const espImg = path.join(work, 'esp.img');
    await runner.run(['mkfs.vfat', '-F', '32', '-n', 'ESP', '-i', FIXED.espVolumeId, '--invariant', '-C', espImg, String(ESP_MIB * 1024)], { env });
    const m = (args: string[]) => runner.run(args, { env });
    await m(['mmd', '-i', espImg, '::/EFI', '::/EFI/BOOT', '::/loader', '::/loader/entries']);
    await m(['mcopy', '-i', espImg, '-m', inputs.bootEfi, '::/EFI/BOOT/BOOTX64.EFI']);
    await m(['mcopy', '-i', espImg, '-m', inputs.vmlinuz, '::/vmlinuz']);
    await m(['mcopy', '-i', espImg, '-m', inputs.initrd, '::/initrd.img']);
    const loader = path.join(work, 'loader.conf');
    writeFileSync(loader, loaderConf(plan));
    await m(['mcopy', '-i', espImg, loader, '::/loader/loader.conf']);
    for (const entry of plan.boot.entries) {
      const file = path.join(work, `${entry.id}.conf`);
      writeFileSync(file, bootEntryConf(entry.title, entry.options));
      await m(['mcopy', '-i', espImg, file, `::/loader/entries/${entry.id}.conf`]);
    }
    const disk = path.join(outDir, 'disk.img');
    rmSync(disk, { force: true });
    const rootMiB = Math.ceil(statSync(rootImg).size / 1048576);
    // 1 MiB before the ESP, 1 MiB after root for the backup GPT
    await runner.run(['truncate', '-s', `${1 + ESP_MIB + rootMiB + 1}M`, disk]);
    await runner.run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', disk], { input: sfdiskScript(rootMiB) });
    await runner.run(['dd', `if=${espImg}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
    await runner.run(['dd', `if=${rootImg}`, `of=${disk}`, 'bs=1M', `seek=${1 + ESP_MIB}`, 'conv=notrunc,sparse', 'status=none']);
    return disk;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
