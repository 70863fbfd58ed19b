import { getOperationAST, parse, type DocumentNode } from 'graphql';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';

/**
 * The IDE's fetcher (GraphiQL's `fetcher` prop), on the gateway's public
 * API as the dashboard is: queries and mutations are POSTed to /graphql with
 * the headers of GraphiQL's headers editor; subscriptions go over graphql-ws
 * on the same path, with those headers as the socket's `connectionParams`,
 * which is where the gateway reads a websocket's `Authorization` or
 * `X-API-Key`. Answers the gateway refuses (401, 403, a closed socket) come
 * back as results with errors, so the result pane shows why.
 */

export interface FetcherParams {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

export interface FetcherOpts {
  /** The headers editor's JSON, parsed by GraphiQL. */
  headers?: Record<string, unknown>;
  documentAST?: DocumentNode;
}

type Result = FormattedExecutionResult<Record<string, unknown>, unknown>;

const ENDPOINT = '/graphql';

/** The socket of the credentials last used: a new set of headers opens a new socket (an old one closes once its subscriptions end, as graphql-ws's lazy clients do). */
let socket: { headers: string; client: Client } | undefined;

function client(headers: Record<string, unknown>): Client {
  const key = JSON.stringify(headers);
  if (socket?.headers !== key) {
    socket = {
      headers: key,
      client: createClient({
        url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${ENDPOINT}`,
        connectionParams: headers,
      }),
    };
  }
  return socket.client;
}

/** Why a socket ended before its subscription did: graphql-ws rejects with the CloseEvent (4401 without valid credentials, 4403 refused, 1001 going away). */
function socketError(err: unknown): Result {
  if (err instanceof CloseEvent)
    return { errors: [{ message: `The gateway closed the websocket (${err.code})${err.reason ? `: ${err.reason}` : ''}.` }] };
  if (Array.isArray(err)) return { errors: err as Result['errors'] };
  return { errors: [{ message: err instanceof Error ? err.message : 'The websocket failed.' }] };
}

async function* subscribe(params: FetcherParams, headers: Record<string, unknown>): AsyncGenerator<Result> {
  try {
    for await (const result of client(headers).iterate<Record<string, unknown>>({
      query: params.query,
      operationName: params.operationName ?? undefined,
      variables: params.variables ?? undefined,
    })) {
      yield result;
    }
  } catch (err) {
    yield socketError(err);
  }
}

async function post(params: FetcherParams, headers: Record<string, unknown>): Promise<Result> {
  const response = await fetch(ENDPOINT, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
      ...(headers as Record<string, string>),
    },
    body: JSON.stringify(params),
  });
  try {
    return (await response.json()) as Result;
  } catch {
    return { errors: [{ message: `The gateway answered ${response.status} ${response.statusText} without a GraphQL body.` }] };
  }
}

/**
 * What `params` runs, read from the text that is sent: GraphiQL's own
 * `documentAST` and `operationName` may lag behind the editor when a query
 * is run right after it was typed (and the AST is missing while no schema is
 * loaded). An operation name the text does not define is dropped when the
 * text holds one operation, which is then the one run. Text that does not
 * parse is sent as it is, and the gateway's answer says what is wrong.
 */
function resolved(params: FetcherParams, documentAST: DocumentNode | undefined): { params: FetcherParams; kind?: string } {
  let document = documentAST;
  try {
    document = parse(params.query);
  } catch {
    return { params };
  }
  const named = getOperationAST(document, params.operationName ?? undefined);
  if (named) return { params, kind: named.operation };
  const only = getOperationAST(document);
  return only ? { params: { ...params, operationName: undefined }, kind: only.operation } : { params };
}

/** GraphiQL's fetcher: a subscription is a stream of results over the websocket, anything else one result over HTTP. */
export function fetcher(params: FetcherParams, opts: FetcherOpts = {}): Promise<Result> | AsyncGenerator<Result> {
  const headers = opts.headers ?? {};
  const run = resolved(params, opts.documentAST);
  return run.kind === 'subscription' ? subscribe(run.params, headers) : post(run.params, headers);
}
