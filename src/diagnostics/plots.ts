import { lineChartSvg, type Series } from '../io/svg-plot.js';
import type { DiagnoseReport } from './diagnose.js';

/** One SVG figure per diagnostic of a report: file name (no folder) and content. */
export function diagnosticPlots(report: DiagnoseReport, model: string): { name: string; svg: string }[] {
  const sigma = report.levels.map((l) => l.sigma);
  const figures = [
    {
      name: 'conservativity.svg',
      svg: lineChartSvg(
        [
          { name: 'asymmetry', x: sigma, y: report.levels.map((l) => l.asymmetry) },
          { name: 'rotational part', x: sigma, y: report.levels.map((l) => l.rotational) },
        ],
        { title: `${model}: non-conservativity of the x0 Jacobian`, xLabel: 'noise level sigma = s/a', yLabel: 'E|uJv - vJu| / E|uJv|,  ||(J - J^T)/2||_F / ||J||_F' },
      ),
    },
    {
      name: 'gaussian-deviation.svg',
      svg: lineChartSvg(
        [
          { name: 'network vs Gaussian fit', x: sigma, y: report.levels.map((l) => l.gaussianDeviation) },
          { name: `threshold ${report.departureThreshold}`, x: [sigma[0]!, sigma[sigma.length - 1]!], y: [report.departureThreshold, report.departureThreshold] },
        ],
        { title: `${model}: departure from the best Gaussian fit`, xLabel: 'noise level sigma = s/a', yLabel: '||eps_net - eps_Gauss|| / ||eps_Gauss||' },
      ),
    },
  ];
  const lid = report.levels.filter((l) => l.lid);
  if (lid.length > 0) {
    const series: Series[] = lid.map((l) => {
      const spectra = l.lid!.singularValues, m = spectra[0]!.length;
      const mean = Array.from({ length: m }, (_, i) => spectra.reduce((s, v) => s + v[i]!, 0) / spectra.length);
      return { name: `sigma ${l.sigma.toPrecision(2)}: LID ${l.lid!.mean.toFixed(1)}`, x: mean.map((_, i) => i + 1), y: mean };
    });
    const m = lid[0]!.lid!.krylov;
    series.push({ name: 'threshold 1/2', x: [1, m], y: [0.5, 0.5] });
    figures.push({
      name: 'intrinsic-dimension.svg',
      svg: lineChartSvg(series, { title: `${model}: singular values of a J (mean over points)`, xLabel: 'index', yLabel: 'singular value of a(t) J', xScale: 'linear' }),
    });
  }
  return figures;
}
