import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendPreference, backendInfo, formatBackendInfo } from '@gradcache/backend';
import { type PageStepLog, type RunResult, type Strategy, startBackend, train } from './train.js';

/** What the page has done, for people (the table) and for the end-to-end test (window.gradcacheDemo). */
interface PageState {
  backend?: string;
  running: boolean;
  runs: (RunResult & { backend: string })[];
  current: PageStepLog[];
  error?: string;
}

const state: PageState = { running: false, runs: [], current: [] };
(window as unknown as { gradcacheDemo: PageState }).gradcacheDemo = state;

const form = document.querySelector<HTMLFormElement>('#controls') as HTMLFormElement;
const status = document.querySelector<HTMLDivElement>('#status') as HTMLDivElement;
const stopButton = document.querySelector<HTMLButtonElement>('#stop') as HTMLButtonElement;
const startButton = document.querySelector<HTMLButtonElement>('#start') as HTMLButtonElement;
const table = document.querySelector<HTMLTableSectionElement>('#runs') as HTMLTableSectionElement;

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const NAMES: Record<Strategy, string> = { cached: 'GradCache', accumulate: 'accumulation', full: 'full batch', small: 'small batch' };

/** A run's label: the strategy, its batch and chunk, and the backend it ran on. */
function runLabel(strategy: Strategy, batch: number, chunk: number, backend: string): string {
  const shape = strategy === 'full' ? `B=${batch}` : strategy === 'small' ? `B=${chunk}` : `B=${batch}, chunks of ${chunk}`;
  return `${NAMES[strategy]} ${shape} · ${backend}`;
}

/** One chart: a line per run over steps. */
function chart(element: HTMLElement, title: string, unit: string): { plot: uPlot; series: (number | null)[][] } {
  const series: (number | null)[][] = [];
  const plot = new uPlot(
    {
      title,
      width: element.clientWidth || 460,
      height: 260,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: unit }],
      legend: { live: false },
      series: [{ label: 'step' }],
    },
    [[]],
    element,
  );
  return { plot, series };
}

const charts = [
  {
    ...chart(document.querySelector('#loss-chart') as HTMLElement, 'Loss on one fixed batch after each step', 'InfoNCE'),
    value: (log: PageStepLog) => log.batchLoss,
  },
  {
    ...chart(document.querySelector('#memory-chart') as HTMLElement, "Gradient peak per step (dashed: the full batch's)", 'MiB'),
    value: (log: PageStepLog) => log.gradientPeakBytes / 2 ** 20,
  },
];
const [lossChart, memoryChart] = charts as [(typeof charts)[number], (typeof charts)[number]];

/** The memory chart's dashed lines: one plain full-batch step's gradient peak, one line per batch size and backend. */
const fullBatchLines = new Map<string, (number | null)[]>();

/**
 * A run's series: a line in each chart; and in the memory chart, the first time a batch size runs
 * on a backend, a dashed line for the full batch's gradient peak there. Returns that line's values.
 */
function addRunToCharts(
  label: string,
  fullBatchLabel: string,
): { loss: (number | null)[]; memory: (number | null)[]; full: (number | null)[] } {
  const color = COLORS[state.runs.length % COLORS.length] as string;
  const [loss, memory] = charts.map((c) => {
    const values: (number | null)[] = [];
    c.series.push(values);
    c.plot.addSeries({ label, stroke: color, width: 2, spanGaps: true });
    return values;
  }) as [(number | null)[], (number | null)[]];
  let line = fullBatchLines.get(fullBatchLabel);
  if (line === undefined) {
    line = [];
    fullBatchLines.set(fullBatchLabel, line);
    memoryChart.series.push(line);
    memoryChart.plot.addSeries({ label: fullBatchLabel, stroke: '#555', width: 1, dash: [6, 4], spanGaps: true });
  }
  (document.querySelector('.charts') as HTMLElement).hidden = false;
  return { loss, memory, full: line };
}

function redraw(): void {
  for (const c of charts) {
    const length = Math.max(0, ...c.series.map((s) => s.length));
    const xs = Array.from({ length }, (_, i) => i + 1);
    c.plot.setData([xs, ...c.series.map((s) => Array.from({ length }, (_, i) => s[i] ?? null))] as uPlot.AlignedData);
  }
}

function setStatus(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

function addRow(run: PageState['runs'][number]): void {
  const row = table.insertRow();
  const last = run.logs.at(-1);
  const peak = Math.max(...run.logs.map((l) => l.peakBytes / 2 ** 20));
  const ms = run.logs.reduce((s, l) => s + l.ms, 0) / Math.max(1, run.logs.length);
  const gradientPeak = Math.max(...run.logs.map((l) => l.gradientPeakBytes / 2 ** 20));
  for (const cell of [
    NAMES[run.strategy],
    run.backend,
    run.batchSize,
    run.strategy === 'full' ? '–' : run.chunkSize,
    last?.batchLoss.toFixed(3) ?? '–',
    run.recallAt1.toFixed(1),
    gradientPeak.toFixed(2),
    (run.fullBatchPeakBytes / 2 ** 20).toFixed(2),
    peak.toFixed(2),
    ms.toFixed(0),
  ]) {
    row.insertCell().textContent = String(cell);
  }
}

let controller: AbortController | undefined;

async function run(): Promise<void> {
  const data = new FormData(form);
  const preference = String(data.get('backend')) as BackendPreference;
  const strategy = String(data.get('strategy')) as Strategy;
  const [batchSize, chunkSize, steps] = ['batch', 'chunk', 'steps'].map((k) => Number(data.get(k))) as [number, number, number];
  state.running = true;
  delete state.error;
  startButton.disabled = true;
  stopButton.disabled = false;
  controller = new AbortController();
  try {
    if (state.backend === undefined || (preference !== 'auto' && preference !== state.backend)) {
      setStatus(`Starting ${preference}…`);
      const choice = await startBackend(preference);
      state.backend = choice.backend;
    }
    const info = formatBackendInfo(await backendInfo());
    const label = runLabel(strategy, batchSize, Math.min(chunkSize, batchSize), state.backend as string);
    const lines = addRunToCharts(label, `one plain full-batch step, B=${batchSize} · ${state.backend as string} (dashed)`);
    state.current = [];
    const result = await train({
      strategy,
      batchSize,
      chunkSize: Math.min(chunkSize, batchSize),
      steps,
      seed: 1,
      signal: controller.signal,
      onStep: (log) => {
        state.current.push(log);
        lines.loss.push(lossChart.value(log));
        lines.memory.push(memoryChart.value(log));
        redraw();
        setStatus(`${info} · ${label} · step ${log.step}/${steps} · batch loss ${log.batchLoss.toFixed(3)} · ${log.ms.toFixed(0)} ms`);
      },
    });
    while (lines.full.length < result.logs.length) lines.full.push(result.fullBatchPeakBytes / 2 ** 20);
    redraw();
    const done = { ...result, backend: state.backend as string };
    state.runs.push(done);
    addRow(done);
    setStatus(`${info} · ${label} · done: recall@1 ${result.recallAt1.toFixed(1)} % · ${tf.memory().numTensors} tensors alive`);
  } catch (error) {
    state.error = error instanceof Error ? error.message : String(error);
    setStatus(state.error, true);
  } finally {
    state.running = false;
    startButton.disabled = false;
    stopButton.disabled = true;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!state.running) void run();
});
stopButton.addEventListener('click', () => controller?.abort());

// ?backend=wasm&strategy=cached&batch=256&chunk=32&steps=20&autostart: fills the form (and starts).
const params = new URLSearchParams(location.search);
for (const name of ['backend', 'strategy', 'batch', 'chunk', 'steps']) {
  const value = params.get(name);
  const field = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
  if (value !== null && field !== null) {
    if (field instanceof HTMLSelectElement && ![...field.options].some((o) => o.value === value)) field.add(new Option(value, value));
    field.value = value;
  }
}
if (params.has('autostart')) void run();
