import type { FastifyInstance } from 'fastify';
import { securePage } from './dashboard';

/** The gateway's icon, for the dashboard, the IDE and the landing page: three records, two matched. Small enough to live here rather than in the build. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#1f4e79"/>
<path d="M10 11H22L16 22Z" stroke="#9cc3e6" stroke-width="2.5" fill="none" stroke-linejoin="round"/>
<circle cx="10" cy="11" r="4" fill="#fff"/>
<circle cx="22" cy="11" r="4" fill="#fff"/>
<circle cx="16" cy="22" r="4" fill="#f2b134"/>
</svg>
`;

export const FAVICON_PATH = '/favicon.svg';

/** Serves the icon at /favicon.svg, under the pages' policy (an SVG opened by itself runs nothing either). */
export function serveFavicon(app: FastifyInstance): void {
  app.get(FAVICON_PATH, (_request, reply) => securePage(reply).type('image/svg+xml').send(FAVICON_SVG));
}
