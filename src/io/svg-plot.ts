/** A small line chart as SVG (no dependencies, no Node builtins), for benchmark and diagnostic figures. */
export interface Series {
  name: string;
  x: number[];
  y: number[];
}

export type AxisScale = 'log' | 'linear';

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Axis scales (default log on both). */
  xScale?: AxisScale;
  yScale?: AxisScale;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const DASHES = ['', '6,3', '2,2', '8,3,2,3'];

/** An axis: its value -> [0, 1] map and its tick values with labels. */
interface Axis {
  frac(v: number): number;
  ticks: { v: number; label: string; major: boolean }[];
  keeps(v: number): boolean;
}

function logAxis(values: number[]): Axis {
  const l = values.map(Math.log10);
  const lo = Math.floor(Math.min(...l)), hi = Math.ceil(Math.max(...l));
  const ticks: Axis['ticks'] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > hi) break;
      ticks.push({ v, label: Math.abs(e) >= 4 ? `${m}e${e}` : String(Number(v.toPrecision(1))), major: m === 1 });
    }
  }
  return { frac: (v) => (Math.log10(v) - lo) / (hi - lo || 1), ticks, keeps: (v) => v > 0 && Number.isFinite(v) };
}

function linearAxis(values: number[]): Axis {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo > 0 && lo < 0.5 * hi) lo = 0;
  if (hi === lo) hi = lo + 1;
  const raw = (hi - lo) / 6, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const ticks: Axis['ticks'] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push({ v, label: String(Number(v.toPrecision(6))), major: true });
  return { frac: (v) => (v - lo) / (hi - lo), ticks, keeps: Number.isFinite };
}

export function lineChartSvg(series: Series[], opts: ChartOptions): string {
  const W = opts.width ?? 760, H = opts.height ?? 480, left = 70, right = 200, top = 40, bottom = 50;
  const xKeep = (opts.xScale ?? 'log') === 'log' ? (v: number) => v > 0 && Number.isFinite(v) : Number.isFinite;
  const yKeep = (opts.yScale ?? 'log') === 'log' ? (v: number) => v > 0 && Number.isFinite(v) : Number.isFinite;
  const kept = (s: Series) => s.x.map((x, i) => [x, s.y[i]!] as const).filter(([x, y]) => xKeep(x) && yKeep(y));
  const pts = series.flatMap(kept);
  if (pts.length === 0) pts.push([1, 1]);
  const xa = (opts.xScale ?? 'log') === 'log' ? logAxis(pts.map(([x]) => x)) : linearAxis(pts.map(([x]) => x));
  const ya = (opts.yScale ?? 'log') === 'log' ? logAxis(pts.map(([, y]) => y)) : linearAxis(pts.map(([, y]) => y));
  const px = (x: number) => left + xa.frac(x) * (W - left - right);
  const py = (y: number) => top + (1 - ya.frac(y)) * (H - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(W - right + left) / 2}" y="22" text-anchor="middle" font-size="15">${opts.title}</text>`,
  ];
  for (const t of xa.ticks) out.push(`<line x1="${px(t.v)}" y1="${top}" x2="${px(t.v)}" y2="${H - bottom}" stroke="#eee"/>`, `<text x="${px(t.v)}" y="${H - bottom + 16}" text-anchor="middle">${t.label}</text>`);
  for (const t of ya.ticks.filter((t) => t.major)) out.push(`<line x1="${left}" y1="${py(t.v)}" x2="${W - right}" y2="${py(t.v)}" stroke="#ddd"/>`, `<text x="${left - 6}" y="${py(t.v) + 4}" text-anchor="end">${t.label}</text>`);
  out.push(
    `<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(W - right + left) / 2}" y="${H - 12}" text-anchor="middle">${opts.xLabel}</text>`,
    `<text transform="translate(16 ${(H - bottom + top) / 2}) rotate(-90)" text-anchor="middle">${opts.yLabel}</text>`,
  );
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!, dash = DASHES[Math.floor(k / COLORS.length) % DASHES.length]!;
    const p = kept(s);
    if (p.length === 0) return;
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    if (p.length <= 64) for (const [x, y] of p) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const ly2 = top + 8 + k * 16;
    out.push(`<line x1="${W - right + 10}" y1="${ly2}" x2="${W - right + 34}" y2="${ly2}" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`, `<text x="${W - right + 40}" y="${ly2 + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
