// `npm run ide`: bundles the IDE (src/ide: GraphiQL, React, Monaco and its three workers) into dist/public/ide with esbuild.
// The bundle takes seconds, not the dashboard's milliseconds, and `npm start` and `npm test` run it each time: it is skipped
// when no input esbuild read last time (its metafile lists them, node_modules included) is newer than the bundle.
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';

const OUT = 'dist/public/ide';
/** The inputs of the last bundle; the server serves only .html, .js, .css and .ttf files, so not this. */
const INPUTS = `${OUT}/inputs.json`;
// npm extracts packages with a fixed old mtime, so an upgrade shows in the lockfiles, not in the files esbuild read.
const ALSO = ['src/ide/index.html', 'src/ide/bundle.mjs', 'package.json', 'package-lock.json', 'node_modules/.package-lock.json'];

function upToDate() {
  try {
    const built = statSync(INPUTS).mtimeMs;
    const inputs = JSON.parse(readFileSync(INPUTS, 'utf8'));
    return [...inputs, ...ALSO].every((file) => statSync(file).mtimeMs <= built);
  } catch {
    return false; // no bundle yet, or an input is gone
  }
}

if (process.argv.includes('--force') || !upToDate()) {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: {
      main: 'src/ide/main.ts',
      'editor.worker': 'src/ide/workers/editor.ts',
      'json.worker': 'src/ide/workers/json.ts',
      'graphql.worker': 'src/ide/workers/graphql.ts',
    },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    // Monaco's icon font, as a file beside the page (font-src 'self'), under a name the page's CSS refers to.
    loader: { '.ttf': 'file' },
    assetNames: '[name]',
    outdir: OUT,
    metafile: true,
    logLevel: 'warning',
  });
  copyFileSync('src/ide/index.html', `${OUT}/index.html`);
  writeFileSync(INPUTS, JSON.stringify(Object.keys(result.metafile.inputs)));
}
