import { expect, test } from 'vitest';
import { barChart } from './bar-chart.js';

/** The marks of one layer of the chart: the SVG group vega gives it, and its line or path items. */
function marks(svg: string, layer: string, item: 'line' | 'path'): number {
  const start = svg.indexOf(`role-mark ${layer}`);
  if (start < 0) return 0;
  const end = svg.indexOf('</g>', start);
  return (svg.slice(start, end).match(new RegExp(`<${item}\\b`, 'g')) ?? []).length;
}

test('grouped bars: the categories on the axis, one bar per series, error bars only where given, baselines labelled', async () => {
  const svg = await barChart(
    [
      { category: 'ntXent', series: 'small batch', value: 90, low: 89, high: 91 },
      { category: 'ntXent', series: 'GradCache', value: 59, low: 57, high: 61 },
      { category: 'swav', series: 'small batch', value: 62 },
      { category: 'swav', series: 'GradCache', value: 56, low: 53, high: 59 },
      { category: 'vicReg', series: 'small batch', value: Number.NaN }, // not drawn
    ],
    { title: 'kNN accuracy', yTitle: 'accuracy (%)', references: [{ value: 60.8, label: 'untrained 60.8 %' }], yDomain: [0, 100] },
  );
  expect(svg.startsWith('<svg')).toBe(true);
  for (const text of ['ntXent', 'swav', 'small batch', 'GradCache', 'untrained 60.8 %', 'accuracy (%)', 'kNN accuracy']) {
    expect(svg).toContain(text);
  }
  expect(svg).not.toContain('vicReg');
  expect(marks(svg, 'layer_0_marks', 'path')).toBe(4); // the bars
  expect(marks(svg, 'layer_1_marks', 'line')).toBe(3); // the error bars: not swav's small batch
  expect(marks(svg, 'layer_2_layer_0_marks', 'line')).toBe(1); // the baseline
});
