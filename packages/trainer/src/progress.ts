import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import type { FitCallbacks, StepLog } from './fit.js';

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** One line describing a step. */
export function formatStep(log: StepLog): string {
  return (
    `step ${log.step}/${log.totalSteps}  epoch ${log.epoch + 1} batch ${log.batch}/${log.batchesPerEpoch}  ` +
    `loss ${log.loss.toFixed(4)}  lr ${log.learningRate.toExponential(2)}  ${Math.round((1000 * log.rows) / log.ms)} rows/s  ` +
    `tensors ${mib(log.tensorBytes)} (step peak +${mib(log.peakBytes)})`
  );
}

/**
 * Progress on the terminal: on a TTY a bar with ETA, loss, rows/s and tensor memory (cli-progress);
 * otherwise (CI, a pipe) a plain line every `every` steps (default: about 20 lines a run) and at the
 * end. Pass `label` to name the run.
 */
export function consoleProgress(options: { label?: string; stream?: NodeJS.WriteStream; every?: number } = {}): FitCallbacks {
  const stream = options.stream ?? process.stderr;
  const label = options.label ?? 'train';
  if (stream.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    return {
      onStep(log) {
        if (bar === undefined) {
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} | loss {loss} | {rate} rows/s | tensors {memory} (peak +{peak})`,
              hideCursor: true,
              etaBuffer: 20,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(log.totalSteps, log.step - 1, { loss: '-', rate: '-', memory: '-', peak: '-' });
        }
        const payload = {
          loss: log.loss.toFixed(4),
          rate: Math.round((1000 * log.rows) / log.ms),
          memory: mib(log.tensorBytes),
          peak: mib(log.peakBytes),
        };
        bar.update(log.step, payload);
        if (log.step === log.totalSteps) bar.stop();
      },
    };
  }
  return {
    onStep(log) {
      const every = options.every ?? Math.max(1, Math.round(log.totalSteps / 20));
      if (log.step % every === 0 || log.step === log.totalSteps || log.step === 1) stream.write(`${label}: ${formatStep(log)}\n`);
    },
  };
}

/** Appends each step's log as one JSON line to `path` (the folder is made if missing). */
export function jsonlLog(path: string, extra: Record<string, unknown> = {}): FitCallbacks {
  mkdirSync(dirname(path), { recursive: true });
  return {
    onStep(log) {
      appendFileSync(path, `${JSON.stringify({ ...extra, ...log, time: new Date().toISOString() })}\n`);
    },
  };
}
