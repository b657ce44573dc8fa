import { lineChart } from './line-chart.js';

/** The rows of `benchmark()` (from @gradcache/trainer), as far as the charts need them. */
export interface BenchmarkPoint {
  strategy: 'full' | 'cached' | 'accumulate' | 'small';
  batchSize: number;
  chunkSize: number | null;
  ms: number;
  msPerRow: number;
  peakBytes: number;
  timeRatio: number | null;
}

const SERIES = { full: 'full batch', cached: 'GradCache', accumulate: 'naive accumulation', small: 'small batch' } as const;

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
