// Builds the chat web app into ../web: one minified ESM bundle (src/main.js) and its CSS, both
// named by content hash (served immutable), and ../web/index.html from index.html naming them.
// Every other file under ../web/assets is removed, so renamed bundles leave nothing behind.
// esbuild's output is deterministic for the same inputs and version: the committed ../web is
// checked against a fresh build in `make test` (scripts/test.sh).
import * as esbuild from 'esbuild';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '..', 'web');
const outdir = path.join(web, 'assets');

const result = await esbuild.build({
  entryPoints: [path.join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  outdir,
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  logLevel: 'warning',
});

// Named by the first 16 hex digits of the content's SHA-256 (the server serves names carrying
// a hex content hash as immutable: cmake/embed_assets.cmake).
const outputs = [];
const named = {};
for (const f of result.outputFiles) {
  const ext = path.extname(f.path);
  if (ext !== '.js' && ext !== '.css') throw new Error(`build: unexpected output ${f.path}`);
  if (named[ext]) throw new Error(`build: more than one ${ext} output`);
  const hash = crypto.createHash('sha256').update(f.contents).digest('hex').slice(0, 16);
  const p = path.join(outdir, `app-${hash}${ext}`);
  fs.mkdirSync(outdir, { recursive: true });
  fs.writeFileSync(p, f.contents);
  outputs.push(p);
  named[ext] = p;
}
const js = named['.js'];
const css = named['.css'];
if (!js || !css) throw new Error('build: expected one .js and one .css output');

// remove what this build did not write (older hashed bundles, the pre-bundle app.js/app.css)
const keep = new Set(outputs);
for (const f of fs.readdirSync(outdir)) {
  const p = path.join(outdir, f);
  if (!keep.has(p)) fs.rmSync(p, { recursive: true, force: true });
}

const rel = (p) => '/assets/' + path.basename(p);
const html = fs
  .readFileSync(path.join(here, 'index.html'), 'utf8')
  .replace('{{CSS}}', rel(css))
  .replace('{{JS}}', rel(js));
fs.writeFileSync(path.join(web, 'index.html'), html);
const size = (p) => fs.statSync(p).size;
console.log(`web/index.html, ${rel(js)} (${size(js)} B), ${rel(css)} (${size(css)} B)`);
