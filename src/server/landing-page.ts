import type { FastifyReply } from 'fastify';
import { securePage } from './dashboard';

/**
 * What a browser gets at GET /graphql in production, instead of Apollo's
 * landing page, which loads its script from Apollo's CDN onto the gateway's
 * own origin: a plain page of our own, loading nothing but the gateway's icon, served under
 * the dashboard's Content-Security-Policy. It says what the endpoint is and
 * where the documentation is, and links the dashboard and the IDE when they
 * are served (see ide.ts: ER_IDE).
 */
export function landingPageHtml(options: { dashboard: boolean; ide: boolean }): string {
  const dashboard = options.dashboard ? '<li>The live dashboard of jobs: <a href="/dashboard/">/dashboard/</a>.</li>' : '';
  const ide = options.ide ? '<li>A GraphQL IDE (GraphiQL, served by the gateway): <a href="/ide/">/ide/</a>.</li>' : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>er-gateway: GraphQL endpoint</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
</head>
<body>
<main>
<h1>er-gateway</h1>
<p>This is the GraphQL endpoint of er-gateway, a gateway over AWS Entity Resolution jobs: ID-mapping and matching jobs and their workflows, to query, start and watch.</p>
<ul>
<li>Queries and mutations: <code>POST /graphql</code> with a JSON body <code>{"query": "…", "variables": {…}}</code>.</li>
<li>Live progress: websockets (graphql-transport-ws) at <code>/graphql</code>, or Server-Sent Events (graphql-sse) at <code>/graphql/stream</code>.</li>
${dashboard}
${ide}
</ul>
<p>The documentation is the README that ships with the gateway and the pages of its <code>docs/</code> folder: for frontend teams, <code>docs/frontend/</code> (queries and global ids, starting jobs, live updates, clients, errors), and <code>docs/operators/limits-and-cost.md</code>. The schema is <code>schema.graphql</code> beside it; introspection is off in production unless ER_INTROSPECTION turns it on.</p>
</main>
</body>
</html>
`;
}

/** Whether a request asks for a page rather than a GraphQL answer: a GET that accepts HTML and no JSON, as a browser's navigation does. */
export function wantsPage(method: string, accept: string | undefined): boolean {
  return (
    method === 'GET' &&
    accept !== undefined &&
    /\btext\/html\b/i.test(accept) &&
    !/\bapplication\/(graphql-response\+)?json\b/i.test(accept)
  );
}

/** Sends the landing page. */
export function sendLandingPage(reply: FastifyReply, html: string): FastifyReply {
  return securePage(reply).type('text/html; charset=utf-8').send(html);
}
