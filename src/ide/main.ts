import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { fetcher, type FetcherOpts, type FetcherParams } from './fetcher';
import './style.css';
import './workers';

/**
 * The gateway's GraphQL IDE: GraphiQL, bundled at build time with its
 * editor's workers and served from the gateway itself, so it works offline
 * and its page talks to nothing but this gateway. What the gateway allows is
 * written on the page by the server (see src/server/ide.ts): without
 * introspection the IDE runs queries with no schema (no docs, no completion)
 * and says so; with trusted documents, only the manifest's operations run.
 */

/** The props of GraphiQL the page sets (the package's own types need `@types/react`, which is not a dependency). */
interface GraphiQLProps {
  fetcher: (params: FetcherParams, opts?: FetcherOpts) => unknown;
  /** `null`: no introspection request, no schema. */
  schema?: null;
  defaultQuery: string;
  defaultEditorToolsVisibility: boolean | 'variables' | 'headers';
  isHeadersEditorEnabled: boolean;
}

const settings = document.documentElement.dataset;
const introspection = settings.introspection === 'true';
const trusted = settings.trustedDocuments === 'true';
const auth = settings.auth ?? '';

const notices: string[] = [];
if (!introspection)
  notices.push(
    'Introspection is off on this gateway (ER_INTROSPECTION=false): the docs and completion are unavailable; queries still run. The schema is schema.graphql in the repository.',
  );
if (trusted)
  notices.push('Trusted documents are on (ER_TRUSTED_DOCUMENTS): only the operations of the manifest run; any other is refused.');
const notice = document.querySelector<HTMLElement>('#notice')!;
notice.textContent = notices.join(' ');
notice.hidden = notices.length === 0;

const credentials =
  auth === ''
    ? '# Credentials are not needed here (ER_AUTH=none).'
    : `# This gateway needs credentials (${auth}): open Headers below and write\n#   { "X-API-Key": "<key>" }  or  { "Authorization": "Bearer <token>" }\n# They go with every request, and in the websocket's connectionParams for subscriptions;
# then re-fetch the schema (the circling arrows, bottom left) for the docs.`;

const DEFAULT_QUERY = `# er-gateway's GraphQL IDE: queries and mutations go over HTTP to /graphql,
# subscriptions over the gateway's websocket (graphql-ws) on the same path.
${credentials}

query Workflows {
  idMappingWorkflows {
    nodes {
      workflowName
    }
  }
}
`;

const props: GraphiQLProps = {
  fetcher,
  ...(introspection && !trusted ? {} : { schema: null }),
  defaultQuery: DEFAULT_QUERY,
  defaultEditorToolsVisibility: auth === '' ? false : 'headers',
  isHeadersEditorEnabled: true,
};

createRoot(document.querySelector('#ide')!).render(createElement(GraphiQL, props as unknown as Record<string, unknown>));
