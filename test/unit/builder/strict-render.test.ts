import test from 'ava';
import { UserError } from '../../../core/errors.ts';
import { renderStrict } from '../../../builder/strict-render.ts';

test('renders values, sections and dotted names without HTML escaping', (t) => {
  const out = renderStrict('host={{h}} {{#tor}}port={{p}}{{/tor}}{{^tor}}plain{{/tor}} {{{raw}}} {{a.b}} <{{amp}}>', {
    h: 'r1', tor: false, raw: '{"x":1}', a: { b: 'deep' }, amp: 'a&b',
  });
  t.is(out, 'host=r1 plain {"x":1} deep <a&b>');
});

test('a missing key is an error naming the key and the template, never an empty string', (t) => {
  const error = t.throws(() => renderStrict('interval={{interval_hours}}\nname={{name}}', { name: 'x' }, 'overlays/base/etc/x.mustache'), { instanceOf: UserError });
  t.regex(error!.message, /overlays\/base\/etc\/x\.mustache/);
  t.regex(error!.message, /\{\{interval_hours\}\}/);
  t.notRegex(error!.message, /\{\{name\}\}/);
});

test('a missing key inside an enabled section fails; inside a disabled one it is never rendered', (t) => {
  t.throws(() => renderStrict('{{#tor}}SocksPort {{socks_port}}{{/tor}}', { tor: true }), { instanceOf: UserError, message: /socks_port/ });
  t.is(renderStrict('{{#tor}}SocksPort {{socks_port}}{{/tor}}', { tor: false }), '');
});

test('a section over a missing key is an error (switch sections off with false explicitly)', (t) => {
  t.throws(() => renderStrict('{{#tor}}x{{/tor}}', {}), { instanceOf: UserError, message: /tor/ });
});

test('null counts as missing; zero and empty string are values', (t) => {
  t.throws(() => renderStrict('{{x}}', { x: null }), { instanceOf: UserError });
  t.is(renderStrict('{{x}}|{{y}}', { x: 0, y: '' }), '0|');
});

test('a malformed template is a UserError', (t) => {
  t.throws(() => renderStrict('{{#open}}never closed', { open: true }, 'bad.mustache'), { instanceOf: UserError, message: /bad\.mustache/ });
});
