import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One point of a line chart. */
export interface ChartPoint {
  x: number;
  y: number;
  series: string;
}

/** Options of lineChart. */
export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  /** Logarithmic x axis (chunk and batch sizes). Default true. */
  logX?: boolean;
  /** Logarithmic y axis. Default false. */
  logY?: boolean;
}

/**
 * A line chart as an SVG string (vega-lite, rendered headless in Node: no browser, no canvas), one
 * line per series, points marked — the plots `pnpm bench` and `gradcache bench` write.
 */
export async function lineChart(points: readonly ChartPoint[], options: LineChartOptions): Promise<string> {
  const { title, xTitle, yTitle, logX = true, logY = false } = options;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: 260,
    data: { values: points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => ({ ...p })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: xTitle,
        scale: logX ? { type: 'log', base: 2 } : { zero: false },
        axis: { tickCount: 6 },
      },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: logY ? { type: 'log' } : { zero: true } },
      color: { field: 'series', type: 'nominal', title: null },
    },
    config: { font: 'sans-serif', legend: { orient: 'bottom', columns: 2 } },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The rows of `benchmark()` (from @gradcache/trainer), as far as the charts need them. */
export interface BenchmarkPoint {
  strategy: 'full' | 'cached' | 'accumulate';
  batchSize: number;
  chunkSize: number | null;
  ms: number;
  msPerRow: number;
  peakBytes: number;
  timeRatio: number | null;
}

const SERIES = { full: 'full batch', cached: 'GradCache', accumulate: 'naive accumulation' } as const;

/**
 * Two SVG charts of benchmark rows. `by: 'chunk'` (one batch size): step time ÷ the full step and
 * peak tensor memory against the chunk size, the full step drawn across as a reference. `by:
 * 'batch'` (one chunk size): ms per row and peak memory against the batch size.
 */
export async function benchmarkCharts(
  rows: readonly BenchmarkPoint[],
  options: { title: string; by: 'chunk' | 'batch' },
): Promise<{ time: string; memory: string }> {
  const { title, by } = options;
  const ok = rows.filter((r) => Number.isFinite(r.ms));
  const mib = (b: number): number => b / 2 ** 20;
  if (by === 'chunk') {
    const chunks = ok.flatMap((r) => (r.chunkSize === null ? [] : [r.chunkSize]));
    const span = [Math.min(...chunks), Math.max(...chunks)];
    const points = (y: (r: BenchmarkPoint) => number | null) =>
      ok.flatMap((r) => {
        const v = y(r);
        if (v === null) return [];
        return r.chunkSize === null
          ? span.map((x) => ({ x, y: v, series: SERIES.full }))
          : [{ x: r.chunkSize, y: v, series: SERIES[r.strategy] }];
      });
    return {
      time: await lineChart(
        points((r) => r.timeRatio),
        { title: `${title}: step time`, xTitle: 'chunk size (rows)', yTitle: 'time ÷ full-batch step' },
      ),
      memory: await lineChart(
        points((r) => mib(r.peakBytes)),
        { title: `${title}: peak tensor memory`, xTitle: 'chunk size (rows)', yTitle: 'MiB' },
      ),
    };
  }
  const points = (y: (r: BenchmarkPoint) => number) =>
    ok.map((r) => ({
      x: r.batchSize,
      y: y(r),
      series: r.chunkSize === null ? SERIES.full : `${SERIES[r.strategy]}, chunk ${r.chunkSize}`,
    }));
  return {
    time: await lineChart(
      points((r) => r.msPerRow),
      { title: `${title}: time per row`, xTitle: 'batch size (rows)', yTitle: 'ms per row' },
    ),
    memory: await lineChart(
      points((r) => mib(r.peakBytes)),
      { title: `${title}: peak tensor memory`, xTitle: 'batch size (rows)', yTitle: 'MiB', logY: true },
    ),
  };
}
