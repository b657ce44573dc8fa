import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelSource } from './pretrained-model.js';

/** The fixture models made by fixtures/generate.py (PyTorch), and what PyTorch computed with them. */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const MODELS = ['bert-tiny', 'roberta-tiny'] as const;

export interface Expected {
  sentences: string[];
  ids: number[][];
  truncate_at: number;
  ids_truncated: number[][];
  batch: { input_ids: number[][]; attention_mask: number[][] };
  pooling: { mode: 'cls' | 'mean' | 'max'; normalize: boolean };
  states: number[][][];
  pooled: number[][];
  loss_matrix: number[][];
  loss: number;
  grads: Record<string, number[][] | number[]>;
}

export const EXPECTED = JSON.parse(readFileSync(`${FIXTURES}expected.json`, 'utf8')) as Record<(typeof MODELS)[number], Expected>;

/** A fixture folder in memory, with files replaced (bytes), added or removed (undefined). */
export function memorySource(model: string, changes: Record<string, Uint8Array | string | undefined> = {}): ModelSource {
  return {
    name: `fixtures/${model}`,
    async read(path) {
      if (path in changes) {
        const v = changes[path];
        return typeof v === 'string' ? new TextEncoder().encode(v) : v;
      }
      try {
        return new Uint8Array(readFileSync(`${FIXTURES}${model}/${path}`));
      } catch {
        return undefined;
      }
    },
  };
}
