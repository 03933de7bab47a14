// The sysback command line: one commander program, each area registering its own commands
// (`grid`, `node`, `backup`, `status`, `configure`, `recover`, `firstboot`, `build`, `boot`, `install`).
// Contract: stdout is data (`--json` stays clean), stderr is for people; every failure goes through
// the one handler in core/errors.ts, which prints one line plus a hint and picks the exit code.
import { Command, CommanderError } from 'commander';
import { EXIT, reportFatal } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';
import { registerGridCommands } from '../grid/grid-commands.ts';
import { registerNodeCommands } from '../grid/node-commands.ts';
import { registerBackupCommands } from '../backup/backup-commands.ts';
import { registerFlowCommands } from '../firstboot/flow-commands.ts';
import { registerBuildCommands } from '../builder/build-commands.ts';
import { registerFirstbootCommands } from '../firstboot/firstboot-command.ts';

export function buildProgram(): Command {
  const program = new Command('sysback')
    .description('Router images that back their configuration up to a Tahoe-LAFS grid and recover from it')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride();
  registerGridCommands(program);
  registerNodeCommands(program);
  registerBackupCommands(program);
  registerFlowCommands(program);
  registerBuildCommands(program);
  registerFirstbootCommands(program);
  // Every subcommand gets --version too, and throws instead of exiting, so the one handler decides.
  const visit = (command: Command) => {
    for (const sub of command.commands) {
      sub.exitOverride();
      if (!sub.options.some((o) => o.long === '--version')) sub.version(VERSION, '-V, --version');
      visit(sub);
    }
  };
  visit(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version are not failures; commander already printed its message
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportFatal(error, (text) => process.stderr.write(text));
  }
}

const code = await main(process.argv);
process.exitCode = code;
