import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import ts from 'typescript';
import { PackageDeclarations, secretPaths, unexportedPublicTypes } from './support/public-declarations.js';

const root = resolve('.');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const fixtures = join(root, 'test', 'fixtures', 'typed-consumer');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const optionalPeers = Object.keys(manifest.peerDependencies).filter((name) => manifest.peerDependenciesMeta[name]?.optional);
/** What every app has: the required peers, and Node's typings. */
const requiredPeers = [...Object.keys(manifest.peerDependencies).filter((name) => !optionalPeers.includes(name)), '@types/node'];

/** Each entry point: its subpath, the fixture that imports all it exports, and its declarations in a build. */
const ENTRIES = [
  { entry: '.', fixture: 'root', index: 'index.d.ts' },
  { entry: './testing', fixture: 'testing', index: 'testing/index.d.ts' },
  { entry: './health', fixture: 'health', index: 'health/index.d.ts' },
  { entry: './sdk', fixture: 'sdk', index: 'sdk/index.d.ts' },
  { entry: './redis', fixture: 'redis', index: 'redis/index.d.ts' },
];

/** The consumers: the fixtures compiled together, and the optional peers installed next to the package. */
const CONSUMERS = [
  { name: '`.` and `/testing`, where no optional peer is installed', fixtures: ['root', 'testing'], peers: [] as string[] },
  { name: '`/health`, where only @nestjs/terminus is installed', fixtures: ['health'], peers: ['@nestjs/terminus'] },
  { name: '`/sdk`, where only purecloud-platform-client-v2 is installed', fixtures: ['sdk'], peers: ['purecloud-platform-client-v2'] },
  { name: '`/redis`, where only redis is installed', fixtures: ['redis'], peers: ['redis'] },
];

/**
 * Builds and packs the package as `npm pack` does (the `build` script, then the `files` of
 * package.json), in a folder of its own under `.tmp/`: `dist/` may be rebuilt meanwhile by other
 * tests. Returns the tarball's path.
 */
function packIntoStage(): string {
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const stage = mkdtempSync(join(root, '.tmp', 'public-types-'));
  for (const name of readdirSync(root)) {
    if (['.git', '.tmp', 'dist'].includes(name)) continue;
    if (statSync(join(root, name)).isDirectory()) symlinkSync(join(root, name), join(stage, name));
    else copyFileSync(join(root, name), join(stage, name));
  }
  execFileSync(npm, ['run', 'build'], { cwd: stage, stdio: 'pipe' });
  execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', stage], { cwd: stage, stdio: 'pipe' });
  return join(stage, readdirSync(stage).find((name) => name.endsWith('.tgz'))!);
}

/** Unpacks the tarball's `package/` folder into `dir`. */
function unpack(tarball: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1']);
  return dir;
}

/**
 * A consumer outside the repository (nothing above it resolves a package): the packed library, links
 * to the repository's copies of the required peers and of `peers`, the fixtures of `names` as
 * CommonJS (`.cts`), ES module (`.mts`) and plain `.ts` files, and the fixture tsconfigs.
 */
function createConsumer(tarball: string, names: readonly string[], peers: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'typed-consumer-'));
  unpack(tarball, join(dir, 'node_modules', 'nestjs-genesys-auth'));
  for (const peer of [...requiredPeers, ...peers]) {
    mkdirSync(dirname(join(dir, 'node_modules', peer)), { recursive: true });
    symlinkSync(join(root, 'node_modules', peer), join(dir, 'node_modules', peer));
  }
  for (const file of ['package.json', 'tsconfig.nodenext.json', 'tsconfig.node10.json']) copyFileSync(join(fixtures, file), join(dir, file));
  for (const name of names) {
    for (const extension of ['.cts', '.mts', '.ts']) copyFileSync(join(fixtures, `${name}.ts`), join(dir, `${name}${extension}`));
  }
  return dir;
}

/** The compiler options of a fixture tsconfig copied into `dir`. */
function optionsOf(dir: string, tsconfig: string): ts.CompilerOptions {
  const { config } = ts.readConfigFile(join(dir, tsconfig), (path) => ts.sys.readFile(path));
  return ts.parseJsonConfigFileContent(config, ts.sys, dir).options;
}

/**
 * Compiles `files` of `dir` with the fixture tsconfig `tsconfig` (`skipLibCheck: false`) and returns
 * the errors in the fixtures and in the package's own declarations, with their place. (Errors in a
 * peer's typings would be the peer's; a declaration of ours that names a package the consumer does
 * not have shows as "Cannot find module" in our declaration.)
 */
function typeErrors(dir: string, tsconfig: string, files: readonly string[]): string[] {
  const options = optionsOf(dir, tsconfig);
  if (options.skipLibCheck !== false) throw new Error(`${tsconfig} must set skipLibCheck: false`);
  const program = ts.createProgram(
    files.map((file) => join(dir, file)),
    options,
  );
  const installed = join(dir, 'node_modules', 'nestjs-genesys-auth');
  const checked = program.getSourceFiles().filter((file) => {
    const path = relative(dir, file.fileName);
    return !path.startsWith('..') && (!path.startsWith('node_modules') || !relative(installed, file.fileName).startsWith('..'));
  });
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (!diagnostic.file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${relative(dir, diagnostic.file.fileName)}:${line + 1}: ${message}`;
  });
}

/** The optional peers that resolve from the package's declarations in `dir`. */
function resolvableOptionalPeers(dir: string): string[] {
  const options = optionsOf(dir, 'tsconfig.nodenext.json');
  const from = join(dir, 'node_modules', 'nestjs-genesys-auth', 'dist', 'cjs', 'index.d.ts');
  return optionalPeers.filter((peer) => ts.resolveModuleName(peer, from, options, ts.sys).resolvedModule !== undefined);
}

/** The names a fixture imports from the package. */
function importedNames(fixture: string): string[] {
  const source = ts.createSourceFile(fixture, readFileSync(join(fixtures, `${fixture}.ts`), 'utf8'), ts.ScriptTarget.ES2022);
  return source.statements
    .filter(ts.isImportDeclaration)
    .filter((declaration) => ts.isStringLiteral(declaration.moduleSpecifier) && declaration.moduleSpecifier.text.startsWith('nestjs-genesys-auth'))
    .flatMap((declaration) => {
      const bindings = declaration.importClause?.namedBindings;
      return bindings && ts.isNamedImports(bindings) ? bindings.elements.map((element) => (element.propertyName ?? element.name).text) : [];
    })
    .sort();
}

describe('the published typings and package metadata', () => {
  let tarball: string;
  /** The tarball's content, unpacked next to it inside the repository, where every peer resolves. */
  let shipped: string;
  let declarations: PackageDeclarations;
  const consumers = new Map<string, string>();

  beforeAll(() => {
    tarball = packIntoStage();
    shipped = unpack(tarball, join(dirname(tarball), 'shipped'));
    const entries = new Map(ENTRIES.map(({ entry, index }) => [entry, join(shipped, 'dist', 'cjs', index)]));
    declarations = new PackageDeclarations(entries, optionsOf(fixtures, 'tsconfig.nodenext.json'));
    for (const consumer of CONSUMERS) consumers.set(consumer.name, createConsumer(tarball, consumer.fixtures, consumer.peers));
  }, 180_000);
  afterAll(() => {
    if (tarball) rmSync(dirname(tarball), { recursive: true, force: true });
    for (const dir of consumers.values()) rmSync(dir, { recursive: true, force: true });
  });

  it.each(CONSUMERS)('$name type-checks with skipLibCheck: false, as CommonJS and ES module (nodenext) and on node10', ({ name, fixtures: names, peers }) => {
    const dir = consumers.get(name)!;

    expect(resolvableOptionalPeers(dir)).toEqual(peers);
    expect({
      nodenext: typeErrors(dir, 'tsconfig.nodenext.json', names.flatMap((fixture) => [`${fixture}.cts`, `${fixture}.mts`])),
      node10: typeErrors(dir, 'tsconfig.node10.json', names.map((fixture) => `${fixture}.ts`)),
    }).toEqual({ nodenext: [], node10: [] });
  }, 60_000);

  it('has a fixture for each entry point that imports everything the entry point exports', () => {
    const names = ENTRIES.map(({ entry, fixture }) => ({ entry, imported: importedNames(fixture) }));

    expect(names).toEqual(ENTRIES.map(({ entry }) => ({ entry, imported: declarations.exportNamesByEntry.get(entry) })));
  });

  it('exports every type of the package that a public signature names, from some entry point', () => {
    expect(unexportedPublicTypes(declarations)).toEqual([]);
  });

  it('ships no declaration marked @internal', () => {
    const marked = (readdirSync(shipped, { recursive: true }) as string[])
      .filter((file) => file.endsWith('.d.ts') && readFileSync(join(shipped, file), 'utf8').includes('@internal'));

    expect(marked).toEqual([]);
  });

  it('declares no way from a class of the package to the client secret, and GenesysClient no config member', () => {
    const clientClass = declarations.exportsByEntry.get('.')!.find((symbol) => symbol.name === 'GenesysClient')!.valueDeclaration as ts.ClassDeclaration;
    const clientMembers = clientClass.members.map((member) => member.name?.getText() ?? 'constructor');

    expect(secretPaths(declarations, ['.', './health', './sdk', './redis'], /secret/i)).toEqual([]);
    expect(clientMembers.filter((member) => /config|secret/i.test(member))).toEqual([]);
  });

  it('has no problem @arethetypeswrong/cli finds, for node10, node16 (CommonJS and ES module) and bundlers', () => {
    const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
    const result = spawnSync(process.execPath, [attw, tarball, '--format', 'json'], { encoding: 'utf8' });
    const report = JSON.parse(result.stdout) as { analysis: { problems: unknown[] } };

    expect(report.analysis.problems).toEqual([]);
    expect(result.status).toBe(0);
  }, 30_000);

  it('has no problem publint finds, but the "type" it suggests the root package.json declare (the README says why not)', async () => {
    const bytes = readFileSync(tarball);
    const { messages, pkg } = await publint({
      pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer },
      level: 'suggestion',
      strict: true,
    });
    const problems = messages.filter((message) => message.code !== 'USE_TYPE').map((message) => formatMessage(message, pkg));

    expect(problems).toEqual([]);
  });
});
