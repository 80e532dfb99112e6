// Prints the hash of the UI's build inputs, the same way crates/web's test computes it:
// SHA-256 over, for each input file in byte order of its path relative to web/,
// path || 0x00 || decimal byte length || 0x00 || content.
// Inputs: the top-level build files and everything under src/ and public/.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOP = ['index.html', 'docs.html', 'package.json', 'package-lock.json', 'tsconfig.json', 'vite.config.ts'];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(relative(web, p).split(sep).join('/'));
  }
}

const files = [...TOP];
walk(join(web, 'src'), files);
walk(join(web, 'public'), files);
files.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
const h = createHash('sha256');
for (const f of files) {
  const content = readFileSync(join(web, f));
  h.update(f);
  h.update('\0');
  h.update(String(content.length));
  h.update('\0');
  h.update(content);
}
console.log(h.digest('hex'));
