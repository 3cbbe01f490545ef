/** The figures the page shows: PSNR/SSIM of the result and of the baseline, and where they were measured. */
export interface Figures {
  psnr: number;
  ssim: number;
  psnr_baseline: number;
  ssim_baseline: number;
  baseline: string;
  grid: string;
}

/** The figures of a reconstruction, from its result in the page or a server job's summary (the same fields). */
export function reconstructFigures(res: { psnr: number; ssim: number; psnr_baseline: number; ssim_baseline: number; baseline: string; figures_grid: 'model' | 'input' }): Figures {
  return { psnr: res.psnr, ssim: res.ssim, psnr_baseline: res.psnr_baseline, ssim_baseline: res.ssim_baseline, baseline: res.baseline, grid: res.figures_grid === 'model' ? 'the input in model space (64 x 64, range 2)' : 'the input on its grid' };
}

/** The figures of a raw k-space reconstruction, from its result in the page or a server job's summary: null without a fully sampled reference. */
export function kspaceFigures(res: { psnr: number | null; ssim: number | null; psnr_zero_filled: number | null; ssim_zero_filled: number | null; reference: string | null }): Figures | null {
  return res.psnr === null ? null : {
    psnr: res.psnr, ssim: res.ssim!, psnr_baseline: res.psnr_zero_filled!, ssim_baseline: res.ssim_zero_filled!, baseline: 'zero-filled',
    grid: `${res.reference} (fastMRI's evaluation: data range its maximum)`,
  };
}
