import { count, duration, element, svg, type Job, type Kind } from './dom';

/**
 * The dashboard's pictures, drawn as plain SVG: a few dozen marks per chart,
 * each an element with its own title that a screen reader and a test can reach,
 * in about 3 KB of code, minified (uPlot, built for thousands of points on a
 * canvas, would add about 50 KB and draw nothing the DOM can name).
 */

/** The metrics a detail view draws, in the order it draws them, with the words it shows. */
const METRICS: Record<Kind, [field: string, label: string][]> = {
  idMapping: [
    ['inputRecords', 'Input'],
    ['totalRecordsProcessed', 'Processed'],
    ['recordsNotProcessed', 'Not processed'],
    ['deleteRecordsProcessed', 'Deletes processed'],
    ['totalMappedRecords', 'Mapped'],
    ['totalMappedSourceRecords', 'Mapped source'],
    ['totalMappedTargetRecords', 'Mapped target'],
    ['uniqueRecordsLoaded', 'Unique loaded'],
    ['newMappedRecords', 'New mapped'],
    ['newMappedSourceRecords', 'New mapped source'],
    ['newMappedTargetRecords', 'New mapped target'],
    ['newUniqueRecordsLoaded', 'New unique loaded'],
    ['mappedRecordsRemoved', 'Mapped removed'],
    ['mappedSourceRecordsRemoved', 'Mapped source removed'],
    ['mappedTargetRecordsRemoved', 'Mapped target removed'],
  ],
  matching: [
    ['inputRecords', 'Input'],
    ['totalRecordsProcessed', 'Processed'],
    ['recordsNotProcessed', 'Not processed'],
    ['deleteRecordsProcessed', 'Deletes processed'],
    ['matchIDs', 'Match IDs'],
  ],
};

/** A job's record counts as a bar chart: one row per metric the service reported, each bar to scale of the largest. */
export function metricsChart(kind: Kind, metrics: Job['metrics']): HTMLElement {
  const shown = METRICS[kind].filter(([field]) => metrics?.[field] != null);
  if (shown.length === 0) return element('p', 'empty', 'The service has reported no record counts for this job yet.');
  const largest = Math.max(1, ...shown.map(([field]) => metrics![field]!));
  const table = element('table', 'metrics');
  table.append(element('caption', '', 'Record counts'));
  for (const [field, label] of shown) {
    const value = metrics![field]!;
    const row = element('tr', 'metric');
    row.dataset.metric = field;
    row.dataset.value = String(value);
    const bar = svg('svg', { class: 'bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
    bar.append(svg('rect', { x: 0, y: 0, width: (value / largest) * 100, height: 10, class: `fill ${field}` }));
    const cell = element('td', 'chart');
    cell.append(bar);
    row.append(element('th', '', label), cell, element('td', 'value', count(value)));
    table.append(row);
  }
  return table;
}

/**
 * A workflow's last runs, oldest on the left: a bar per run for the records
 * it processed, a tick for how long it took, a failed run in red and crossed.
 */
export function historyChart(workflowName: string, jobs: Job[]): HTMLElement {
  const figure = element('figure', 'history');
  const runs = [...jobs].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
  const failed = runs.filter((job) => job.status === 'FAILED').length;
  const width = Math.max(runs.length, 1) * 10;
  const chart = svg('svg', {
    viewBox: `0 0 ${width} 40`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': `${workflowName}: the last ${runs.length} runs, records processed as bars and duration as ticks${failed ? `; ${failed} failed` : ''}.`,
  });
  const processed = (job: Job) => job.metrics?.totalRecordsProcessed ?? 0;
  const took = (job: Job) => Date.parse(job.endTime ?? job.observedAt) - Date.parse(job.startTime) || 0;
  const most = Math.max(1, ...runs.map(processed));
  const longest = Math.max(1, ...runs.map(took));
  runs.forEach((job, i) => {
    const mark = svg('g', { class: `run ${job.status.toLowerCase()}`, 'data-job-id': job.jobId });
    const title = svg('title');
    title.textContent = `${job.jobId}: ${job.status}, ${count(job.metrics?.totalRecordsProcessed)} records processed in ${duration(job)}`;
    const height = Math.max(1, (processed(job) / most) * 36);
    mark.append(title, svg('rect', { x: i * 10 + 2, y: 40 - height, width: 6, height, class: 'processed' }));
    const y = 40 - (took(job) / longest) * 36;
    mark.append(svg('line', { x1: i * 10 + 1, x2: i * 10 + 9, y1: y, y2: y, class: 'took', 'vector-effect': 'non-scaling-stroke' }));
    if (job.status === 'FAILED') {
      mark.append(svg('path', { d: `M${i * 10 + 2} 2 l6 6 m0 -6 l-6 6`, class: 'cross', 'vector-effect': 'non-scaling-stroke' }));
    }
    chart.append(mark);
  });
  const caption = element('figcaption');
  caption.append(
    element('span', 'key processed', 'records processed'),
    element('span', 'key took', 'duration'),
    element('span', 'key failed', 'failed'),
  );
  figure.append(chart, caption);
  return figure;
}
