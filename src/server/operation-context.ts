import type { Access } from '../auth/access';
import { createLoaders, type Loaders } from '../loaders';
import type { ObservedOperation } from '../observe/operation';
import type { GatewayContext } from '../resolvers/context';
import type { RequestDeadline } from '../upstream/deadline';
import type { JobStarter } from '../upstream/job-starter';
import type { JobStore } from '../upstream/job-store';

/** What every operation's context shares with every other: the process's parts and settings. */
export type ProcessContext = Pick<
  GatewayContext,
  'home' | 'cursors' | 'watcher' | 'lists' | 'finalMaxAgeSeconds' | 'listMaxAgeSeconds' | 'cacheScope'
> & {
  /** The starter of the whole process, of which each operation that starts a job takes its own view. */
  starters: JobStarter;
};

/**
 * One operation's GatewayContext, as small as it can be: what every
 * operation shares is read from `process`, and the loaders and the starter
 * are made when a resolver first asks for them. A subscription holds its
 * context for as long as it lasts, and its events need neither (they are
 * answered from the event), so thousands of subscribers hold only what is
 * theirs.
 */
export class OperationContext implements GatewayContext {
  private loaderSet?: Loaders;
  private starterView?: JobStarter;

  constructor(
    private readonly process: ProcessContext,
    readonly deadline: RequestDeadline,
    readonly observed: ObservedOperation,
    readonly access: Access,
    readonly jobs: JobStore,
    readonly client: string,
    readonly subscriber: GatewayContext['subscriber'],
  ) {}

  get loaders(): Loaders {
    return (this.loaderSet ??= createLoaders(this.jobs));
  }

  /** A live list's event starts from loaders of its own (see liveListResolver). */
  set loaders(loaders: Loaders) {
    this.loaderSet = loaders;
  }

  get starter(): JobStarter {
    return (this.starterView ??= this.process.starters.forRequest(this.jobs, this.access.principal.id));
  }

  get home(): GatewayContext['home'] {
    return this.process.home;
  }

  get cursors(): GatewayContext['cursors'] {
    return this.process.cursors;
  }

  get watcher(): GatewayContext['watcher'] {
    return this.process.watcher;
  }

  get lists(): GatewayContext['lists'] {
    return this.process.lists;
  }

  get finalMaxAgeSeconds(): number {
    return this.process.finalMaxAgeSeconds;
  }

  get listMaxAgeSeconds(): number {
    return this.process.listMaxAgeSeconds;
  }

  get cacheScope(): GatewayContext['cacheScope'] {
    return this.process.cacheScope;
  }
}
