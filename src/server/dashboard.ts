import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';

/** Where `npm run build` puts the page (esbuild's bundle of src/dashboard), from src/server and dist/server alike. */
export const DASHBOARD_BUILD = resolve(__dirname, '..', '..', 'dist', 'public', 'dashboard');
export const DASHBOARD_PATH = '/dashboard/';

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'main.js': 'text/javascript; charset=utf-8',
  'main.css': 'text/css; charset=utf-8',
};

/**
 * The page may load only its own files and talk only to this gateway (`'self'` covers ws: and wss: on the same host):
 * a script injected into it could not send anything elsewhere.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The headers of every page the gateway serves: the policy above, no sniffing, no referrer, revalidated on each load. */
export function securePage(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-cache')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}

/**
 * Answers with one of a bundle's files under `policy`, or, when the bundle
 * was never built (`tsc` alone), 503 `code` saying how to build it instead of
 * serving a broken page.
 */
export function sendBuilt(
  reply: FastifyReply,
  body: Buffer | undefined,
  type: string,
  notBuilt: { what: string; code: string },
  policy = CONTENT_SECURITY_POLICY,
): FastifyReply {
  if (!body) {
    return reply
      .code(503)
      .type('application/json; charset=utf-8')
      .send({ errors: [{ message: `${notBuilt.what} is not built: run \`npm run build\`.`, extensions: { code: notBuilt.code } }] });
  }
  return securePage(reply).header('content-security-policy', policy).type(type).send(body);
}

/** The routes the dashboard adds, with their methods (a wrong method is 405 like the others'). */
export const DASHBOARD_ROUTES: Record<string, string[]> = Object.fromEntries(
  ['/', '/dashboard', DASHBOARD_PATH, ...Object.keys(TYPES).map((file) => DASHBOARD_PATH + file)].map((path) => [path, ['GET', 'HEAD']]),
);

/**
 * Serves the dashboard's built files at /dashboard/ and sends `/` there.
 * They are read once, at start; a gateway built without them (`tsc` alone)
 * says how to build them instead of serving a broken page.
 */
export function serveDashboard(app: FastifyInstance, logger: Logger, directory = DASHBOARD_BUILD): void {
  const files = new Map<string, Buffer>();
  try {
    for (const file of Object.keys(TYPES)) files.set(file, readFileSync(join(directory, file)));
  } catch {
    files.clear();
    logger.warn({ directory }, 'the dashboard is not built: run `npm run build`, or set ER_DASHBOARD=false');
  }
  const send = (reply: FastifyReply, file: string) =>
    sendBuilt(reply, files.get(file), TYPES[file], { what: 'The dashboard', code: 'DASHBOARD_NOT_BUILT' });
  app.get('/', (_request, reply) => reply.redirect(DASHBOARD_PATH, 302));
  app.get('/dashboard', (_request, reply) => reply.redirect(DASHBOARD_PATH, 301));
  app.get(DASHBOARD_PATH, (_request, reply) => send(reply, 'index.html'));
  for (const file of Object.keys(TYPES)) app.get(DASHBOARD_PATH + file, (_request, reply) => send(reply, file));
}
