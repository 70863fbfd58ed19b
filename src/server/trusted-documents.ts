import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { readSettingDocument } from '../settings/files';

/** GraphQL Code Generator's client preset (`persisted-documents.json`): hash → document. */
const codegenManifest = z.record(z.string().min(1), z.string().min(1));
/** Apollo's persisted query list (`persisted-query-manifest.json`). */
const apolloManifest = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(z.object({ id: z.string().min(1), body: z.string().min(1) })),
});
const manifest = z.union([apolloManifest, codegenManifest]);

/** What a client sends to name its operation: its text, or a hash of it (`documentId`, or APQ's `persistedQuery`). */
export interface OperationRequest {
  query?: unknown;
  documentId?: unknown;
  extensions?: { persistedQuery?: { sha256Hash?: unknown } } | unknown;
}

/**
 * Trusted documents (persisted operations): with ER_TRUSTED_DOCUMENTS, only
 * the operations of a manifest run, on HTTP, websockets and SSE alike. A
 * client names one by hash (`documentId`, or APQ's
 * `extensions.persistedQuery.sha256Hash`) or sends its identical text; any
 * other operation is refused before it is parsed. Both manifest formats
 * frontends produce are read: the client preset's `{ hash: document }` and
 * Apollo's persisted query list.
 */
export class TrustedDocuments {
  private readonly byHash: Map<string, string>;
  private readonly texts: Set<string>;

  private constructor(documents: Map<string, string>) {
    this.byHash = documents;
    this.texts = new Set(documents.values());
  }

  static async load(path: string): Promise<TrustedDocuments> {
    const parsed = await readSettingDocument('ER_TRUSTED_DOCUMENTS', path, manifest, 'the trusted documents manifest');
    const entries =
      'format' in parsed && Array.isArray((parsed as z.infer<typeof apolloManifest>).operations)
        ? (parsed as z.infer<typeof apolloManifest>).operations.map((op): [string, string] => [op.id, op.body])
        : Object.entries(parsed as Record<string, string>);
    return new TrustedDocuments(new Map(entries));
  }

  /** These trusted too (by text and by hash), beside the manifest's: the gateway's own dashboard's. */
  including(texts: readonly string[]): TrustedDocuments {
    return new TrustedDocuments(new Map([...this.byHash, ...texts.map((text): [string, string] => [documentHash(text), text])]));
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The text of the operation `request` names, or the error refusing it. */
  resolve(request: OperationRequest): string | GraphQLError {
    const hash =
      typeof request.documentId === 'string'
        ? request.documentId.replace(/^sha256:/, '')
        : (request.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
    if (typeof request.query === 'string') {
      if (this.texts.has(request.query)) return request.query;
      return new GraphQLError('Only the operations of the trusted documents manifest run on this gateway; this one is not among them.', {
        extensions: { code: 'FORBIDDEN', reason: 'untrusted_document' },
      });
    }
    if (typeof hash === 'string') {
      const text = this.byHash.get(hash);
      if (text !== undefined) return text;
      return new GraphQLError(`No trusted document has the hash ${hash.slice(0, 80)}.`, {
        extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' },
      });
    }
    return new GraphQLError('Send a query, or the hash of a trusted document as documentId.', { extensions: { code: 'BAD_REQUEST' } });
  }
}

/** The sha256 hex of a document's text, as the manifests key it. */
export function documentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
