import type { Access } from '../auth/access';
import type { Loaders } from '../loaders';
import type { ObservedOperation } from '../observe/operation';
import type { RequestDeadline } from '../upstream/deadline';
import type { JobStarter } from '../upstream/job-starter';
import type { JobStore } from '../upstream/job-store';
import type { JobWatcher, WatchQuota } from '../watch/job-watcher';
import type { ListWatcher } from '../watch/list-watcher';
import type { Cursors } from './cursors';
import type { WorkflowHome } from './inputs';

/** What every resolver receives: this request's loaders, the door to the service, the retry-safe starter and the watcher. */
export interface GatewayContext {
  /** How long this request (or websocket operation) may wait for the service; `jobs`, `loaders` and `starter` hold to it. */
  deadline: RequestDeadline;
  /** Who asks, and what the policy lets them do: `jobs`, `starter` and the watcher's subscriptions hold to it. */
  access: Access;
  /** The account and region whose workflow ARNs this gateway takes. */
  home: WorkflowHome;
  loaders: Loaders;
  /** Seals and opens the cursors of lists, bound to the caller (`access.principal`) and the list. */
  cursors: Cursors;
  jobs: JobStore;
  starter: JobStarter;
  watcher: JobWatcher;
  /** Live lists of a workflow's newest jobs. */
  lists: ListWatcher;
  /** The `maxAge` of answers about finished jobs, in seconds. */
  finalMaxAgeSeconds: number;
  /** The `maxAge` of a page of finished jobs, in seconds: the freshness window, as new jobs join. */
  listMaxAgeSeconds: number;
  /** Who the gateway is serving, for fair shares and limits: the principal's id, or `ip:<address>` for anonymous callers. */
  client: string;
  /** Over a websocket: the end of this operation's interest (it completed, or its socket closed) and the socket's quota of watches. */
  subscriber?: { signal: AbortSignal; quota: WatchQuota };
  /** The operation as /metrics and its trace see it: the transports name and settle it; resolvers leave it alone. */
  observed: ObservedOperation;
  /** `PRIVATE` once answers depend on who asks (auth on); `PUBLIC` when everyone gets the same. */
  cacheScope: 'PUBLIC' | 'PRIVATE';
}
