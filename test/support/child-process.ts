import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve('.');

/**
 * Compiles a TypeScript entry point (and the library files it imports) to ES modules under `.tmp/`,
 * so a test can run it in a real `node` process. Returns the compiled entry's path.
 */
export function compileForNode(entry: string): string {
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const outDir = mkdtempSync(join(root, '.tmp', 'child-'));
  const tsconfig = {
    extends: join(root, 'tsconfig.build.esm.json'),
    compilerOptions: { rootDir: root, outDir, declaration: false, sourceMap: false, inlineSources: false, target: 'ES2022', module: 'ES2022' },
    files: [join(root, entry)],
    include: [],
  };
  writeFileSync(join(outDir, 'tsconfig.json'), JSON.stringify(tsconfig));
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(outDir, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
  } catch (error) {
    throw new Error(`tsc failed for ${entry}:\n${String((error as { stdout?: Buffer }).stdout)}`);
  }
  return join(outDir, relative(root, entry).replace(/\.ts$/, '.js'));
}

/** A child `node` process with everything it printed so far. */
export interface ChildApp {
  readonly process: ChildProcessWithoutNullStreams;
  /** stdout and stderr, interleaved as they arrived. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects if the process exits or `timeoutMs` passes first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends SIGTERM and resolves with the exit code (or signal). */
  stop(): Promise<number | string | null>;
}

/** Starts `node script` with `env` added to this process's environment (minus NODE_OPTIONS, which belongs to the test runner). */
export function startChild(script: string, env: NodeJS.ProcessEnv): ChildApp {
  const child = spawn(process.execPath, [script], { env: { ...process.env, NODE_OPTIONS: '', ...env } });
  let output = '';
  let exit: number | string | null | undefined;
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = code ?? signal))),
  );
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return {
    process: child,
    output: () => output,
    waitFor: (pattern, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) done(() => resolve(match));
          else if (exit !== undefined) done(() => reject(new Error(`process exited (${exit}) before printing ${pattern}:\n${output}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        void exited.then(check);
        check();
      }),
    stop: () => {
      if (exit === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}
