import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const root = resolve('.');

/** The README and every guide in docs/, as paths relative to the repository. */
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** Languages whose blocks must be copies of compiled fixtures; shell, env, JSON and text blocks are exempt. */
const CHECKED_LANGUAGES = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs']);

/** Prettier's default `printWidth`, which `nest new` keeps. */
const MAX_COLUMNS = 80;

const FIXTURE_MARKER = /^<!-- fixture: (\S+) -->$/;

interface CodeBlock {
  readonly document: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly language: string;
  /** The block's text, every line ending in a newline, dedented by the fence's indentation. */
  readonly code: string;
  /** The path in the `<!-- fixture: path -->` marker on the line above the fence, if there is one. */
  readonly fixture?: string;
}

/** The fenced code blocks of a Markdown document. */
function codeBlocksOf(document: string): CodeBlock[] {
  const lines = readFileSync(join(root, document), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const opening = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[index]);
    if (!opening) continue;
    const [, indent, fence, language] = opening;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !lines[end].trimStart().startsWith(fence)) {
      body.push(lines[end].startsWith(indent) ? lines[end].slice(indent.length) : lines[end].trimStart());
      end++;
    }
    const fixture = FIXTURE_MARKER.exec(lines[index - 1]?.trim() ?? '')?.[1];
    blocks.push({ document, line: index + 1, language: language.toLowerCase(), code: body.map((line) => `${line}\n`).join(''), fixture });
    index = end;
  }
  return blocks;
}

const checkedBlocks = documents.flatMap(codeBlocksOf).filter((block) => CHECKED_LANGUAGES.has(block.language));
const where = (block: CodeBlock) => `${block.document}:${block.line}`;

/** The Markdown of a document without its code blocks, where headings are not headings. */
function withoutCodeBlocks(document: string): string {
  return readFileSync(join(root, document), 'utf8').replace(/^(\s*)(`{3,}|~{3,})[\s\S]*?^\s*\2\s*$/gm, '');
}

/** The Markdown of a document without its code blocks and code spans, where links are not links. */
function proseOf(document: string): string {
  return withoutCodeBlocks(document).replace(/(`+)[\s\S]*?\1/g, '');
}

interface Link {
  readonly document: string;
  readonly target: string;
}

/** Relative link targets of a document: inline links, images and reference definitions; not URLs. */
function relativeLinksOf(document: string): Link[] {
  const prose = proseOf(document);
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]),
    ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((match) => match[1]),
  ];
  return targets.filter((target) => !/^[a-z][a-z\d+.-]*:/i.test(target)).map((target) => ({ document, target }));
}

const links = documents.flatMap(relativeLinksOf);

/** The file a link points at, relative to the repository ('' for the document itself). */
function fileOf(link: Link): string {
  const [path] = link.target.split('#');
  return path === '' ? link.document : relative(root, resolve(root, dirname(link.document), decodeURI(path)));
}

/** The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function headingAnchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of withoutCodeBlocks(file).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
    const slug = text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

/** Folders and files the repository's type check compiles (tsconfig.json's `include`). */
const typeChecked = (JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { include: string[] }).include;

describe('the README and the guides in docs/', () => {
  it('mark every TypeScript or JavaScript block with the fixture it is copied from (`<!-- fixture: path -->` on the line above)', () => {
    const unmarked = checkedBlocks.filter((block) => block.fixture === undefined).map(where);

    expect(checkedBlocks.length).toBeGreaterThan(0);
    expect(unmarked).toEqual([]);
  });

  it('show every marked block exactly as it appears in its fixture', () => {
    const mismatched = checkedBlocks
      .filter((block) => block.fixture !== undefined)
      .filter((block) => !existsSync(join(root, block.fixture!)) || !readFileSync(join(root, block.fixture!), 'utf8').includes(block.code))
      .map((block) => `${where(block)} is not in ${block.fixture}`);

    expect(mismatched).toEqual([]);
  });

  it("copy blocks only from TypeScript fixtures that the repository's type check compiles", () => {
    const isCompiled = (path: string) =>
      /\.[cm]?tsx?$/.test(path) && typeChecked.some((included) => path === included || path.startsWith(`${included}/`));
    const uncompiled = checkedBlocks
      .filter((block) => block.fixture !== undefined && !isCompiled(block.fixture))
      .map((block) => `${where(block)}: ${block.fixture}`);

    expect(uncompiled).toEqual([]);
  });

  it(`keep every line of a TypeScript or JavaScript block within ${MAX_COLUMNS} columns, as Prettier formats it by default`, () => {
    const tooWide = checkedBlocks.flatMap((block) =>
      block.code
        .split('\n')
        .map((line, offset) => ({ line, at: `${block.document}:${block.line + 1 + offset}` }))
        .filter(({ line }) => line.length > MAX_COLUMNS)
        .map(({ line, at }) => `${at} (${line.length} columns)`),
    );

    expect(tooWide).toEqual([]);
  });

  it('link only to files that exist', () => {
    const broken = links.filter((link) => !existsSync(join(root, fileOf(link)))).map((link) => `${link.document}: ${link.target}`);

    expect(links.length).toBeGreaterThan(0);
    expect(broken).toEqual([]);
  });

  it('link to a heading (`#anchor`) only where the file linked to has that heading', () => {
    const toHeadings = links.filter((link) => link.target.includes('#') && fileOf(link).endsWith('.md') && existsSync(join(root, fileOf(link))));
    const broken = toHeadings
      .filter((link) => !headingAnchorsOf(fileOf(link)).has(decodeURIComponent(link.target.split('#')[1])))
      .map((link) => `${link.document}: ${link.target}`);

    expect(broken).toEqual([]);
  });
});

describe('the README', () => {
  it('fits on a screen or two: at most 200 lines, the rest lives in docs/', () => {
    const lines = readFileSync(join(root, 'README.md'), 'utf8').trimEnd().split('\n');

    expect(lines.length).toBeLessThanOrEqual(200);
  });
});
