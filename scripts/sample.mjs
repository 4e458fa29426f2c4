// `npm run sample`: builds what is out of date (the library into dist/cjs and dist/esm, then the
// sample into dist/sample), saying what it does, and runs the sample in this same process, so that
// the signals npm forwards reach the sample's own handlers and its exit code is the process's.
// A step is up to date, as with make, when each of its outputs exists and is newer than every input.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const at = (path) => join(root, path);
const say = (line) => process.stderr.write(`${line}\n`);

/** The TypeScript sources under `folder`, as paths relative to it without extension (declaration files excluded). */
function sourcesIn(folder) {
  return readdirSync(at(folder), { recursive: true })
    .filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))
    .map((path) => path.slice(0, -'.ts'.length));
}

/** Every file under `folder`, as paths relative to the root. */
function filesIn(folder) {
  return readdirSync(at(folder), { recursive: true })
    .map((path) => join(folder, path))
    .filter((path) => statSync(at(path)).isFile());
}

/** Whether every output exists and is newer than every input. */
function upToDate(inputs, outputs) {
  if (!outputs.every((path) => existsSync(at(path)))) return false;
  const newestInput = Math.max(...inputs.map((path) => statSync(at(path)).mtimeMs));
  const oldestOutput = Math.min(...outputs.map((path) => statSync(at(path)).mtimeMs));
  return oldestOutput > newestInput;
}

/** Runs one build step with its output shown; on failure, exits with its code after `cleanUp`. */
function run(doing, command, args, cleanUp = () => {}) {
  say(`${doing}…`);
  const started = performance.now();
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' && command === 'npm' });
  if (result.status !== 0) {
    cleanUp();
    say(`${doing} failed${result.error ? `: ${result.error.message}` : ''}`);
    process.exit(result.status || 1);
  }
  say(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

// The library: `npm run build`, which empties dist/cjs and dist/esm and writes their package.json
// last, so a failed or interrupted build leaves an output missing and is not taken for up to date.
const libraryOutputs = [
  ...['dist/cjs', 'dist/esm'].flatMap((build) => [
    `${build}/package.json`,
    ...sourcesIn('lib').flatMap((source) => [`${build}/${source}.js`, `${build}/${source}.d.ts`]),
  ]),
];
const libraryInputs = [
  ...filesIn('lib'),
  'package.json',
  'tsconfig.build.base.json',
  'tsconfig.build.cjs.json',
  'tsconfig.build.esm.json',
  'scripts/write-dist-package-json.mjs',
];
if (upToDate(libraryInputs, libraryOutputs)) {
  say('The library (dist/cjs, dist/esm) is up to date');
} else {
  // The npm that runs this script, when there is one (npm_execpath), so a build runs as `npm run build` would.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && /\.[cm]?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', []];
  run('Building the library into dist/cjs and dist/esm (about 15 s)', command, [...args, 'run', '--silent', 'build']);
}

// The sample, compiled against the library's types in dist/esm (its self-reference to
// 'nestjs-genesys-auth'), so a new library build makes it out of date too.
const sampleOutputs = sourcesIn('sample').map((source) => `dist/sample/${source}.js`);
const sampleInputs = [...filesIn('sample'), 'tsconfig.sample.json', 'tsconfig.build.base.json', 'package.json', ...libraryOutputs];
if (upToDate(sampleInputs, sampleOutputs)) {
  say('The sample (dist/sample) is up to date');
} else {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // tsc writes its output even when type checks fail: removed, so that the next run checks again.
  run('Compiling the sample into dist/sample', process.execPath, [tsc, '-p', 'tsconfig.sample.json'], () =>
    rmSync(at('dist/sample'), { recursive: true, force: true }),
  );
}

say('Starting the sample');
await import(pathToFileURL(at('dist/sample/main.js')).href);
