// The sysback version, stamped into manifests and the CLI. Bundling inlines package.json.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
