import { parse, type DocumentNode } from 'graphql';
import { documentBytes } from '../../src/server/document-store';

/**
 * What a parsed document holds on the heap, against what documentBytes
 * reckons (server/document-store.ts), for the shapes a flood would send and
 * for ordinary queries. Run: `node --expose-gc -r ts-node/register/transpile-only test/bench/document-heap.ts`.
 * A line whose measured figure is above its reckoning means the constants there are too low.
 */

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const SHAPES: [string, (i: number) => string, number][] = [
  ['comments', (i) => `{ __typename } #${i}\n${'#\n'.repeat(50_000)}`, 10],
  ['bare fields', (i) => `{ a${i} ${'a '.repeat(50_000)}}`, 10],
  ['aliases', (i) => `{ ${Array.from({ length: 20_000 }, (_, n) => `x${n}:a`).join(' ')} b${i} }`, 10],
  ['arguments', (i) => `{ a${i}(${'b:1 '.repeat(20_000)}) }`, 10],
  ['list values', (i) => `{ a${i}(b:[${'1 '.repeat(50_000)}]) }`, 10],
  ['directives', (i) => `{ a${i} ${'@d '.repeat(30_000)}}`, 10],
  ['whitespace', (i) => `{ a${i} ${' '.repeat(100_000)}}`, 10],
  [
    'a typical query',
    (i) =>
      `query Jobs${i}($first: Int) { idMappingJobs(first: $first) { edges { node { id jobId status startTime metrics { inputRecords } } } pageInfo { endCursor hasNextPage } } }`,
    500,
  ],
];

/** The heap each of `count` documents of `text` holds, kept at once, and what the first is reckoned; all let go before it returns. */
function measure(text: (i: number) => string, count: number): { measured: number; reckoned: number } {
  gc!();
  const before = process.memoryUsage().heapUsed;
  let kept: DocumentNode[] = [];
  for (let i = 0; i < count; i++) kept.push(parse(text(i)));
  gc!();
  const measured = (process.memoryUsage().heapUsed - before) / count;
  const reckoned = documentBytes(kept[0]);
  kept = [];
  gc!();
  return { measured, reckoned };
}

for (const [name, text, count] of SHAPES) {
  const { measured, reckoned } = measure(text, count);
  console.log(
    `${name.padEnd(16)} ${String(text(0).length).padStart(7)} chars  measured ${Math.round(measured).toLocaleString().padStart(11)} B  reckoned ${reckoned.toLocaleString().padStart(11)} B  (${(measured / reckoned).toFixed(2)})`,
  );
}
