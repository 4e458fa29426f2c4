import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const root = resolve('.');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** Major version of the installed NestJS: 12 from the lockfile, 11 in CI's second pass. */
const nestMajor = Number(String(readJson(join(root, 'node_modules', '@nestjs', 'core', 'package.json')).version).split('.')[0]);
const [nodeMajor, nodeMinor] = process.versions.node.split('.').map(Number);
/** Jest's CommonJS runtime can load ESM-only NestJS 12 only through require(esm), which it supports from Node 24.9. */
const cjsJestLoadsInstalledNest = nestMajor === 11 || nodeMajor > 24 || (nodeMajor === 24 && nodeMinor >= 9);

/** Runs the repository's TypeScript compiler with `args` in `cwd`. */
const tsc = (args: string[], cwd: string) =>
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ...args], { cwd, stdio: 'pipe' });

/** The environment of a child process: no ESM-mode flag from this jest run, no Genesys credentials (emulator mode). */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...extra };
  for (const name of ['GENESYSCLOUD_OAUTHCLIENT_ID', 'GENESYSCLOUD_OAUTHCLIENT_SECRET', 'GENESYSCLOUD_REGION']) delete env[name];
  return env;
}

/** The steps of `npm run sample` after the library build, read from package.json so the tests run what users run. */
function sampleSteps(): { compile: string[]; nodeArgs: string[] } {
  const { scripts } = readJson(join(root, 'package.json')) as { scripts: Record<string, string> };
  const [build, compile, start] = scripts.sample.split('&&').map((step) => step.trim().split(/\s+/));
  expect(build).toEqual(['npm', 'run', 'build']);
  expect(compile[0]).toBe('tsc');
  // `exec`: node replaces the shell, so the SIGTERM npm forwards reaches the server (a shell would not pass it on).
  expect(start.slice(0, 2)).toEqual(['exec', 'node']);
  return { compile: compile.slice(1), nodeArgs: start.slice(2) };
}

/** Collects a child's stdout and stderr into `text`. */
function collectOutput(child: ChildProcess): { text: string } {
  const output = { text: '' };
  child.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  return output;
}

/** Waits until the child's output matches `pattern`; rejects if it exits first or after `timeoutMs`. */
async function waitForOutput(child: ChildProcess, output: { text: string }, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(output.text);
    if (match) return match;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before printing ${pattern}:\n${output.text}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${output.text}`);
    await delay(50);
  }
}

/** The child's exit code, or `'still running'` (and the child killed) if it has not exited within `timeoutMs`. */
async function exitCodeWithin(child: ChildProcess, timeoutMs: number): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const timeout = delay(timeoutMs, 'still running' as const, { ref: false }); // unref'd: it outlives a quick exit
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string | null);
  const result = await Promise.race([exited, timeout]);
  if (result === 'still running') child.kill('SIGKILL');
  return result;
}

/** Whether something accepts connections on the URL's port. */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether the URL's port stops accepting connections within `timeoutMs`. */
async function closesWithin(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await accepts(url)) {
    if (Date.now() > deadline) return false;
    await delay(100);
  }
  return true;
}

/**
 * Packs the library as npm would publish it and installs the tarball into a consumer folder inside
 * the repository. The consumer folder and each fixture app have their own package.json, so
 * `nestjs-genesys-auth` resolves to the installed tarball (through its exports map or, on node10,
 * its typesVersions) rather than to the repository itself; peer dependencies (NestJS 11 or 12,
 * whichever is installed), jest, ts-jest and vitest resolve from the repository's node_modules.
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
    for (const app of ['nest11-jest-app', 'nest12-vitest-app']) {
      cpSync(join(root, 'test', 'fixtures', app), join(consumer, app), { recursive: true });
    }
  }, 120_000);
  afterAll(() => rmSync(consumer, { recursive: true, force: true }));

  const run = (script: string) =>
    JSON.parse(execFileSync(process.execPath, ['--no-warnings', script], { cwd: consumer, encoding: 'utf8', env: childEnv() }));

  /** Runs a test runner in a fixture app and returns its exit status and output. */
  const runIn = (app: string, args: string[]) => {
    const result = spawnSync(process.execPath, args, { cwd: join(consumer, app), encoding: 'utf8', env: childEnv({ CI: 'true' }), timeout: 60_000 });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  };
  const jestE2e = () =>
    runIn('nest11-jest-app', [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--config', './test/jest-e2e.json', '--cacheDirectory', join(consumer, '.jest-cache')]);

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

  it('type-checks for both CommonJS and ES module consumers', () => {
    expect(() => tsc(['-p', 'tsconfig.json'], consumer)).not.toThrow();
  });

  it('type-checks `.`, `/health` and `/testing` for an app on "module": "commonjs" without moduleResolution (node10, through typesVersions)', () => {
    expect(() => tsc(['-p', 'tsconfig.node10.json'], consumer)).not.toThrow();
  });

  it('passes the vitest e2e test of a NestJS 12 CLI-style app (ES modules, vitest 4, forRootAsync + ConfigModule) against the emulator', () => {
    const { status, output } = runIn('nest12-vitest-app', [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', './vitest.config.e2e.ts']);

    expect({ status, output }).toMatchObject({ status: 0, output: expect.stringContaining('1 passed') });
  }, 60_000);

  (cjsJestLoadsInstalledNest ? it : it.skip)(
    'passes the jest e2e test of a NestJS 11 CLI-style app (CommonJS ts-jest, node10 resolution, forRootAsync + ConfigModule) against the emulator; runs only where jest can load the installed NestJS (NestJS 11, or Node >= 24.9)',
    () => {
      const { status, output } = jestE2e();

      expect({ status, output }).toMatchObject({ status: 0, output: expect.stringContaining('1 passed') });
    },
    60_000,
  );

  (cjsJestLoadsInstalledNest ? it.skip : it)(
    'on NestJS 12 and Node < 24.9, the NestJS 11 CLI\'s CommonJS jest setup fails with "Must use import to load ES Module" (why a NestJS 11 app must install the 11.x peers)',
    () => {
      const { status, output } = jestE2e();

      expect(status).not.toBe(0);
      expect(output).toContain('Must use import to load ES Module');
    },
    60_000,
  );
});

describe('the sample, as `npm run sample` runs it (emulator mode)', () => {
  it('serves /queues and /health, and SIGTERM to the npm process stops the server and the emulator', async () => {
    const sample = spawn(npm, ['run', 'sample'], { cwd: root, env: childEnv({ PORT: '0' }) });
    const output = collectOutput(sample);
    try {
      const [, url] = await waitForOutput(sample, output, /listening on (http:\/\/[\d.]+:\d+)/, 90_000);
      const [, emulatorUrl] = /emulator at (http:\/\/[\d.]+:\d+)/.exec(output.text)!;
      const queues = (await (await fetch(`${url}/queues?pageSize=5`)).json()) as { queues: unknown[] };
      const health: unknown = await (await fetch(`${url}/health`)).json();

      sample.kill('SIGTERM');
      const code = await exitCodeWithin(sample, 10_000);

      expect(queues).toMatchObject({ pageNumber: 1, total: 30 });
      expect(queues.queues).toHaveLength(5);
      expect(health).toMatchObject({ status: 'ok', info: { genesys: { status: 'up' } } });
      expect(code).toBe(0);
      expect(output.text).toContain('SIGTERM: closing');
      expect(await closesWithin(url, 5_000)).toBe(true);
      expect(await closesWithin(emulatorUrl, 5_000)).toBe(true);
    } finally {
      sample.kill('SIGKILL');
    }
  }, 120_000);

  it('exits with code 1 within seconds, saying why, when its port is in use', async () => {
    const { compile, nodeArgs } = sampleSteps();
    tsc(compile, root); // dist/ is built by `npm pack` or `npm run sample` above; this compiles sample/
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as AddressInfo;
    try {
      const started = Date.now();
      const sample = spawn(process.execPath, nodeArgs, { cwd: root, env: childEnv({ PORT: String(port) }) });
      const output = collectOutput(sample);

      const code = await exitCodeWithin(sample, 15_000);

      expect(code).toBe(1);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(output.text).toMatch(new RegExp(`Start-up failed: .*EADDRINUSE.*another process is using port ${port}`));
    } finally {
      blocker.close();
    }
  }, 30_000);
});

describe('the sample with METRICS_PORT', () => {
  it("serves the library's OpenTelemetry metrics for Prometheus, with no token or secret in them", async () => {
    const { compile, nodeArgs } = sampleSteps();
    tsc(compile, root);
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const metricsPort = (blocker.address() as AddressInfo).port;
    await new Promise((resolve) => blocker.close(resolve)); // a free port for the exporter
    const sample = spawn(process.execPath, nodeArgs, { cwd: root, env: childEnv({ PORT: '0', METRICS_PORT: String(metricsPort) }) });
    const output = collectOutput(sample);
    try {
      const [, url] = await waitForOutput(sample, output, /listening on (http:\/\/[\d.]+:\d+)/, 30_000);
      await fetch(`${url}/queues?pageSize=5`);

      const exposition = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

      expect(exposition).toMatch(/genesys_oauth_token_requests(_total)?\{[^}]*genesys_client="default"[^}]*outcome="success"[^}]*\} 1/);
      expect(exposition).toMatch(/http_client_request_duration\w*_count\{[^}]*http_request_method="GET"/);
      expect(exposition).toMatch(/genesys_oauth_token_time_to_expiry\w*\{[^}]*genesys_token_slot="0"/);
      expect(exposition).not.toMatch(/emulator-client-secret/);
      sample.kill('SIGTERM');
      expect(await exitCodeWithin(sample, 10_000)).toBe(0);
      expect(await closesWithin(`http://127.0.0.1:${metricsPort}`, 5_000)).toBe(true);
    } finally {
      sample.kill('SIGKILL');
    }
  }, 60_000);
});

describe('the README', () => {
  it('shows each block marked `<!-- fixture: path -->` exactly as it appears in that tested fixture file', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/<!-- fixture: (\S+) -->\n```\w*\n([\s\S]*?)```/g)];
    const mismatched = blocks.filter(([, path, code]) => !readFileSync(join(root, path), 'utf8').includes(code)).map(([, path]) => path);

    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(mismatched).toEqual([]);
  });
});
