/**
 * SIGINT and SIGTERM end a command with one line, then end the process by the same signal with its
 * default action (the shell sees 130 / 143). The kernel stops every thread at once: no worker thread
 * outlives the command, and no native ONNX session is torn down under a running call (a plain
 * process.exit can abort there). Output files are written synchronously (output.ts), so the handler runs
 * before or after the writes, never between them: an interrupted command leaves the previous files as
 * they were.
 */
export function stopOnSignals(command: string): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\ntweedie ${command}: stopped by ${signal}\n`);
      process.kill(process.pid, signal);
    });
  }
}
