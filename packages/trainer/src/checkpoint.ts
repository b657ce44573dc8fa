import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { TrainerError, check } from './errors.js';
import type { Position } from './fit.js';

const FORMAT = 'gradcache-checkpoint';
const LATEST = 'latest';

/** What a checkpoint holds besides tensors. */
export interface CheckpointState {
  position: Position;
  /** Anything JSON the run needs to resume (its options, seeds, the tokenizer's settings). */
  meta: Record<string, unknown>;
}

interface TensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  length: number;
}

interface Manifest extends CheckpointState {
  format: typeof FORMAT;
  version: 1;
  variables: TensorEntry[];
  optimizer: { className: string; iterations: number; slots: TensorEntry[]; extra: TensorEntry[] };
  bytes: number;
  /** Of tensors.bin. */
  sha256: string;
}

/** The manifest's own checksum: of its JSON without this field, so a changed position or offset is caught too. */
const MANIFEST_CHECKSUM = 'manifestSha256';

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Optimizer fields tfjs recomputes on setWeights with pow() — not bit-identical to the running product (Adam, Adamax). */
const RUNNING_PRODUCTS = ['accBeta1', 'accBeta2'] as const;

/** Saves made by this process: part of each checkpoint's folder name, so two saves in one millisecond differ. */
let saves = 0;

/** Writes a file and flushes it to disk before returning. */
async function writeDurable(path: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Saves a resumable checkpoint into `directory`: every variable's value (in order, names recorded), the optimizer's
 * state (its slots, iteration count and running β products, so a resumed Adam is bit-identical),
 * the position and `meta`. Atomic: it is written to a new folder, flushed, and only then does the
 * `latest` pointer (replaced by rename) name it — a process killed mid-save leaves the previous
 * checkpoint as `latest`. Older checkpoints beyond `keep` (default 2) are removed.
 */
export async function saveCheckpoint(
  directory: string,
  contents: { variables: readonly tf.Variable[]; optimizer: tf.Optimizer; state: CheckpointState },
  options: { keep?: number } = {},
): Promise<string> {
  const { keep = 2 } = options;
  const { variables, optimizer, state } = contents;
  const slots = await optimizer.getWeights();
  // getWeights makes a new 'iter' scalar (the slots are the optimizer's own variables).
  const iter = slots[0]?.name === 'iter' ? slots.shift() : undefined;
  const iterations = iter === undefined ? 0 : ((await iter.tensor.data())[0] as number);
  iter?.tensor.dispose();
  const extra = RUNNING_PRODUCTS.flatMap((field) => {
    const value = (optimizer as unknown as Record<string, unknown>)[field];
    return value instanceof tf.Tensor ? [{ name: field, tensor: value }] : [];
  });
  // Offsets first, then each tensor's bytes copied once into the one buffer that is written.
  let offset = 0;
  const entries = (list: readonly { name: string; tensor: tf.Tensor }[]): (TensorEntry & { tensor: tf.Tensor })[] =>
    list.map(({ name, tensor }) => {
      check(
        tensor.dtype === 'float32' || tensor.dtype === 'int32',
        'INVALID_OPTION',
        () => `saveCheckpoint: ${name} is ${tensor.dtype}; only float32 and int32 tensors are saved.`,
      );
      const entry = { name, shape: [...tensor.shape], dtype: tensor.dtype, offset, length: tensor.size * 4, tensor };
      offset += entry.length;
      return entry;
    });
  const [variableEntries, slotEntries, extraEntries] = [
    entries(variables.map((v) => ({ name: v.name, tensor: v }))),
    entries(slots),
    entries(extra),
  ];
  const data = new Uint8Array(offset);
  for (const { tensor, offset: at } of [...variableEntries, ...slotEntries, ...extraEntries]) {
    const values = (await tensor.data()) as Float32Array | Int32Array; // no synchronous read: WebGPU allows none in Node
    data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
  }
  const strip = (list: (TensorEntry & { tensor: tf.Tensor })[]): TensorEntry[] => list.map(({ tensor: _t, ...entry }) => entry);
  const manifest: Manifest = {
    format: FORMAT,
    version: 1,
    ...state,
    variables: strip(variableEntries),
    optimizer: { className: optimizer.getClassName(), iterations, slots: strip(slotEntries), extra: strip(extraEntries) },
    bytes: data.length,
    sha256: sha256(data),
  };
  // A new name every save (step, then save time): a save at a step that already has a checkpoint
  // never removes the folder `latest` names before the new one is in place.
  const stamp = `${Date.now().toString(36).padStart(9, '0')}${(saves++ % 36 ** 3).toString(36).padStart(3, '0')}`;
  const name = `step-${String(state.position.step).padStart(8, '0')}-${stamp}`;
  const temporary = join(directory, `.${name}.partial-${process.pid}`);
  await mkdir(directory, { recursive: true });
  await rm(temporary, { recursive: true, force: true });
  await mkdir(temporary);
  await writeDurable(join(temporary, 'tensors.bin'), data);
  await writeDurable(
    join(temporary, 'checkpoint.json'),
    JSON.stringify({ ...manifest, [MANIFEST_CHECKSUM]: sha256(JSON.stringify(manifest)) }),
  );
  await rename(temporary, join(directory, name));
  await writeDurable(join(directory, `${LATEST}.partial-${process.pid}`), name);
  await rename(join(directory, `${LATEST}.partial-${process.pid}`), join(directory, LATEST));
  const old = (await readdir(directory)).filter((f) => /^step-\d{8}-[0-9a-z]{12}$/.test(f) && f !== name).sort();
  for (const f of old.slice(0, Math.max(0, old.length - (keep - 1)))) await rm(join(directory, f), { recursive: true, force: true });
  return join(directory, name);
}

function corrupt(directory: string, why: string): TrainerError {
  return new TrainerError(
    'INVALID_CHECKPOINT',
    `loadCheckpoint: ${directory} ${why}. Nothing was changed; point at a folder saveCheckpoint wrote.`,
  );
}

/** The folder names saveCheckpoint writes; `latest` must name one (never a path elsewhere). */
const CHECKPOINT_NAME = /^step-\d{8}-[0-9a-z]{12}$/;
/** A manifest larger than this is not one saveCheckpoint wrote (it lists names and shapes only). */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Why `entry` is not a tensor inside `bytes` bytes of data, or undefined when it is. */
function entryProblem(entry: unknown, bytes: number): string | undefined {
  if (!isRecord(entry)) return 'is not an object';
  const { name, shape, dtype, offset, length } = entry;
  if (typeof name !== 'string') return 'has no name';
  if (!Array.isArray(shape) || !shape.every(isCount)) return `(${name}) has shape ${JSON.stringify(shape)}, not a list of sizes`;
  if (dtype !== 'float32' && dtype !== 'int32') return `(${name}) has dtype ${JSON.stringify(dtype)}, not float32 or int32`;
  if (!isCount(offset) || !isCount(length) || offset % 4 !== 0 || offset + length > bytes) {
    return `(${name}) has bytes ${String(offset)}…+${String(length)}, outside tensors.bin's ${bytes}`;
  }
  if (length !== 4 * shape.reduce((a: number, b: number) => a * b, 1)) return `(${name}) has ${length} bytes for shape [${shape}]`;
  return undefined;
}

/** Every field loadCheckpoint uses, checked against the data — before anything is assigned. */
function manifestProblem(m: unknown, bytes: number): string | undefined {
  if (!isRecord(m) || m['format'] !== FORMAT || m['version'] !== 1) return `is not a ${FORMAT} v1 manifest`;
  const position = m['position'];
  if (!isRecord(position) || !['epoch', 'batch', 'step'].every((k) => isCount(position[k]))) return 'has no position {epoch, batch, step}';
  if (!isRecord(m['meta'])) return 'has no meta object';
  const optimizer = m['optimizer'];
  if (!isRecord(optimizer) || typeof optimizer['className'] !== 'string' || !isCount(optimizer['iterations'])) {
    return 'has no optimizer {className, iterations, slots, extra}';
  }
  const lists: [string, unknown][] = [
    ['variables', m['variables']],
    ['optimizer slots', optimizer['slots']],
    ['optimizer extra', optimizer['extra']],
  ];
  for (const [what, list] of lists) {
    if (!Array.isArray(list)) return `has no ${what} list`;
    for (const [k, entry] of list.entries()) {
      const problem = entryProblem(entry, bytes);
      if (problem !== undefined) return `has ${what} entry ${k} that ${problem}`;
    }
  }
  return undefined;
}

/** Reads the checkpoint `latest` names in `directory`, verifying its checksum and manifest; nothing is assigned. */
async function readCheckpoint(directory: string): Promise<{ manifest: Manifest; data: Uint8Array }> {
  let name: string;
  try {
    name = (await readFile(join(directory, LATEST), 'utf8')).trim();
  } catch (error) {
    throw corrupt(directory, `has no readable '${LATEST}' pointer (${(error as Error).message})`);
  }
  if (!CHECKPOINT_NAME.test(name)) {
    throw corrupt(
      directory,
      `has a '${LATEST}' pointer naming ${JSON.stringify(name.slice(0, 80))}, not a step-<8 digits>-<id> folder in it`,
    );
  }
  let manifest: unknown;
  let data: Uint8Array;
  try {
    const manifestPath = join(directory, name, 'checkpoint.json');
    const size = (await stat(manifestPath)).size;
    if (size > MAX_MANIFEST_BYTES) throw new Error(`checkpoint.json is ${size} bytes, over ${MAX_MANIFEST_BYTES}`);
    manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    data = new Uint8Array(await readFile(join(directory, name, 'tensors.bin')));
  } catch (error) {
    throw corrupt(directory, `names ${name}, which cannot be read (${(error as Error).message})`);
  }
  // Checkpoints from before the manifest had its own checksum load on the data's alone.
  if (isRecord(manifest) && MANIFEST_CHECKSUM in manifest) {
    const { [MANIFEST_CHECKSUM]: expected, ...rest } = manifest;
    manifest = rest;
    if (sha256(JSON.stringify(rest)) !== expected)
      throw corrupt(directory, `has a checkpoint.json in ${name} that does not match its checksum (modified)`);
  }
  const header = manifest as Partial<Manifest> | null;
  if (header?.format !== FORMAT || header.version !== 1) throw corrupt(directory, `holds no ${FORMAT} v1 (${name})`);
  if (data.length !== header.bytes || sha256(data) !== header.sha256) {
    throw corrupt(directory, `has a tensors.bin in ${name} that does not match its checksum (truncated or modified)`);
  }
  const problem = manifestProblem(manifest, data.length);
  if (problem !== undefined) throw corrupt(directory, `has a checkpoint.json in ${name} that ${problem}`);
  return { manifest: manifest as Manifest, data };
}

function tensorOf(entry: TensorEntry, data: Uint8Array): tf.Tensor {
  const bytes = data.slice(entry.offset, entry.offset + entry.length).buffer;
  return tf.tensor(entry.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes), entry.shape, entry.dtype);
}

/**
 * Restores a checkpoint saved by saveCheckpoint: assigns the variables in the order saved (shapes
 * checked; pass them in the order they were saved, as fit's `variables`), sets the
 * optimizer's state (which must be a fresh optimizer of the same class, given the same variables
 * in the same order), and returns the position and meta. Everything is checked before anything is
 * assigned: a missing or corrupt checkpoint, a missing variable or a shape mismatch throws
 * INVALID_CHECKPOINT and changes nothing.
 */
export async function loadCheckpoint(
  directory: string,
  contents: { variables: readonly tf.Variable[]; optimizer: tf.Optimizer },
): Promise<CheckpointState> {
  const { manifest, data } = await readCheckpoint(directory);
  // By position: layer variable names carry global counters (embedding_Embedding3/…), so the same
  // model built in another order or process gets other names; the order fit trains them is fixed.
  const saved = manifest.variables;
  if (saved.length !== contents.variables.length) {
    throw corrupt(directory, `holds ${saved.length} variables, the model has ${contents.variables.length}`);
  }
  contents.variables.forEach((v, k) => {
    const entry = saved[k] as TensorEntry;
    if (!tf.util.arraysEqual(entry.shape, v.shape)) {
      throw corrupt(directory, `has variable ${k} (${entry.name}) as [${entry.shape}], the model's ${v.name} is [${v.shape}]`);
    }
  });
  if (manifest.optimizer.className !== contents.optimizer.getClassName()) {
    throw corrupt(directory, `was saved with a ${manifest.optimizer.className}, not a ${contents.optimizer.getClassName()}`);
  }
  // Optimizer slots come a group per kind (Adam: every m, then every v), each in the variables' order.
  const n = contents.variables.length;
  const savedSlots = manifest.optimizer.slots;
  const slotMismatch = savedSlots.some(
    (e, k) => n === 0 || !tf.util.arraysEqual(e.shape, (contents.variables[k % n] as tf.Variable).shape),
  );
  if (savedSlots.length % Math.max(n, 1) !== 0 || slotMismatch) {
    throw corrupt(directory, `has ${savedSlots.length} optimizer slots that do not match the ${n} variables' shapes`);
  }
  for (const e of manifest.optimizer.extra) {
    const field = (contents.optimizer as unknown as Record<string, unknown>)[e.name];
    if (field instanceof tf.Variable && !tf.util.arraysEqual(field.shape, e.shape)) {
      throw corrupt(directory, `has optimizer field ${e.name} as [${e.shape}], the optimizer's is [${field.shape}]`);
    }
  }
  tf.tidy(() => {
    contents.variables.forEach((v, k) => v.assign(tensorOf(saved[k] as TensorEntry, data)));
  });
  const { iterations, slots, extra } = manifest.optimizer;
  const iter = tf.scalar(iterations, 'int32');
  const values = slots.map((e) => ({ name: e.name, tensor: tensorOf(e, data) }));
  await contents.optimizer.setWeights([{ name: 'iter', tensor: iter }, ...values]);
  tf.dispose([iter, values.map((v) => v.tensor)]);
  for (const e of extra) {
    const field = (contents.optimizer as unknown as Record<string, unknown>)[e.name];
    if (field instanceof tf.Variable) {
      const value = tensorOf(e, data);
      field.assign(value);
      value.dispose();
    }
  }
  return { position: manifest.position, meta: manifest.meta };
}

/**
 * The position and meta of the checkpoint `latest` names in `directory`, read and verified as
 * loadCheckpoint reads it, without assigning anything — to rebuild a model from its meta before
 * loading its weights.
 */
export async function readCheckpointState(directory: string): Promise<CheckpointState> {
  const { manifest } = await readCheckpoint(directory);
  return { position: manifest.position, meta: manifest.meta };
}

/** Whether `directory` holds a checkpoint (a `latest` pointer). */
export async function hasCheckpoint(directory: string): Promise<boolean> {
  try {
    await readFile(join(directory, LATEST));
    return true;
  } catch {
    return false;
  }
}

/** Writes text to a file atomically (temporary file, flush, rename). */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await writeDurable(`${path}.partial-${process.pid}`, text);
  await rename(`${path}.partial-${process.pid}`, path);
}
