// cnnfeat features in Node.js: the exported model.onnx + tokenizer.json + cnnfeat.json.
//
//   import { createEmbedder } from './embedder.mjs';
//   const embedder = await createEmbedder('models/meld-glove6b50d');
//   const [features] = await embedder.embed(["I can't believe it!"]);  // Float32Array(100)
//
// Same rules as the Python runtime (runtime/embedder.py, contract/batching.py): HuggingFace's
// Rust tokenizer reads tokenizer.json and truncates to spec.max_len; rows are sorted by length,
// batched, right-padded with [PAD] to the batch's longest row but never below the widest filter
// (onnxruntime's Conv rejects shorter input), or to exactly max_len for window pooling.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import ort from 'onnxruntime-node';
import tokenizers from 'tokenizers';

const INPUT = 'input_ids';
const OUTPUT = 'features';

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Read cnnfeat.json and check that model.onnx and tokenizer.json are the files it describes. */
export function loadCard(modelDir) {
  if (!existsSync(join(modelDir, 'cnnfeat.json'))) {
    throw new Error(`${modelDir} is not a model directory (no cnnfeat.json); give --model a ` +
      'directory written by `cnnfeat export`');
  }
  const card = JSON.parse(readFileSync(join(modelDir, 'cnnfeat.json'), 'utf8'));
  for (const name of ['model.onnx', 'tokenizer.json']) {
    const want = card.sha256?.[name];
    const got = sha256(join(modelDir, name));
    if (got !== want) {
      throw new Error(`${join(modelDir, name)} does not belong to this model (sha256 ` +
        `${got.slice(0, 12)}… but cnnfeat.json says ${String(want).slice(0, 12)}…)`);
    }
  }
  return card;
}

/** The width a batch is padded to (contract/batching.py: batch_width). */
export function batchWidth(longest, spec) {
  if (spec.pool === 'window') return spec.max_len;
  return Math.max(Math.max(...spec.filter_sizes), Math.min(longest, spec.max_len));
}

/** Rows of ids -> one (rows.length, width) int64 tensor, right-padded with spec.pad_id. */
export function padBatch(rows, spec) {
  const width = batchWidth(Math.max(0, ...rows.map((r) => r.length)), spec);
  const data = new BigInt64Array(rows.length * width).fill(BigInt(spec.pad_id));
  rows.forEach((row, i) => {
    for (let j = 0; j < Math.min(row.length, width); j++) data[i * width + j] = BigInt(row[j]);
  });
  return new ort.Tensor('int64', data, [rows.length, width]);
}

/**
 * Load a model directory once; embed any number of lines.
 * @param {string} modelDir directory written by `cnnfeat export`
 * @param {{batchSize?: number, threads?: number}} options
 */
export async function createEmbedder(modelDir, { batchSize = 256, threads } = {}) {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('batchSize must be a positive integer');
  const card = loadCard(modelDir);
  const spec = card.spec;
  const tokenizer = tokenizers.Tokenizer.fromFile(join(modelDir, 'tokenizer.json'));
  if (tokenizer.getVocabSize(true) !== spec.vocab_size ||
      tokenizer.tokenToId('[PAD]') !== spec.pad_id || tokenizer.tokenToId('[UNK]') !== spec.unk_id) {
    throw new Error(`${modelDir}: tokenizer.json does not match the model spec`);
  }
  tokenizer.disablePadding();
  tokenizer.setTruncation(spec.max_len);
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  if (threads) Object.assign(options, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'), options);

  /** Token ids per line, truncated to spec.max_len, no padding. */
  async function tokenize(lines) {
    if (lines.length === 0) return [];
    const encodings = await tokenizer.encodeBatch(lines, { addSpecialTokens: false });
    return encodings.map((e) => e.getIds());
  }

  /** Features per row of ids, in input order. */
  async function embedIds(rows) {
    const dim = spec.feature_dim;
    const out = new Array(rows.length);
    const order = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length);
    for (let start = 0; start < order.length; start += batchSize) {
      const picked = order.slice(start, start + batchSize);
      const result = await session.run({ [INPUT]: padBatch(picked.map((i) => rows[i]), spec) });
      const flat = result[OUTPUT].data;
      picked.forEach((i, k) => { out[i] = flat.slice(k * dim, (k + 1) * dim); });
    }
    return out;
  }

  return {
    spec,
    card,
    dim: spec.feature_dim,
    tokenize,
    embedIds,
    /** @returns {Promise<Float32Array[]>} one feature vector per line, in order */
    embed: async (lines) => embedIds(await tokenize(lines)),
    release: () => session.release(),
  };
}
