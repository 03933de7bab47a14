// Owns the `sysback firstboot` command line: parsing only. The action loads the hook when it runs,
// builds a Context and the real console (stdin for answers, prompts on the terminal among
// stderr/stdout: under the first-boot unit stdin and stdout are /dev/console while stderr goes to the
// journal too) and calls runFirstboot. The flows come from the app (cli/lazy-flows.ts loads each only when
// it runs), so a configured router's boot check loads neither.
import type { Command } from 'commander';
import type { FirstbootDeps } from './firstboot.ts';

/** The console's output: the stream that is a terminal (stderr first), else stderr. */
function consoleOutput(): NodeJS.WriteStream {
  if (process.stderr.isTTY) return process.stderr;
  if (process.stdout.isTTY) return process.stdout;
  return process.stderr;
}

export function registerFirstbootCommands(program: Command, deps: Partial<FirstbootDeps> = {}): void {
  program
    .command('firstboot')
    .description('the first-boot hook: if this router is not configured, ask "new or recover?" (or read the answers) and run that flow')
    .option('--root <dir>', 'the device root (a test tree, or / on the device)', '/')
    .option('--answers <file>', 'answers for a headless boot (default: /etc/sysback/answers.json, then the credential sysback.answers)')
    .option('--no-reboot', 'do everything but reboot; print what the reboot would do')
    .option('--cmdline <file>', 'the kernel command line to read sysback.mode= from (default /proc/cmdline; PID 1\'s arguments in a container)')
    .action(async (opts: { root: string; answers?: string; reboot: boolean; cmdline?: string }) => {
      const [{ createContext }, { createConsolePrompter }, { defaultFirstbootDeps, runFirstboot }] = await Promise.all([
        import('../core/context.ts'),
        import('../core/prompter-console.ts'),
        import('./firstboot.ts'),
      ]);
      const ctx = createContext({ root: opts.root });
      const console = () => createConsolePrompter({ input: process.stdin, output: consoleOutput() });
      await runFirstboot(
        ctx,
        { answersFile: opts.answers, noReboot: !opts.reboot, cmdlineFile: opts.cmdline },
        { ...defaultFirstbootDeps(console), ...deps },
      );
    });
}
