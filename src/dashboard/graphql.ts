import { createClient, type Client } from 'graphql-ws';

/**
 * The page's GraphQL client, on the gateway's public API only: queries and
 * mutations are POSTed to /graphql, subscriptions go over graphql-ws on the
 * same path. Credentials (an API key or a JWT) come from the person at the
 * page and are kept for the browser tab only.
 */

const CREDENTIAL = 'er-gateway.credential';

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; quotaName?: string; quotaValue?: number };
}

/** What a GraphQL answer said went wrong, with the first error's code and extensions. */
export class GraphQLFailure extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly extensions: GraphQLErrorShape['extensions'] = {},
  ) {
    super(message);
  }
}

export function credential(): string | undefined {
  return sessionStorage.getItem(CREDENTIAL) ?? undefined;
}

export function rememberCredential(value: string): void {
  sessionStorage.setItem(CREDENTIAL, value.trim());
}

/** Signing out: the tab forgets the credential. */
export function forgetCredential(): void {
  sessionStorage.removeItem(CREDENTIAL);
}

/** A JWT goes as a bearer token, anything else as an API key: the two schemes the gateway accepts. */
function credentialHeaders(): Record<string, string> {
  const value = credential();
  if (!value) return {};
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value) ? { Authorization: `Bearer ${value}` } : { 'X-API-Key': value };
}

function failure(errors: GraphQLErrorShape[]): GraphQLFailure {
  return new GraphQLFailure(errors.map((error) => error.message).join('; '), errors[0]?.extensions?.code, errors[0]?.extensions);
}

/** Runs a query or mutation; an answer with errors (or none of its data) rejects with them. */
export async function request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...credentialHeaders() },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T | null; errors?: GraphQLErrorShape[] };
  if (body.errors?.length) throw failure(body.errors);
  if (!body.data) throw new GraphQLFailure(`The gateway answered ${response.status} without data.`, undefined);
  return body.data;
}

let live: Client | undefined;
let onLink: (up: boolean) => void = () => undefined;

/** Who is told when the live connection comes up or goes down (the page disables its actions while it is down). */
export function watchLink(listener: (up: boolean) => void): void {
  onLink = listener;
}

/** Waits before the next reconnection: 1, 2, 4 s, then every 5 s, each a little randomised so replicas' pages do not come back at once. */
const retryWait = (retries: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** retries, 5000) + Math.random() * 300));

/** The page's one websocket; it reconnects by itself, resubscribing, and says when it is up or down. */
function socket(): Client {
  live ??= createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: credentialHeaders,
    retryAttempts: Infinity,
    retryWait,
    on: { connected: () => onLink(true), closed: () => onLink(false) },
  });
  return live;
}

export interface Watch<T> {
  next(data: T): void;
  /** The subscription ended with errors (the job is gone, a limit was reached): they arrive as one result, then the end. */
  failed(err: GraphQLFailure): void;
}

/** Subscribes until the server completes the subscription or the returned function is called. */
export function subscribe<T>(query: string, variables: Record<string, unknown>, watch: Watch<T>): () => void {
  return socket().subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) watch.failed(failure(result.errors as GraphQLErrorShape[]));
        else if (result.data) watch.next(result.data);
      },
      error: (err) => watch.failed(new GraphQLFailure(err instanceof Error ? err.message : 'The live connection closed.', undefined)),
      complete: () => undefined,
    },
  );
}
