// Builds @tvmgo/token-client (../../../tokenclient), which this UI uses
// through a file: dependency, so that `npm run build` always bundles its
// current sources: npm ci there when its node_modules is missing, then its
// build (tsc → dist/).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'tokenclient');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
if (!existsSync(path.join(dir, 'node_modules'))) {
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
}
execFileSync(npm, ['run', 'build'], { cwd: dir, stdio: 'inherit' });
