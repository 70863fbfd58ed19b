import type { GraphQLError } from 'graphql';
import type { Principal } from '../auth/principal';
import { gatewayError } from '../upstream/errors';
import type { WatchQuota } from '../watch/job-watcher';

export interface ClientLimitSettings {
  /** Streams one client may hold open at once: its websockets, SSE streams and callback subscriptions together. */
  streamsPerClient: number;
  /** Subscriptions one websocket may hold at once. */
  subscriptionsPerSocket: number;
  /** Distinct jobs one client may watch at once, over all its sockets: each is a poller spending the service's budget. */
  jobsPerClient: number;
}

/** How many of each key are held; a key no one holds takes no memory. */
export class Counts<K> {
  private readonly counts = new Map<K, number>();

  get size(): number {
    return this.counts.size;
  }

  of(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: K): void {
    this.counts.set(key, this.of(key) + 1);
  }

  remove(key: K): void {
    const left = this.of(key) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}

/** `release`, run at most once however often it is called (a socket's close and an early release both call it). */
function once(release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}

interface ClientHoldings {
  /** Websockets, SSE streams and callback subscriptions. */
  streams: number;
  /** Watch ids with how many of the client's subscriptions hold each. */
  jobs: Counts<string>;
}

/** Who is calling: the principal, and the client its fair shares and limits are counted for. */
export interface Caller {
  principal: Principal;
  /** The principal's id; for anonymous callers `ip:<address>`, as they have nothing else to tell them apart. */
  client: string;
}

export function callerOf(principal: Principal, address: string): Caller {
  return { principal, client: principal.kind === 'anonymous' ? `ip:${address}` : principal.id };
}

/** A refusal past one of these limits: what was reached, and its value. */
export function limitExceeded(limit: string, value: number, message: string): GraphQLError {
  return gatewayError('LIMIT_EXCEEDED', message, { limit, limitValue: value });
}

/**
 * What each client holds of the gateway's shared resources: its streams
 * (websockets, SSE streams and callback subscriptions), each one's
 * subscriptions, and the distinct jobs it watches. A client is the principal
 * when there is one, else its address, so that one caller cannot take what
 * every caller shares by opening more sockets.
 */
export class ClientLimits {
  private readonly clients = new Map<string, ClientHoldings>();
  /** Sockets not yet past `connection_init`, by address: who they are is not known yet. */
  private readonly unnamed = new Counts<string>();

  /** @param refused told of each refusal, by the limit reached */
  constructor(
    private readonly settings: ClientLimitSettings,
    private readonly refused: (limit: keyof ClientLimitSettings) => void = () => {},
  ) {}

  /**
   * Counts a stream of `client`, a websocket, an SSE stream or a callback
   * subscription, from one budget: its release, or undefined when the client
   * holds its share already. One budget, so that a client refused more sockets cannot open
   * streams instead.
   */
  openStream(client: string): (() => void) | undefined {
    const holdings = this.holdings(client);
    if (holdings.streams >= this.settings.streamsPerClient) {
      this.refused('streamsPerClient');
      return undefined;
    }
    holdings.streams++;
    return once(() => {
      holdings.streams--;
      this.forget(client, holdings);
    });
  }

  /**
   * Counts a socket from `address` that has not said who it is yet: its
   * release (once it has, or has closed), or undefined when the address holds
   * `streamsPerClient` such sockets already. Sockets that never send
   * `connection_init` are closed after the init timeout; this keeps one
   * address from filling the connection cap with them meanwhile.
   */
  openUnnamed(address: string): (() => void) | undefined {
    if (this.unnamed.of(address) >= this.settings.streamsPerClient) {
      this.refused('streamsPerClient');
      return undefined;
    }
    this.unnamed.add(address);
    return once(() => this.unnamed.remove(address));
  }

  /** The quota of one socket of `client`: its subscriptions, and the client's distinct jobs. */
  socketQuota(client: string): WatchQuota {
    return new SocketQuota(this, client);
  }

  /**
   * A subscription of `quota`'s socket claims `watchId` (SocketQuota's claim): throws LIMIT_EXCEEDED past the socket's
   * subscriptions or the client's distinct jobs, else counts it and returns its release (run at most once).
   */
  claimWatch(quota: SocketQuota, watchId: string): () => void {
    const { subscriptionsPerSocket, jobsPerClient } = this.settings;
    if (quota.subscriptions >= subscriptionsPerSocket) {
      this.refused('subscriptionsPerSocket');
      throw limitExceeded(
        'subscriptionsPerSocket',
        subscriptionsPerSocket,
        `A connection may hold ${subscriptionsPerSocket} subscriptions at once; complete one first.`,
      );
    }
    const holdings = this.holdings(quota.client);
    if (holdings.jobs.of(watchId) === 0 && holdings.jobs.size >= jobsPerClient) {
      this.refused('jobsPerClient');
      throw limitExceeded(
        'jobsPerClient',
        jobsPerClient,
        `A client may watch ${jobsPerClient} distinct jobs at once; complete a subscription first.`,
      );
    }
    quota.subscriptions++;
    holdings.jobs.add(watchId);
    const claim = new WatchClaim(this, quota, holdings, watchId);
    return claim.release.bind(claim);
  }

  /** A claim's release: its socket and its client hold one subscription of `watchId` fewer. */
  releaseWatch(quota: SocketQuota, holdings: ClientHoldings, watchId: string): void {
    quota.subscriptions--;
    holdings.jobs.remove(watchId);
    this.forget(quota.client, holdings);
  }

  private holdings(client: string): ClientHoldings {
    let holdings = this.clients.get(client);
    if (!holdings) {
      holdings = { streams: 0, jobs: new Counts() };
      this.clients.set(client, holdings);
    }
    return holdings;
  }

  /** A client holding nothing takes no memory. */
  private forget(client: string, holdings: ClientHoldings): void {
    if (holdings.streams === 0 && holdings.jobs.size === 0 && this.clients.get(client) === holdings) this.clients.delete(client);
  }
}

/** One socket's quota: its count of subscriptions, its client's through `limits`. A small object, as a socket lives long. */
class SocketQuota implements WatchQuota {
  subscriptions = 0;

  constructor(
    private readonly limits: ClientLimits,
    readonly client: string,
  ) {}

  claim(watchId: string): () => void {
    return this.limits.claimWatch(this, watchId);
  }
}

/** One subscription's claim of a watch, released at most once. */
class WatchClaim {
  private released = false;

  constructor(
    private readonly limits: ClientLimits,
    private readonly quota: SocketQuota,
    private readonly holdings: ClientHoldings,
    private readonly watchId: string,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.limits.releaseWatch(this.quota, this.holdings, this.watchId);
  }
}
