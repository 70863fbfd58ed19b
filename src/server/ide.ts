import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { CONTENT_SECURITY_POLICY, sendBuilt } from './dashboard';

/** Where `npm run build` puts the IDE (esbuild's bundle of src/ide: the page, its stylesheet, Monaco's workers, its icon font). */
export const IDE_BUILD = resolve(__dirname, '..', '..', 'dist', 'public', 'ide');
export const IDE_PATH = '/ide/';

/** What the page is told of the gateway, so it says what works: docs need introspection, trusted documents limit what runs, credentials go in the headers. */
export interface IdeSettings {
  introspection: boolean;
  trustedDocuments: boolean;
  /** The accepted credentials (`jwt`, `apikey`); empty when none are needed. */
  auth: readonly string[];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
};

/**
 * The dashboard's policy, relaxed only where GraphiQL's editor (Monaco) cannot do without; nothing leaves the origin still:
 * - `style-src 'unsafe-inline'`: Monaco writes `style="…"` attributes into the markup it builds, and its themes into a `<style>`
 *   element it creates at run time, with no way to give either a nonce or a hash. Scripts stay `'self'` only, so an injected
 *   style could restyle the page but run nothing, and `connect-src 'self'` keeps it from sending anything elsewhere.
 * - `font-src 'self' data:`: Monaco's icon font is a file beside the page (codicon.ttf); GraphiQL's stylesheet carries its own
 *   font inline, as a `data:` URL, which is no request at all.
 * - `worker-src 'self'`: Monaco's language workers, bundled as files beside the page (no `blob:` workers, no CDN).
 */
export const IDE_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
  "style-src 'self'",
  "style-src 'self' 'unsafe-inline'; font-src 'self' data:; worker-src 'self'",
);

/**
 * Serves the IDE's built files at /ide/ (and /ide leads there), and returns
 * its routes, for the HTTP layer's 405s. They are read once, at start; the
 * page gets `settings` as data attributes, as its policy runs no inline
 * script. A gateway built without them (`tsc` alone) says how to build them.
 */
export function serveIde(app: FastifyInstance, settings: IdeSettings, logger: Logger, directory = IDE_BUILD): string[] {
  const files = new Map<string, Buffer>();
  try {
    for (const file of readdirSync(directory)) if (TYPES[extname(file)]) files.set(file, readFileSync(join(directory, file)));
    const page = files.get('index.html');
    if (!page) throw new Error('no index.html');
    const attributes = `data-introspection="${settings.introspection}" data-trusted-documents="${settings.trustedDocuments}" data-auth="${settings.auth.join(',')}"`;
    files.set('index.html', Buffer.from(page.toString('utf8').replace('data-settings', attributes)));
  } catch {
    files.clear();
    logger.warn({ directory }, 'the IDE is not built: run `npm run build`, or set ER_IDE=off');
  }
  const send = (reply: FastifyReply, file: string) =>
    sendBuilt(reply, files.get(file), TYPES[extname(file)], { what: 'The IDE', code: 'IDE_NOT_BUILT' }, IDE_CONTENT_SECURITY_POLICY);
  app.get('/ide', (_request, reply) => reply.redirect(IDE_PATH, 301));
  app.get(IDE_PATH, (_request, reply) => send(reply, 'index.html'));
  const assets = [...files.keys()].filter((file) => file !== 'index.html');
  for (const file of assets) app.get(IDE_PATH + file, (_request, reply) => send(reply, file));
  return ['/ide', IDE_PATH, ...assets.map((file) => IDE_PATH + file)];
}
