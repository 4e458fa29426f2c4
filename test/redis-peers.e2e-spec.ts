import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { compileForNode } from './support/child-process.js';
import { REDIS_URL, redisAvailable } from './support/redis.js';

const available = await redisAvailable();
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The oldest and the newest `redis` the peer range (`^5 || ^6`) allows, installed once into `.tmp/`. */
const peers = [
  { range: '5.0.0', expected: /^5\.0\.0$/ },
  { range: '^6', expected: /^6\./ },
];

function installedPeer(range: string): string {
  const folder = resolve('.tmp', `redis-peer-${range.replace(/\W/g, '_')}`);
  if (!existsSync(join(folder, 'node_modules', 'redis', 'package.json'))) {
    mkdirSync(folder, { recursive: true });
    execFileSync(npm, ['install', '--prefix', folder, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `redis@${range}`], { stdio: 'pipe' });
  }
  return join(folder, 'node_modules');
}

(available ? describe : describe.skip)('nestjs-genesys-auth/redis on the redis versions its peer range allows', () => {
  let script: string;

  beforeAll(() => {
    script = compileForNode('test/fixtures/redis-peer/main.ts');
  }, 60_000);

  /** Runs the fixture with `redis` resolved from `nodeModules` (a folder next to the compiled library comes first in resolution). */
  function runWith(nodeModules: string): Record<string, unknown> {
    const outDir = dirname(dirname(dirname(dirname(script)))); // <outDir>/test/fixtures/redis-peer/main.js
    const linked = join(outDir, 'node_modules');
    mkdirSync(linked, { recursive: true });
    for (const name of ['redis', '@redis']) {
      if (!existsSync(join(linked, name))) symlinkSync(join(nodeModules, name), join(linked, name));
    }
    const output = execFileSync(process.execPath, [script], { env: { ...process.env, NODE_OPTIONS: '', REDIS_URL }, encoding: 'utf8', timeout: 30_000 });
    const result = JSON.parse(output.trim().split('\n').pop()!) as Record<string, unknown>;
    execFileSync('rm', ['-rf', linked]);
    return result;
  }

  for (const { range, expected } of peers) {
    it(`with redis ${range}: importing it starts nothing, and the store works`, () => {
      const result = runWith(installedPeer(range));

      expect(result.redisVersion).toMatch(expected);
      expect(result).toMatchObject({ leftByImport: [], readBack: 'a-token', granted: true, refused: true });
    }, 90_000);
  }
});
