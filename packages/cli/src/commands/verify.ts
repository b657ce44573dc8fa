import * as tf from '@tensorflow/tfjs-core';
import { verify } from '@gradcache/core';
import { layersEncoder } from '@gradcache/encoders';
import { number, parse, SYNC_BACKENDS, setBackend, UsageError } from '../args.js';
import { loadUserModel, modelViews, twoViewLoss } from '../saved-model.js';

export const VERIFY_HELP = `gradcache verify — check that GradCache gives the full-batch gradient on your saved model

Usage: gradcache verify --model <dir> [options]

  --model <dir>       a tfjs layers model (model.json + weights) whose output is [batch, d]
  --batch <n>         rows per view                                   [16]
  --chunk <n>         rows per chunk                                  [4]
  --loss <l>          ntxent (two noisy views through the model) | infonce   [ntxent]
  --seed <n>          inputs and dropout replay                       [0]
  --backend <b>       wasm | cpu                                      [wasm]

Float inputs are drawn from N(0, 1); int32 inputs (token ids) from [1, 100), with the model's
input shape (unknown dimensions: 8). Exits 0 when verify passes, 1 when it fails.
`;

/** `gradcache verify`: verify() on two noisy views through a saved model; exit 0 on pass, 1 on fail. */
export async function verifyModel(args: string[], out: (line: string) => void): Promise<number> {
  const values = parse('verify', args, {
    model: { type: 'string' },
    batch: { type: 'string' },
    chunk: { type: 'string' },
    loss: { type: 'string' },
    seed: { type: 'string' },
    backend: { type: 'string' },
  });
  if (values['help'] === true) {
    out(VERIFY_HELP);
    return 0;
  }
  const dir = values['model'] as string | undefined;
  if (dir === undefined) throw new UsageError('--model is required. See gradcache verify --help.');
  const rows = number('batch', values['batch'], 16, { min: 2 });
  const chunkSize = number('chunk', values['chunk'], 4, { min: 1 });
  const seed = number('seed', values['seed'], 0);
  const loss = twoViewLoss(values['loss']);
  await setBackend(values['backend'], SYNC_BACKENDS);
  const model = await loadUserModel(dir);
  const views = modelViews(model, rows, seed);
  try {
    const encoder = layersEncoder(model);
    const report = verify({ encoders: [encoder, encoder], chunkSize, loss, seed }, views);
    out(report.summary);
    return report.pass ? 0 : 1;
  } finally {
    tf.dispose(views as tf.TensorContainer);
    model.dispose();
  }
}
