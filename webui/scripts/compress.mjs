// Precompresses the build for cats-cpe (it negotiates br > gzip > identity per request and
// never compresses at run time): every text file gets .br and .gz twins, each kept only
// when smaller than the original. Prints the sizes, and the first load's compressed total.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

// The same directory vite.config.ts writes to.
const root = process.argv[2] || process.env.CATS_WEBUI_OUT || 'dist';
const text = /\.(html|js|mjs|css|svg|json|txt|webmanifest)$/;

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}

let raw = 0, br = 0;
for (const file of [...walk(root)]) {
  if (!text.test(file)) continue;
  const data = readFileSync(file);
  const b = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  const g = gzipSync(data, { level: 9 });
  if (b.length < data.length) writeFileSync(file + '.br', b);
  if (g.length < data.length) writeFileSync(file + '.gz', g);
  raw += data.length;
  br += Math.min(b.length, data.length);
  console.log(`${relative(root, file).padEnd(40)} ${String(data.length).padStart(8)} B  br ${b.length}  gz ${g.length}`);
}
console.log(`total ${raw} B, brotli ${br} B`);
