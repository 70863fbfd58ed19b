import { metricsChart } from './charts';
import { asOf, badge, count, duration, element, time, type Job, type Kind } from './dom';
import { subscribe } from './graphql';
import { KINDS } from './operations';

/**
 * One job's own view, at `#/idmapping/<workflow>/<jobId>` (or `#/matching/…`):
 * its record counts drawn, times, duration, job type, outputs, the error of
 * a failed job, and "as of" with a stale marker. It follows the job's
 * subscription, which sends its state now, each change, and a stale event
 * when the gateway cannot reach the service, until the job ends. Returns the
 * means to stop following.
 */
export function showJob(into: HTMLElement, route: { kind: Kind; workflowName: string; jobId: string }): () => void {
  const { kind, workflowName, jobId } = route;
  const view = element('article', 'detail');
  view.setAttribute('aria-labelledby', 'detail-title');
  const back = element('a', 'back', '← All workflows');
  back.href = '#/';
  const title = element('h2', '', `${workflowName} · ${KINDS[kind].label} job`);
  title.id = 'detail-title';
  const body = element('div', 'detail-body');
  const state = element('p', 'state', 'Loading the job…');
  state.setAttribute('role', 'status');
  body.append(state);
  view.append(back, title, element('code', 'job-id', jobId), body);
  into.replaceChildren(view);
  title.tabIndex = -1;
  title.focus();

  return subscribe<{ job: Job }>(
    KINDS[kind].detail,
    { workflowName, jobId },
    {
      next: ({ job }) => body.replaceChildren(...facts(kind, job)),
      failed: (err) => body.replaceChildren(element('p', 'state failed', `This job could not be read: ${err.message}`)),
    },
  );
}

function facts(kind: Kind, job: Job): HTMLElement[] {
  const status = element('p', 'status-line');
  status.append(badge(job.status), ' ', asOf(job));
  const list = element('dl', 'facts');
  const fact = (term: string, value: string | Node) => {
    const dd = element('dd');
    dd.append(value);
    list.append(element('dt', '', term), dd);
  };
  if (kind === 'idMapping') fact('Job type', job.jobType ?? '—');
  fact('Started', time(job.startTime));
  fact('Ended', time(job.endTime));
  fact(job.endTime ? 'Duration' : 'Running for', duration(job));
  const outputs = element('ul', 'outputs');
  for (const output of job.outputSourceConfig ?? []) {
    outputs.append(element('li', '', `${output.outputS3Path} (role ${output.roleArn}${output.kmsArn ? `, key ${output.kmsArn}` : ''})`));
  }
  fact('Output', job.outputSourceConfig?.length ? outputs : "The workflow's own output");
  const shown: HTMLElement[] = [status, list];
  if (job.status === 'FAILED') {
    const error = element('p', 'error');
    error.append(element('strong', '', 'Failed: '), job.errorDetails?.errorMessage ?? 'the service gave no reason.');
    shown.push(error);
  }
  const input = job.metrics?.inputRecords;
  if ((job.status === 'RUNNING' || job.status === 'QUEUED') && input) {
    const bar = element('progress', 'progress');
    bar.max = input;
    bar.value = job.metrics?.totalRecordsProcessed ?? 0;
    bar.setAttribute('aria-label', `${count(bar.value)} of ${count(input)} processed`);
    shown.push(bar);
  }
  shown.push(metricsChart(kind, job.metrics));
  return shown;
}
