/**
 * Ctrl-C (SIGINT) or SIGTERM during a run: the first stops it after the current step, so the run
 * can save a checkpoint and say how to resume; a second one ends the process at once (the handlers
 * are gone). Call the returned `release` when the run is over.
 */
export function stopOnSignal(out: (line: string) => void): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const stop = (name: NodeJS.Signals) => {
    release();
    out(`${name}: stopping after this step to save a checkpoint (${name} again quits at once).`);
    controller.abort();
  };
  const onInterrupt = () => stop('SIGINT');
  const onTerminate = () => stop('SIGTERM');
  const release = () => {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);
  return { signal: controller.signal, release };
}
