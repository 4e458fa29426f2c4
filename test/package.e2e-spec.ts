import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const root = resolve('.');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Runs the repository's TypeScript compiler with `args` in `cwd`. */
const tsc = (args: string[], cwd: string) =>
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ...args], { cwd, stdio: 'pipe' });

/** The steps of `npm run sample` after the library build, read from package.json so the test runs what users run. */
function sampleSteps(): { compile: string[]; nodeArgs: string[] } {
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [build, compile, start] = scripts.sample.split('&&').map((step) => step.trim().split(/\s+/));
  expect(build).toEqual(['npm', 'run', 'build']);
  expect(compile[0]).toBe('tsc');
  expect(start[0]).toBe('node');
  return { compile: compile.slice(1), nodeArgs: start.slice(1) };
}

/**
 * Packs the library as npm would publish it and installs the tarball into a consumer folder inside
 * the repository, so the consumer resolves the library through its exports map and its peer
 * dependencies (NestJS 11 or 12, whichever is installed) from the repository's node_modules.
 */
describe('the packed package', () => {
  let consumer: string;

  beforeAll(() => {
    mkdirSync(join(root, '.tmp'), { recursive: true });
    consumer = mkdtempSync(join(root, '.tmp', 'consumer-'));
    execFileSync(npm, ['pack', '--pack-destination', consumer], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(consumer).find((name) => name.endsWith('.tgz'))!;
    const installed = join(consumer, 'node_modules', 'nestjs-genesys-auth');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', join(consumer, tarball), '-C', installed, '--strip-components=1']);
    cpSync(join(root, 'test', 'fixtures', 'consumer'), consumer, { recursive: true });
  }, 120_000);
  afterAll(() => rmSync(consumer, { recursive: true, force: true }));

  const run = (script: string) =>
    JSON.parse(execFileSync(process.execPath, ['--no-warnings', script], { cwd: consumer, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }));

  it('ships only the builds, the README, the CHANGELOG and the LICENSE', () => {
    const shipped = readdirSync(join(consumer, 'node_modules', 'nestjs-genesys-auth')).sort();
    expect(shipped).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'dist', 'package.json']);
    expect(readdirSync(join(consumer, 'node_modules', 'nestjs-genesys-auth', 'dist')).sort()).toEqual(['cjs', 'esm']);
  });

  it('works from a CommonJS app through require', () => {
    expect(run('consumer.cjs')).toEqual({ format: 'commonjs', signed: true, org: 'Emulated Org', health: 'up' });
  });

  it('works from an ES module app through import', () => {
    expect(run('consumer.mjs')).toEqual({ format: 'module', signed: true, org: 'Emulated Org', health: 'up' });
  });

  it('runs the sample from its compiled output, as `npm run sample` does, and stops cleanly on SIGTERM', async () => {
    // `npm pack` above has built dist/ (the script's first step); run the other steps in emulator mode.
    const { compile, nodeArgs } = sampleSteps();
    tsc(compile, root);
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', PORT: '0' };
    for (const name of ['GENESYSCLOUD_OAUTHCLIENT_ID', 'GENESYSCLOUD_OAUTHCLIENT_SECRET', 'GENESYSCLOUD_REGION']) delete env[name];
    const sample = spawn(process.execPath, nodeArgs, { cwd: root, env });
    let output = '';
    sample.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      sample.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const listening = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
        if (listening) resolve(listening[1]);
      });
      sample.once('exit', () => reject(new Error(`sample exited early:\n${output}`)));
    });

    const queues = (await (await fetch(`${url}/queues?pageSize=5`)).json()) as { queues: unknown[] };
    const health: unknown = await (await fetch(`${url}/health`)).json();
    sample.kill('SIGTERM');
    const [code] = await once(sample, 'exit');

    expect(output).toContain('EMULATOR MODE');
    expect(queues).toMatchObject({ pageNumber: 1, total: 30 });
    expect(queues.queues).toHaveLength(5);
    expect(health).toMatchObject({ status: 'ok', info: { genesys: { status: 'up' } } });
    expect(code).toBe(0);
  }, 60_000);

  it('type-checks for both CommonJS and ES module consumers', () => {
    expect(() => tsc(['-p', 'tsconfig.json'], consumer)).not.toThrow();
  });
});
