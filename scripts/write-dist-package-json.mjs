// Marks each build's module format, since the root package.json declares none (see TOOLCHAIN notes).
import { mkdirSync, writeFileSync } from 'node:fs';

for (const [folder, type] of [['dist/cjs', 'commonjs'], ['dist/esm', 'module'], ['dist/sample', 'module']]) {
  mkdirSync(folder, { recursive: true });
  writeFileSync(`${folder}/package.json`, `${JSON.stringify({ type }, null, 2)}\n`);
}
