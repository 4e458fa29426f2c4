// Marks each build's module format: the root package.json declares no "type" (the sample's ES module build in dist/sample relies on Node's syntax detection).
import { mkdirSync, writeFileSync } from 'node:fs';

// Not for dist/sample: a package.json there would hide the root one, and with it the sample's
// self-reference to 'nestjs-genesys-auth'.
for (const [folder, type] of [['dist/cjs', 'commonjs'], ['dist/esm', 'module']]) {
  mkdirSync(folder, { recursive: true });
  writeFileSync(`${folder}/package.json`, `${JSON.stringify({ type }, null, 2)}\n`);
}
