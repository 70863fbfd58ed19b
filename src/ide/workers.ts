/**
 * Where Monaco (GraphiQL's editor) finds its web workers: files the gateway
 * serves beside the page, bundled at build time, so the editor needs neither
 * a CDN (GraphiQL's `setup-workers/esm.sh`) nor `blob:` workers, and the
 * page's policy can keep `worker-src 'self'`. They are ES modules, as esbuild
 * bundles them.
 */

const WORKERS: Record<string, string> = { json: 'json.worker.js', graphql: 'graphql.worker.js' };

(globalThis as unknown as { MonacoEnvironment: unknown }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string): Worker {
    return new Worker(new URL(WORKERS[label] ?? 'editor.worker.js', location.href), { type: 'module', name: label });
  },
};
