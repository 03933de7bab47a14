import test from 'ava';
import { buildProgram, HOST_COMMANDS, registerHostCommandRefusals } from '../../../cli/program.ts';
import { UserError } from '../../../core/errors.ts';

for (const name of HOST_COMMANDS) {
  test(`the device app answers \`sysback ${name}\` with "this is a host command", whatever its options`, async (t) => {
    const program = buildProgram([registerHostCommandRefusals]);
    const error = await t.throwsAsync(program.parseAsync(['node', 'sysback', name, '--grid', 'grid.json', 'extra'], { from: 'node' }), { instanceOf: UserError });
    t.regex(error!.message, new RegExp(`\`sysback ${name}\` is a host command`));
    t.regex((error as UserError).hint ?? '', /dist\/sysback\.mjs/);
  });
}

test("the host commands are hidden from the device app's help", (t) => {
  const program = buildProgram([registerHostCommandRefusals]);
  const help = program.helpInformation();
  for (const name of HOST_COMMANDS) t.notRegex(help, new RegExp(`^\\s+${name}\\b`, 'm'));
});
