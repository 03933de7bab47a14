// Owns the builder's command line: `sysback build`, `sysback boot` and `sysback install`. Parsing only:
// each action builds a Context and calls the module that does the work. stdout carries data (the
// plan, --json results); progress goes to stderr through the log.
import type { Command } from 'commander';
import { createContext } from '../core/context.ts';
import { runBuild, type BuildOptions } from './build.ts';

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function registerBuildCommands(program: Command): void {
  program
    .command('build')
    .description('build a router image from grid.json: overlay, overlay.tar.gz, rootfs.tar, vmlinuz, initrd.img, disk.img')
    .requiredOption('--grid <file>', 'grid.json from `sysback grid init`')
    .requiredOption('--out <dir>', 'output directory')
    .option('--config <file>', 'build.json: hostname, backup interval, retention, packages, kernel command line')
    .option('--dry-run', 'print the plan and write nothing')
    .option('--json', 'machine-readable output on stdout')
    .option('--overlay-only', 'stop after overlay/ and overlay.tar.gz')
    .option('--app <file>', 'the bundled app to install (default: bundle now with scripts/bundle.ts)')
    .option('--overlays <dir>', 'overlay source folders (default: the overlays/ shipped with sysback)')
    .action(async (opts: { grid: string; out: string; config?: string; dryRun?: boolean; json?: boolean; overlayOnly?: boolean; app?: string; overlays?: string }) => {
      const ctx = createContext();
      const options: BuildOptions = {
        gridFile: opts.grid,
        outDir: opts.out,
        configFile: opts.config,
        dryRun: opts.dryRun,
        overlayOnly: opts.overlayOnly,
        appBundle: opts.app,
        overlaysDir: opts.overlays,
      };
      const result = await runBuild(ctx, options);
      if (opts.dryRun) {
        if (opts.json) writeJson(result.plan);
        else process.stdout.write(describePlan(result.plan));
        return;
      }
      if (opts.json) {
        writeJson({ outDir: opts.out, overlaySha256: result.overlay?.sha256, image: result.image, seconds: result.seconds });
      } else {
        process.stdout.write(`overlay.tar.gz sha256 ${result.overlay?.sha256}\n`);
        for (const [step, s] of Object.entries(result.seconds)) process.stdout.write(`${step}: ${s} s\n`);
      }
    });
}

function describePlan(plan: import('./plan.ts').Plan): string {
  const lines = [`build plan for grid "${plan.grid}" (hostname ${plan.hostname}, layers ${plan.layers.join(', ')})`, 'overlay:'];
  for (const e of plan.entries) {
    const owner = e.kind === 'symlink' ? '' : ` ${e.mode.toString(8).padStart(4, '0')} ${e.uid}:${e.gid}`;
    const what = e.kind === 'file' ? (e.rendered ? `rendered from ${e.from}` : `from ${e.from}`) : e.kind === 'copy' ? `copy of ${e.source}` : e.kind === 'symlink' ? `-> ${e.target}` : 'directory';
    lines.push(`  ${e.path}${owner}  ${what}`);
  }
  lines.push(`units enabled: ${plan.units.enable.join(' ')}`, `units masked: ${plan.units.mask.join(' ')}`);
  lines.push(`packages (${plan.packages.length}): ${plan.packages.join(' ')}`);
  lines.push(`kernel command line: ${plan.kernelCmdline.join(' ')}`);
  for (const b of plan.boot.entries) lines.push(`boot entry "${b.title}": ${b.options}`);
  lines.push(`outputs: ${plan.outputs.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
