// Owns the one commander program both apps are made of (cli/sysback.ts, the host app with every
// command; cli/sysback-device.ts, the device app the image carries): name, version, usage errors and
// the one error handler. Each app passes the `register*Commands` it carries. Contract: stdout is data
// (`--json` stays clean), stderr is for people; every failure goes through core/errors.ts, which
// prints one line plus a hint and picks the exit code. Command modules declare names, options and help
// only; each action loads its own code with import() when it runs, so starting the program loads
// commander and these declarations, nothing more.
import { Command, CommanderError } from 'commander';
import { EXIT, reportFatal, UserError } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';

export type RegisterCommands = (program: Command) => void;

export function buildProgram(registers: readonly RegisterCommands[]): Command {
  const program = new Command('sysback')
    .description('Router images that back their configuration up to a Tahoe-LAFS grid and recover from it')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride();
  for (const register of registers) register(program);
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

/** The host's commands, as the device app answers them: hidden from its help, refused with a hint. */
export const HOST_COMMANDS = ['grid', 'build', 'boot', 'install'] as const;

export function registerHostCommandRefusals(program: Command): void {
  for (const name of HOST_COMMANDS) {
    program
      .command(name, { hidden: true })
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new UserError(
          `\`sysback ${name}\` is a host command: this is the device app, which carries only the router's commands`,
          `run it on the build host with the full sysback (npm run build; node dist/sysback.mjs ${name} ...)`,
        );
      });
  }
}

export async function main(argv: string[], registers: readonly RegisterCommands[]): Promise<number> {
  const program = buildProgram(registers);
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
