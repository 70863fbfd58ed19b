import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultPlan, type Faults, type HeldRequest } from './faults';
import { routeRequest, type Operation, type Request } from './operations';
import { EmulatorState, ServiceError, type EmulatorStateOptions } from './state';
import { STATUS, answer, asServiceError, readBody, send, sendError } from './wire';

export { ServiceError };
export type { Faults, HeldRequest, Operation };

export interface EmulatorOptions extends EmulatorStateOptions {
  /** @default 0, an ephemeral port */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  faults?: Faults;
  /** The source of chance for fault rates. @default Math.random */
  random?: () => number;
  /** Told as each answer is sent, with its HTTP status: benchmarks time delivery and count throttling from it. */
  onAnswer?: (operation: Operation, target: { workflowName?: string; jobId?: string }, status: number) => void;
}

/** A running emulator; whoever starts it closes it. */
export interface Emulator {
  /** The endpoint to hand an AWS client, e.g. `http://127.0.0.1:4610`. */
  readonly url: string;
  readonly state: EmulatorState;
  /** Requests received for `operation`, or for all operations, since the last reset. */
  requests(operation?: Operation): number;
  resetRequests(): void;
  setFaults(faults: Faults): void;
  /**
   * Carry out the next `count` requests for `operation`, then drop the
   * connection without answering: the caller cannot know what happened.
   */
  dropNextResponse(operation: Operation, count?: number): void;
  /** Answer the next `count` requests for `operation` with `error` (deterministic fault injection). */
  failNext(operation: Operation, error: ServiceError['type'] | ServiceError, count?: number): void;
  /**
   * Hold the next request for `operation` before carrying it out, as a
   * request that reaches the service late: `arrived` resolves when it comes
   * in; `release()` carries it out then (even when its caller has given up
   * and closed the connection) and answers whoever still listens, resolving
   * once it has been carried out.
   */
  holdNext(operation: Operation): HeldRequest;
  close(): Promise<void>;
}

/** Starts an emulator on a loopback port; resolves once it listens. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const state = new EmulatorState(options);
  const faults = new FaultPlan(options.faults, options.random);
  const counts = new Map<Operation, number>();

  /** Answers one request; nothing it does may throw out of the server's request handler. */
  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const body = await readBody(req);
    let r: Request | undefined;
    try {
      r = routeRequest(req.method ?? 'GET', url.pathname, url.searchParams);
    } catch (err) {
      // The input broke the model's constraints: the service answers before looking anything up.
      return sendError(res, asServiceError(err));
    }
    if (!r) {
      send(res, 404, { message: `No operation at ${req.method} ${url.pathname}.` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      return;
    }
    counts.set(r.operation, (counts.get(r.operation) ?? 0) + 1);
    const target = { workflowName: r.labels.workflowName, jobId: r.labels.jobId };
    const carriedOut = await faults.arrival(r.operation);
    try {
      return answerNow(res, r, body, target);
    } finally {
      carriedOut();
    }
  }

  /** Carries out a request that has arrived, faults first. */
  function answerNow(res: ServerResponse, r: Request, body: string, target: { workflowName?: string; jobId?: string }): void {
    try {
      const fault = faults.injected(r.operation);
      if (fault) throw fault;
      const payload = answer(state, r, body);
      if (faults.dropsAnswer(r.operation)) {
        res.socket?.destroy();
        return;
      }
      send(res, 200, payload);
      options.onAnswer?.(r.operation, target, 200);
    } catch (err) {
      const error = asServiceError(err);
      sendError(res, error);
      options.onAnswer?.(r.operation, target, STATUS[error.type]);
    }
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      // A request that failed past answering (its socket gone mid-read): end it, and keep serving.
      if (!res.headersSent) sendError(res, asServiceError(err));
      else res.destroy();
    });
  });
  // SDK clients keep connections alive; closing must not wait for them.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    state,
    requests: (operation) => (operation ? (counts.get(operation) ?? 0) : [...counts.values()].reduce((a, b) => a + b, 0)),
    resetRequests: () => counts.clear(),
    setFaults: (next) => faults.set(next),
    dropNextResponse: (operation, count = 1) => faults.dropNext(operation, count),
    holdNext: (operation) => faults.holdNext(operation),
    failNext: (operation, error, count = 1) => faults.failNext(operation, error, count),
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
