import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
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

/**
 * The node arguments of `npm run sample` (node's flags and scripts/sample.mjs, which builds what is
 * out of date and runs the sample), read from package.json so the tests run what users run.
 */
function sampleNodeArgs(): string[] {
  const { scripts } = readJson(join(root, 'package.json')) as { scripts: Record<string, string> };
  const [exec, node, ...args] = scripts.sample.trim().split(/\s+/);
  // `exec`: node replaces the shell, so the SIGTERM npm forwards reaches the server (a shell would not pass it on).
  expect([exec, node]).toEqual(['exec', 'node']);
  return args;
}

/** Collects a child's stdout and stderr into `text`. */
function collectOutput(child: ChildProcess): { text: string } {
  const output = { text: '' };
  child.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  return output;
}

/** Collects a child's stdout alone into `text`. */
function collectStdout(child: ChildProcess): { text: string } {
  const stdout = { text: '' };
  child.stdout?.on('data', (chunk: Buffer) => (stdout.text += chunk.toString()));
  return stdout;
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
    linkBins(installed);
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

  /**
   * What npm's install does for each `bin` of package.json and extracting the tarball does not: a link
   * in node_modules/.bin, and the file made executable (npm sets the mode when it links).
   */
  function linkBins(installed: string): void {
    const { bin } = readJson(join(installed, 'package.json')) as { bin: Record<string, string> };
    const binFolder = join(installed, '..', '.bin');
    mkdirSync(binFolder, { recursive: true });
    for (const [name, path] of Object.entries(bin)) {
      chmodSync(join(installed, path), 0o755);
      symlinkSync(join('..', 'nestjs-genesys-auth', path), join(binFolder, name));
    }
  }

  /**
   * The installed `genesys-cloud-emulator` bin, run through its link as a shell runs it (its
   * `#!/usr/bin/env node` finds node on PATH, as under `npx` or an npm script).
   */
  const emulatorBin = (args: string[]) =>
    spawn(join(consumer, 'node_modules', '.bin', 'genesys-cloud-emulator'), args, {
      cwd: consumer,
      env: childEnv({ PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` }),
    });

  /** Runs the bin until it exits (at most 10 s), for command lines that end at once. */
  async function emulatorBinExit(args: string[]): Promise<{ code: number | string | null; stdout: string; stderr: string }> {
    const child = emulatorBin(args);
    const stdout = collectStdout(child);
    const stderr = { text: '' };
    child.stderr.on('data', (chunk: Buffer) => (stderr.text += chunk.toString()));
    const code = await exitCodeWithin(child, 10_000);
    return { code, stdout: stdout.text, stderr: stderr.text };
  }

  /** Starts the bin and waits for its lines: the four `KEY=value` ones on stdout, then its "listening on <url>" on stderr. */
  async function startEmulatorBin(args: string[]): Promise<{ child: ChildProcess; output: { text: string }; env: Record<string, string>; url: string }> {
    const child = emulatorBin(args);
    const output = collectOutput(child);
    const stdout = collectStdout(child);
    try {
      const [, url] = await waitForOutput(child, output, /Genesys Cloud emulator listening on (http:\/\/[\d.]+:\d+) .*; Ctrl-C to stop\n/, 10_000);
      await waitForOutput(child, stdout, /^(?:\w+=\S*\n){4}/, 5_000); // stdout and stderr are read apart: it may lag
      const lines = stdout.text.split('\n').filter(Boolean);
      const env = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
      return { child, output, env, url };
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

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

  it('links a genesys-cloud-emulator bin that prints KEY=value lines with which an app gets a token and calls the API', async () => {
    const { child, env, url } = await startEmulatorBin(['--port', '0']);
    try {
      const credentials = Buffer.from(`${env.GENESYSCLOUD_OAUTHCLIENT_ID}:${env.GENESYSCLOUD_OAUTHCLIENT_SECRET}`).toString('base64');
      const tokenResponse = await fetch(`${env.GENESYSCLOUD_LOGIN_BASE_URL}/oauth/token`, {
        method: 'POST',
        headers: { Authorization: `Basic ${credentials}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const { access_token } = (await tokenResponse.json()) as { access_token: string };
      const orgResponse = await fetch(`${env.GENESYSCLOUD_API_BASE_URL}/api/v2/organizations/me`, { headers: { Authorization: `Bearer ${access_token}` } });
      const org: unknown = await orgResponse.json();

      expect(env).toEqual({
        GENESYSCLOUD_LOGIN_BASE_URL: url,
        GENESYSCLOUD_API_BASE_URL: url,
        GENESYSCLOUD_OAUTHCLIENT_ID: 'emulator-client-id',
        GENESYSCLOUD_OAUTHCLIENT_SECRET: 'emulator-client-secret',
      });
      expect(tokenResponse.status).toBe(200);
      expect(org).toMatchObject({ name: 'Emulated Org' });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'genesys-cloud-emulator exits with code 0 within 2 s of %s, with a request still in progress, and its port stops accepting',
    async (signal) => {
      const { child, output, url } = await startEmulatorBin(['--port', '0']);
      const { hostname, port } = new URL(url);
      const unfinished = connect(Number(port), hostname);
      unfinished.on('error', () => {}); // the emulator drops it on close
      try {
        await once(unfinished, 'connect');
        unfinished.write('POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n');
        await delay(100); // the emulator now waits for a body that never comes

        child.kill(signal);

        expect(await exitCodeWithin(child, 2_000)).toBe(0);
        expect(output.text).toContain(`${signal}: stopping the emulator`);
        expect(await closesWithin(url, 1_000)).toBe(true);
      } finally {
        unfinished.destroy();
        child.kill('SIGKILL');
      }
    },
  );

  it('genesys-cloud-emulator keeps serving when the reader of its output goes away (`| head -1`), and stops cleanly after', async () => {
    const child = emulatorBin(['--port', '0']);
    const stderr = collectOutput(child);
    child.stdout.destroy(); // the pipe's reading end closes: its next write gets EPIPE
    try {
      const [, url] = await waitForOutput(child, stderr, /listening on (http:\/\/[\d.]+:\d+) /, 10_000);
      await delay(200);

      expect(await accepts(url)).toBe(true);
      child.kill('SIGTERM');
      expect(await exitCodeWithin(child, 2_000)).toBe(0);
      expect(stderr.text).not.toMatch(/EPIPE|\n\s+at /);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('genesys-cloud-emulator exits with code 1 and a one-line reason, no stack trace, when its port is in use', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as AddressInfo;
    try {
      const { code, stdout, stderr } = await emulatorBinExit(['--port', String(port)]);

      expect(code).toBe(1);
      expect(stderr).toBe(`genesys-cloud-emulator: port ${port} on 127.0.0.1 is in use (EADDRINUSE): stop the process using it, or choose another with --port (--port 0 picks a free one)\n`);
      expect(stdout).toBe('');
    } finally {
      blocker.close();
    }
  });

  it.each([
    [['--verbose'], 'unknown option --verbose'],
    [['--port', '70000'], '--port must be a whole number from 0 to 65535, not "70000"'],
    [['--host', '0.0.0.0'], '--host must be a loopback address'],
  ])('genesys-cloud-emulator %j exits with code 2, saying why on stderr', async (args, message) => {
    const { code, stdout, stderr } = await emulatorBinExit(args);

    expect(code).toBe(2);
    expect(stderr).toContain(`genesys-cloud-emulator: ${message}`);
    expect(stdout).toBe('');
  });

  it('genesys-cloud-emulator --help prints the usage and exits with code 0', async () => {
    const { code, stdout } = await emulatorBinExit(['--help']);

    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: genesys-cloud-emulator \[options\]\n[\s\S]*--port <n>[\s\S]*--client <id>:<secret>/);
  });
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
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as AddressInfo;
    const sample = spawn(process.execPath, sampleNodeArgs(), { cwd: root, env: childEnv({ PORT: String(port) }) });
    const output = collectOutput(sample);
    try {
      await waitForOutput(sample, output, /Starting the sample/, 90_000); // after any build (none, after the test above)
      const started = Date.now();

      const code = await exitCodeWithin(sample, 15_000);

      expect(code).toBe(1);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(output.text).toMatch(new RegExp(`Start-up failed: .*EADDRINUSE.*another process is using port ${port}`));
    } finally {
      sample.kill('SIGKILL');
      blocker.close();
    }
  }, 120_000);
});

describe('`npm run sample` builds only what is out of date', () => {
  /** Build outputs: the library's (both formats, and the types the sample compiles against) and the sample's. */
  const outputs = ['dist/cjs/index.js', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/sample/main.js'];
  const mtimes = () => outputs.map((path) => statSync(join(root, path)).mtimeMs);

  /** Runs `npm run sample` until it listens, stops it with SIGTERM and returns its output. */
  async function sampleRun(): Promise<string> {
    const sample = spawn(npm, ['run', 'sample'], { cwd: root, env: childEnv({ PORT: '0' }) });
    const output = collectOutput(sample);
    try {
      await waitForOutput(sample, output, /listening on http/, 90_000);
      sample.kill('SIGTERM');
      expect(await exitCodeWithin(sample, 10_000)).toBe(0);
      return output.text;
    } finally {
      sample.kill('SIGKILL');
    }
  }

  it('compiles the sample again, and only the sample, when a source is newer than its output', async () => {
    await sampleRun(); // builds whatever is out of date (nothing, after the tests above)
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(root, 'dist', 'sample', 'main.js'), old, old); // as if sample/main.ts had changed since

    const output = await sampleRun();

    expect(output).toContain('The library (dist/cjs, dist/esm) is up to date');
    expect(output).toContain('Compiling the sample into dist/sample');
    expect(statSync(join(root, 'dist', 'sample', 'main.js')).mtimeMs).toBeGreaterThan(old.getTime());
  }, 240_000);

  it('rebuilds nothing on a second run: it says both builds are up to date and leaves dist/ as it was', async () => {
    await sampleRun(); // builds whatever is out of date (nothing, after the test above)
    const before = mtimes();

    const output = await sampleRun();

    expect(output).toContain('The library (dist/cjs, dist/esm) is up to date');
    expect(output).toContain('The sample (dist/sample) is up to date');
    expect(output).not.toMatch(/Building|Compiling/);
    expect(mtimes()).toEqual(before);
  }, 240_000);
});

describe('the sample with METRICS_PORT', () => {
  it("serves the library's OpenTelemetry metrics for Prometheus, with no token or secret in them", async () => {
    const nodeArgs = sampleNodeArgs();
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const metricsPort = (blocker.address() as AddressInfo).port;
    await new Promise((resolve) => blocker.close(resolve)); // a free port for the exporter
    const sample = spawn(process.execPath, nodeArgs, { cwd: root, env: childEnv({ PORT: '0', METRICS_PORT: String(metricsPort) }) });
    const output = collectOutput(sample);
    try {
      const [, url] = await waitForOutput(sample, output, /listening on (http:\/\/[\d.]+:\d+)/, 90_000); // after any build
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
  }, 120_000);
});
