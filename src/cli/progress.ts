import { jobContext, type CommandProgress } from './job-context.js';

/**
 * A progress bar on stderr, drawn only when stderr is a terminal (never in pipes, logs or CI),
 * so stdout stays clean for results.
 */
class Progress {
  private readonly enabled: boolean;
  private readonly start = Date.now();
  private last = 0;
  constructor(private readonly label: string, private readonly total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = Boolean(stream.isTTY) && total > 0;
    this.stream = stream;
  }
  private readonly stream: NodeJS.WriteStream;

  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < this.total && now - this.last < 80) return;
    this.last = now;
    const width = 28;
    const frac = Math.min(1, done / this.total);
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const secs = ((now - this.start) / 1000).toFixed(1);
    this.stream.write(`\r${this.label} [${bar}] ${done}/${this.total} ${secs}s`);
  }

  done(): void {
    if (this.enabled) this.stream.write('\n');
  }
}

/**
 * A progress bar for a recipe run, made at its first report, when the run's total is known; in a service
 * job the reports go to the job instead (src/cli/job-context.ts).
 */
export function runProgress(label: string): { report: (p: CommandProgress) => void | Promise<void>; done: () => void } {
  const job = jobContext.getStore();
  if (job) return { report: (p) => job.progress(label, { done: p.done, total: p.total, step: p.step, steps: p.steps, slicesDone: p.slicesDone }), done: () => {} };
  let bar: Progress | null = null;
  return {
    report: (p) => (bar ??= new Progress(label, p.total)).update(p.done),
    done: () => bar?.done(),
  };
}
