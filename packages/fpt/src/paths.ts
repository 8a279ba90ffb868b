/** Where things live: the repository root, the shipped models, the data directory. */
import * as fs from 'fs';
import * as path from 'path';

/** The repository root (the folder whose package.json declares the workspaces), found from this file. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).workspaces) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the fpt-ts repository root above ${__dirname}`);
    dir = up;
  }
}

/** The embedded default backbone shipped in the repository. */
export function defaultModelDir(): string {
  return path.join(repoRoot(), 'models', 'gpt2-nano');
}

/** --data-dir, else FPT_DATA_DIR, else ../shared/data beside the repository, else <repo>/data. */
export function dataDir(flag?: string): string {
  if (flag) return path.resolve(flag);
  if (process.env.FPT_DATA_DIR) return path.resolve(process.env.FPT_DATA_DIR);
  const shared = path.resolve(repoRoot(), '..', 'shared', 'data');
  return fs.existsSync(shared) ? shared : path.join(repoRoot(), 'data');
}
