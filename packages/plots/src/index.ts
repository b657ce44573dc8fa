export { lineChart, type ChartPoint, type LineChartOptions } from './line-chart.js';
export { barChart, type BarChartOptions, type BarPoint, type ReferenceLine } from './bar-chart.js';
export { benchmarkCharts, type BenchmarkPoint } from './benchmark-charts.js';
