import { TokenKind, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/** Apollo's parsed and validated documents, in bytes of heap at most (least recently used out first). @default 32 MiB */
export const DOCUMENT_STORE_BYTES = 32 * 2 ** 20;

/*
 * What a parsed document holds, measured on graphql 16 (Node 20, the
 * documents kept and the heap measured after a full GC): every token of its
 * text, comments included, stays linked from the document (about 90 bytes a
 * token), and each token that is not a comment also brings its AST nodes and
 * their locations (at most about 400 bytes more: a selection of 50,000 bare
 * fields, the worst shape measured, holds 482 bytes a token); the text itself
 * is two bytes a character at most.
 */
const TOKEN_BYTES = 96;
const NODE_BYTES = 400;
const CHAR_BYTES = 2;

/**
 * The heap a parsed document holds, from its tokens (walked once, as the
 * lexer linked them) and its text: never less than measured for any shape.
 * Apollo's own store sizes a document by its JSON, which leaves out tokens
 * and comments: 420 bytes for a text of 96 KB of comments holding 2.9 MiB.
 */
export function documentBytes(document: DocumentNode): number {
  const loc = document.loc;
  if (!loc) return CHAR_BYTES * JSON.stringify(document).length;
  let bytes = CHAR_BYTES * loc.source.body.length;
  for (let token = loc.startToken; token; token = token.next as typeof token) {
    bytes += token.kind === TokenKind.COMMENT ? TOKEN_BYTES : TOKEN_BYTES + NODE_BYTES;
  }
  return bytes;
}

/**
 * Apollo's `documentStore`: parsed and validated documents by their key,
 * bounded by the heap they hold as `documentBytes` reckons it, least
 * recently used out first; a document larger than the whole bound is not
 * kept (it is parsed anew on each request, as its cost is the client's).
 */
export class DocumentStore {
  private readonly documents: LRUCache<string, DocumentNode>;

  constructor(
    /** @default DOCUMENT_STORE_BYTES */
    readonly maxBytes = DOCUMENT_STORE_BYTES,
  ) {
    this.documents = new LRUCache({ maxSize: maxBytes, sizeCalculation: documentBytes });
  }

  /** The heap the documents kept hold, as reckoned. */
  get bytes(): number {
    return this.documents.calculatedSize;
  }

  /** How many documents are kept. */
  get size(): number {
    return this.documents.size;
  }

  async get(key: string): Promise<DocumentNode | undefined> {
    return this.documents.get(key);
  }

  async set(key: string, document: DocumentNode): Promise<void> {
    this.documents.set(key, document);
  }

  async delete(key: string): Promise<boolean> {
    return this.documents.delete(key);
  }
}
