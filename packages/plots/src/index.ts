export { lineChart, type ChartPoint, type LineChartOptions } from './line-chart.js';
export { benchmarkCharts, type BenchmarkPoint } from './benchmark-charts.js';
