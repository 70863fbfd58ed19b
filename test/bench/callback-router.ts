import { composeServices } from '@apollo/composition';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { MemPubSub } from '@graphql-hive/pubsub';
import { parse } from 'graphql';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

/**
 * The callback bench's router, in a process of its own so that its CPU and
 * memory are its own: Hive Gateway with @graphql-mesh/transport-http-callback
 * in front of er-gateway alone, configured as docs/federation.md's
 * `hive-callback` block. Driven by the parent over IPC.
 */

export type ToRouter =
  /** `subgraph`: er-gateway's GraphQL endpoint. */
  | { start: { subgraph: string; heartbeatMs: number } }
  | { usage: true }
  /** Closes the server and disposes of the runtime, then exits. */
  | { stop: true };

export type FromRouter =
  | { started: { url: string } }
  /** This process's CPU time (user and system) since it started, its resident set, its JavaScript heap (in use, and reserved) and the memory of its buffers. */
  | { usage: { cpuMs: number; rssMb: number; heapMb: number; heapTotalMb: number; externalMb: number } };

const reply = (message: FromRouter) => process.send?.(message);

async function start(subgraph: string, heartbeatMs: number): Promise<void> {
  const composed = composeServices([
    { name: 'er-gateway', typeDefs: parse(readFileSync(resolve(__dirname, '../../schema.graphql'), 'utf8')), url: subgraph },
  ]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  // The public callback URL names the port: listen first, and hand requests to the runtime once it exists.
  const server = createServer();
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const runtime = createGatewayRuntime({
    supergraph: composed.supergraphSdl,
    logging: 'error',
    pubsub: new MemPubSub(),
    webhooks: true,
    transportEntries: {
      'er-gateway': {
        options: {
          subscriptions: {
            kind: 'http-callback',
            location: '/graphql',
            options: { public_url: `http://127.0.0.1:${port}/callback`, path: '/callback', heartbeat_interval: heartbeatMs },
          },
        },
      },
    },
  });
  server.on('request', (req, res) => void runtime(req, res));
  stop = async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    await runtime.dispose();
  };
  reply({ started: { url: `http://127.0.0.1:${port}` } });
}

let stop = async () => {};

// Hive's runtime holds the process open on SIGTERM while it disposes of itself: go with the parent.
process.once('disconnect', () => process.exit(0));
process.on('message', (message: ToRouter) => {
  if ('start' in message) {
    start(message.start.subgraph, message.start.heartbeatMs).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  } else if ('stop' in message) {
    void stop().finally(() => process.exit(0));
  } else {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    reply({
      usage: {
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssMb: memory.rss / 2 ** 20,
        heapMb: memory.heapUsed / 2 ** 20,
        heapTotalMb: memory.heapTotal / 2 ** 20,
        externalMb: memory.external / 2 ** 20,
      },
    });
  }
});
