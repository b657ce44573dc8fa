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
