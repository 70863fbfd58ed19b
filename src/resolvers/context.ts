import type { Loaders } from '../loaders';
import type { JobStore } from '../upstream/job-store';

/** What every resolver receives: this request's loaders and the door to the service. */
export interface GatewayContext {
  loaders: Loaders;
  jobs: JobStore;
}
