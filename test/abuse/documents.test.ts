import { parse } from 'graphql';
import { DocumentStore, documentBytes } from '../../src/server/document-store';
import { startTestGateway } from '../utils/gateway';

/**
 * Parsed documents kept between requests: a text of comments parses into a
 * token per comment, all kept with the document, so each kept document is
 * reckoned by its tokens, and the store by those bytes.
 */

/** 96 KB on the wire (the default body limit is 100 KB): one field, then 32,000 comments. */
const commentFlood = (i: number) => `{ __typename } #${i}\n${'#\n'.repeat(32_000)}`;
/** What one comment token holds on the heap, as measured (see document-store.ts). */
const COMMENT_TOKEN_HEAP = 90;

test("a document of comments is reckoned by its tokens, not by its JSON as Apollo's default store does", () => {
  const document = parse(commentFlood(0));
  expect(JSON.stringify(document).length).toBeLessThan(1000);
  expect(documentBytes(document)).toBeGreaterThan(32_000 * COMMENT_TOKEN_HEAP);
});

test("distinct bodies of comments keep Apollo's parsed documents within the bound in bytes, the oldest out first", async () => {
  const store = new DocumentStore(8 * 2 ** 20);
  const t = await startTestGateway({ documentStore: store });
  for (let i = 0; i < 12; i++) {
    const res = await t.post(commentFlood(i));
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ __typename: 'Query' });
    expect(store.bytes).toBeLessThanOrEqual(store.maxBytes);
  }
  // Two such documents fit in 8 MiB as reckoned: the ten before them were let go.
  expect(store.size).toBe(2);
  expect(store.bytes).toBeGreaterThan(2 * 32_000 * COMMENT_TOKEN_HEAP);
  await t.close();
});
