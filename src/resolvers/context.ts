import type { Loaders } from '../loaders';
import type { JobStarter } from '../upstream/job-starter';
import type { JobStore } from '../upstream/job-store';

/** What every resolver receives: this request's loaders, the door to the service, and the retry-safe starter. */
export interface GatewayContext {
  loaders: Loaders;
  jobs: JobStore;
  starter: JobStarter;
}
