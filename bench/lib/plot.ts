/** A small log-log line chart as SVG (no dependencies), for benchmark figures in the README. */
export interface Series {
  name: string;
  x: number[];
  y: number[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const DASHES = ['', '6,3', '2,2', '8,3,2,3'];

export function logLogSvg(series: Series[], opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const W = opts.width ?? 760, H = opts.height ?? 480, left = 70, right = 200, top = 40, bottom = 50;
  const pts = series.flatMap((s) => s.x.map((x, i) => [x, s.y[i]!] as const)).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
  const lx = pts.map(([x]) => Math.log10(x)), ly = pts.map(([, y]) => Math.log10(y));
  const x0 = Math.floor(Math.min(...lx)), x1 = Math.ceil(Math.max(...lx));
  const y0 = Math.floor(Math.min(...ly)), y1 = Math.ceil(Math.max(...ly));
  const px = (x: number) => left + ((Math.log10(x) - x0) / (x1 - x0 || 1)) * (W - left - right);
  const py = (y: number) => top + (1 - (Math.log10(y) - y0) / (y1 - y0 || 1)) * (H - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(W - right + left) / 2}" y="22" text-anchor="middle" font-size="15">${opts.title}</text>`,
  ];
  for (let e = x0; e <= x1; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > x1) break;
      out.push(`<line x1="${px(v)}" y1="${top}" x2="${px(v)}" y2="${H - bottom}" stroke="#eee"/>`, `<text x="${px(v)}" y="${H - bottom + 16}" text-anchor="middle">${v}</text>`);
    }
  }
  for (let e = y0; e <= y1; e++) {
    out.push(`<line x1="${left}" y1="${py(10 ** e)}" x2="${W - right}" y2="${py(10 ** e)}" stroke="#ddd"/>`, `<text x="${left - 6}" y="${py(10 ** e) + 4}" text-anchor="end">1e${e}</text>`);
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(W - right + left) / 2}" y="${H - 12}" text-anchor="middle">${opts.xLabel}</text>`,
    `<text transform="translate(16 ${(H - bottom + top) / 2}) rotate(-90)" text-anchor="middle">${opts.yLabel}</text>`,
  );
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!, dash = DASHES[Math.floor(k / COLORS.length) % DASHES.length]!;
    const p = s.x.map((x, i) => [x, s.y[i]!] as const).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(y));
    if (p.length === 0) return;
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of p) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const ly2 = top + 8 + k * 16;
    out.push(`<line x1="${W - right + 10}" y1="${ly2}" x2="${W - right + 34}" y2="${ly2}" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`, `<text x="${W - right + 40}" y="${ly2 + 4}">${s.name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
