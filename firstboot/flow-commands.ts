// Owns `sysback configure` (the "new" flow) and `sysback recover` (the "recover" flow) run directly,
// without the first-boot question: on a device over SSH, in tests (`--root`, `--no-reboot`), and on
// any Linux computer with Tahoe (the "by hand" journey: `sysback recover --root DIR`). Declarations
// only: the action loads what it uses when it runs, and the flows come from the app (cli/lazy-flows.ts).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { Answers } from '../core/config/answers.ts';
import type { Context } from '../core/context.ts';
import { UserError } from '../core/errors.ts';
import type { Prompter } from '../core/prompter.ts';
import type { FlowOptions, Flows } from './flows.ts';

interface FlowCommandOptions {
  root: string;
  grid?: string;
  answers?: string;
  reboot: boolean;
  transport?: string;
  /** recover only: list what the restore would change, write nothing under the root */
  dryRun?: boolean;
}

/** Seeds /etc/sysback/sysback.json from grid.json when the root has none. */
async function seedDeviceConfig(ctx: Context, gridFile: string | undefined, transport: string | undefined): Promise<void> {
  const [{ loadJsonConfig }, { deviceConfigFromGrid, writeDeviceConfig }, { validateGridConfig }, { DEVICE }] = await Promise.all([
    import('../core/config/validate.ts'),
    import('../core/config/device-config.ts'),
    import('../core/config/grid-config.ts'),
    import('../core/device-paths.ts'),
  ]);
  if (existsSync(ctx.path(DEVICE.config))) {
    if (gridFile) ctx.log.info(`${DEVICE.config} exists: --grid is not needed and was not used`);
    return;
  }
  if (!gridFile) throw new UserError(`this root has no ${DEVICE.config}`, 'pass --grid grid.json to seed it');
  const grid = loadJsonConfig(gridFile, validateGridConfig);
  if (transport !== undefined && transport !== 'mount' && transport !== 'webapi') {
    throw new UserError(`--transport must be mount or webapi, not "${transport}"`);
  }
  const config = deviceConfigFromGrid(grid, transport ? { transport: transport as 'mount' | 'webapi' } : {});
  await writeDeviceConfig(ctx, config);
}

async function prompterFor(answersFile: string | undefined, expected: 'new' | 'recover'): Promise<{ prompter: Prompter; answers: Answers | undefined }> {
  const [{ createConsolePrompter }, { createScriptedPrompter }, { answersPassword, answersScript, loadAnswers }] = await Promise.all([
    import('../core/prompter-console.ts'),
    import('../core/prompter-scripted.ts'),
    import('../core/config/answers.ts'),
  ]);
  if (!answersFile) {
    return { prompter: createConsolePrompter({ input: process.stdin, output: process.stderr.isTTY ? process.stderr : process.stdout }), answers: undefined };
  }
  const answers = loadAnswers(answersFile);
  if (answers.mode !== expected) {
    throw new UserError(`the answers file says mode "${answers.mode}", but this command runs "${expected}"`, `fix "mode" in ${answersFile}`);
  }
  const password = await answersPassword(answers, answersFile);
  return { prompter: createScriptedPrompter(answersScript(answers, password), { origin: `the answers file ${answersFile}` }), answers };
}

function register(program: Command, flows: Flows, name: 'configure' | 'recover', description: string): void {
  const command = program.command(name);
  if (name === 'recover') {
    command.option('--dry-run', 'list what the restore would change (added, changed, unchanged) and stop: no file under the root, no state');
  }
  command
    .description(description)
    .option('--root <dir>', 'device root', '/')
    .option('--grid <file>', 'grid.json; seeds /etc/sysback/sysback.json when the root has none')
    .option('--answers <file>', 'answers for a headless run (JSON: mode, alias, password or passwordFile, ...)')
    .option('--transport <kind>', 'mount or webapi, when seeding the device config')
    .option('--no-reboot', 'do everything but reboot; print what the reboot would do')
    .action(async (options: FlowCommandOptions) => {
      const { createContext } = await import('../core/context.ts');
      const ctx = createContext({ root: options.root });
      await seedDeviceConfig(ctx, options.grid, options.transport);
      const { prompter, answers } = await prompterFor(options.answers, name === 'configure' ? 'new' : 'recover');
      // recover's dryRun (recovery/recover.ts RecoverOptions) travels with the flow options
      const flowOptions: FlowOptions & { dryRun?: boolean } = {
        answers,
        answersFile: options.answers,
        noReboot: !options.reboot,
        replacesConfiguredRouter: name === 'recover',
        ...(options.dryRun ? { dryRun: true } : {}),
      };
      await (name === 'configure' ? flows.configure : flows.recover)(ctx, prompter, flowOptions);
    });
}

export function registerFlowCommands(program: Command, flows: Flows): void {
  register(program, flows, 'configure', 'the "new" flow: cron, private and public Tahoe nodes, alias + password, identity file, first backup, recovery card, reboot');
  register(program, flows, 'recover', 'the "recover" flow: public node, pick your alias, password, decrypt, private node, restore a generation to the root, reboot');
}
