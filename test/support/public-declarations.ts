import { dirname, relative, sep } from 'node:path';
import ts from 'typescript';

/** A type the public API reaches that no entry point exports, and how it is reached. */
export interface UnexportedType {
  /** `file.d.ts#Name`, relative to the package folder. */
  readonly type: string;
  /** The chain of declarations that leads to it, from an export of an entry point. */
  readonly via: string;
}

const TYPE_FLAGS = ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum;

/** A program over a package's entry points (`entries`: entry point name, e.g. `.` or `./health`, to its `.d.ts` file). */
export class PackageDeclarations {
  readonly program: ts.Program;
  readonly checker: ts.TypeChecker;
  /** The folder holding every entry point. */
  readonly packageDir: string;
  /** The names each entry point exports, sorted. */
  readonly exportNamesByEntry: ReadonlyMap<string, readonly string[]>;
  /** The symbols each entry point exports, aliases resolved. */
  readonly exportsByEntry: ReadonlyMap<string, readonly ts.Symbol[]>;

  constructor(
    readonly entries: ReadonlyMap<string, string>,
    options: ts.CompilerOptions,
  ) {
    this.program = ts.createProgram([...entries.values()], options);
    this.checker = this.program.getTypeChecker();
    this.packageDir = commonDir([...entries.values()].map((file) => dirname(file)));
    const exportNamesByEntry = new Map<string, string[]>();
    const exportsByEntry = new Map<string, ts.Symbol[]>();
    for (const [entry, file] of entries) {
      const source = this.program.getSourceFile(file);
      const module = source && this.checker.getSymbolAtLocation(source);
      if (!module) throw new Error(`no module symbol for ${file}`);
      const symbols = this.checker.getExportsOfModule(module);
      exportNamesByEntry.set(entry, symbols.map((symbol) => symbol.name).sort());
      exportsByEntry.set(entry, symbols.map((symbol) => this.resolve(symbol)));
    }
    this.exportNamesByEntry = exportNamesByEntry;
    this.exportsByEntry = exportsByEntry;
  }

  /** Whether a declaration is in the package (rather than in a dependency or TypeScript's lib). */
  ours(declaration: ts.Declaration): boolean {
    return !relative(this.packageDir, declaration.getSourceFile().fileName).startsWith('..');
  }

  /** The symbol an alias (an import or re-export) stands for; any other symbol itself. */
  resolve(symbol: ts.Symbol): ts.Symbol {
    return symbol.flags & ts.SymbolFlags.Alias ? this.checker.getAliasedSymbol(symbol) : symbol;
  }

  /** `file.d.ts#Name`, relative to the package folder. */
  describe(symbol: ts.Symbol): string {
    const declaration = symbol.declarations?.[0];
    const file = declaration ? relative(this.packageDir, declaration.getSourceFile().fileName).split(sep).join('/') : '?';
    return `${file}#${symbol.name}`;
  }
}

/**
 * Walks the declarations of a package's entry points with the TypeScript compiler: for each export,
 * every named type its declaration mentions (member types, parameters, return types, base classes,
 * type arguments), and so on through the declarations of those types. A type of the package met on
 * the way must be exported by some entry point, or a consumer cannot name what the API hands them.
 * Private members are skipped (their declarations carry no type). A value met through `typeof` or a
 * base class expression need not be exported itself; its declared type is walked instead.
 */
export function unexportedPublicTypes(declarations: PackageDeclarations): UnexportedType[] {
  const { checker } = declarations;
  const ours = (declaration: ts.Declaration) => declarations.ours(declaration);
  const resolve = (symbol: ts.Symbol) => declarations.resolve(symbol);
  const describe = (symbol: ts.Symbol) => declarations.describe(symbol);
  const exported = new Set([...declarations.exportsByEntry.values()].flat());

  const unexported = new Map<ts.Symbol, UnexportedType>();
  const visited = new Set<ts.Symbol>();
  const queue: { symbol: ts.Symbol; via: string }[] = [...exported].map((symbol) => ({ symbol, via: describe(symbol) }));
  while (queue.length > 0) {
    const { symbol, via } = queue.shift()!;
    if (visited.has(symbol)) continue;
    visited.add(symbol);
    for (const declaration of symbol.declarations ?? []) {
      if (!ours(declaration)) continue;
      visitPublicParts(declaration, (node) => {
        const referenced = referencedSymbol(node);
        if (!referenced || referenced.flags & ts.SymbolFlags.TypeParameter) return;
        const declarations = referenced.declarations ?? [];
        if (!declarations.some(ours)) return; // another package's type: its own package exports it
        const path = `${via} → ${describe(referenced)}`;
        const namedType = (referenced.flags & TYPE_FLAGS) !== 0 && !isValueReference(node);
        if (namedType && !exported.has(referenced) && !unexported.has(referenced)) {
          unexported.set(referenced, { type: describe(referenced), via: path });
        }
        queue.push({ symbol: referenced, via: path });
      });
    }
  }
  return [...unexported.values()].sort((a, b) => a.type.localeCompare(b.type));

  /** The symbol a type reference, `typeof` query, `import()` type or base class expression names. */
  function referencedSymbol(node: ts.Node): ts.Symbol | undefined {
    let symbol: ts.Symbol | undefined;
    if (ts.isTypeReferenceNode(node)) symbol = checker.getSymbolAtLocation(node.typeName);
    else if (ts.isExpressionWithTypeArguments(node)) symbol = checker.getSymbolAtLocation(node.expression);
    else if (ts.isTypeQueryNode(node)) symbol = checker.getSymbolAtLocation(leftmost(node.exprName));
    else if (ts.isImportTypeNode(node)) {
      const type = checker.getTypeFromTypeNode(node);
      symbol = type.aliasSymbol ?? type.getSymbol();
    }
    return symbol && resolve(symbol);
  }
}

/** Whether the node names a value (`typeof x`, `extends base`) rather than a type. */
function isValueReference(node: ts.Node): boolean {
  return ts.isTypeQueryNode(node) || (ts.isExpressionWithTypeArguments(node) && !ts.isInterfaceDeclaration(node.parent.parent));
}

function leftmost(name: ts.EntityName): ts.Identifier {
  return ts.isIdentifier(name) ? name : leftmost(name.left);
}

/** Calls `visit` for each node that names a type or a value in the declaration, skipping private members. */
function visitPublicParts(declaration: ts.Node, visit: (node: ts.Node) => void): void {
  const walk = (node: ts.Node): void => {
    if (isPrivateMember(node)) return;
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node) || ts.isTypeQueryNode(node) || ts.isImportTypeNode(node)) visit(node);
    ts.forEachChild(node, walk);
  };
  walk(declaration);
}

function isPrivateMember(node: ts.Node): boolean {
  if (!ts.isClassElement(node) && !ts.isParameterPropertyDeclaration(node, node.parent)) return false;
  if (node.name && ts.isPrivateIdentifier(node.name)) return true;
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((modifier) => modifier.kind === ts.SyntaxKind.PrivateKeyword);
}

function commonDir(dirs: readonly string[]): string {
  return dirs.reduce((common, dir) => {
    while (relative(common, dir).startsWith('..')) common = dirname(common);
    return common;
  });
}

/**
 * Paths from the classes that `entries` export, through their public properties, getters and method
 * results (promises unwrapped), to a member whose name matches `secretName`: what an app holding one of
 * those objects can reach in its typings. Only the package's own declarations are followed.
 */
export function secretPaths(declarations: PackageDeclarations, entries: readonly string[], secretName: RegExp): string[] {
  const { checker } = declarations;
  const found: string[] = [];
  const seen = new Set<ts.Type>();
  const walk = (type: ts.Type, path: string): void => {
    if (seen.has(type)) return;
    seen.add(type);
    if (type.isUnion() || type.isIntersection()) {
      for (const part of type.types) walk(part, path);
      return;
    }
    for (const property of checker.getPropertiesOfType(type)) {
      const declaration = property.valueDeclaration ?? property.declarations?.[0];
      if (!declaration || !declarations.ours(declaration) || isPrivateMember(declaration)) continue;
      const memberPath = `${path}.${property.name}`;
      if (secretName.test(property.name)) found.push(memberPath);
      const memberType = checker.getTypeOfSymbol(property);
      walk(memberType, memberPath);
      for (const signature of memberType.getCallSignatures()) {
        const result = signature.getReturnType();
        walk(checker.getAwaitedType(result) ?? result, `${memberPath}()`);
      }
    }
  };
  for (const entry of entries) {
    for (const symbol of declarations.exportsByEntry.get(entry) ?? []) {
      if (symbol.flags & ts.SymbolFlags.Class) walk(checker.getDeclaredTypeOfSymbol(symbol), symbol.name);
    }
  }
  return found;
}
