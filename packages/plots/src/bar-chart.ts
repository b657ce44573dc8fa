import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One bar of a grouped bar chart: its group on the axis, its series (colour), its height and, optionally, an error bar. */
export interface BarPoint {
  category: string;
  series: string;
  value: number;
  /** The error bar's ends (say the smallest and largest seed); both or neither. */
  low?: number;
  high?: number;
}

/** A horizontal line across the chart: a baseline every bar is read against. */
export interface ReferenceLine {
  value: number;
  label: string;
}

/** Options of barChart. */
export interface BarChartOptions {
  title: string;
  yTitle: string;
  /** Baselines drawn as dashed lines with their labels. */
  references?: readonly ReferenceLine[];
  /** The y axis's range; default from 0 to the largest value. */
  yDomain?: [number, number];
}

/**
 * A grouped bar chart as an SVG string (vega-lite, rendered headless in Node): the categories named
 * on the x axis, one bar per series in each group, error bars where given, baselines as dashed lines
 * with their labels; the legend below, one column per series.
 */
export async function barChart(bars: readonly BarPoint[], options: BarChartOptions): Promise<string> {
  const { title, yTitle, references = [], yDomain } = options;
  const values = bars.filter((b) => Number.isFinite(b.value)).map((b) => ({ ...b }));
  const series = [...new Set(values.map((b) => b.series))];
  const x = { field: 'category', type: 'nominal', title: null, sort: null, axis: { labelAngle: -30, labelLimit: 280 } } as const;
  const y = { type: 'quantitative', title: yTitle, scale: yDomain === undefined ? { zero: true } : { domain: yDomain } } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 640,
    height: 280,
    layer: [
      {
        data: { values },
        mark: { type: 'bar' },
        encoding: {
          x,
          xOffset: { field: 'series', sort: series },
          y: { ...y, field: 'value' },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            sort: series,
            legend: { orient: 'bottom', columns: series.length, labelLimit: 320 },
          },
        },
      },
      {
        data: { values: values.filter((b) => b.low !== undefined && b.high !== undefined) },
        mark: { type: 'rule', color: '#222' },
        encoding: { x, xOffset: { field: 'series', sort: series }, y: { ...y, field: 'low' }, y2: { field: 'high' } },
      },
      ...references.map((r) => ({
        data: { values: [r] },
        layer: [
          { mark: { type: 'rule' as const, strokeDash: [6, 4], color: '#555' }, encoding: { y: { ...y, field: 'value' } } },
          {
            mark: {
              type: 'text' as const,
              align: 'right' as const,
              baseline: 'bottom' as const,
              dy: -2,
              x: 'width' as const,
              color: '#333',
            },
            encoding: { y: { ...y, field: 'value' }, text: { field: 'label', type: 'nominal' as const } },
          },
        ],
      })),
    ],
    config: { font: 'sans-serif' },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
