// cnnfeat features in the browser: onnxruntime-web (wasm, one thread) + tokenizer.js.
//
//   import { createEmbedder } from './embedder.js';
//   const embedder = await createEmbedder('../../models/meld-glove6b50d/');
//   const [features] = await embedder.embed(["I can't believe it!"]);  // Float32Array(100)
//
// Same rules as the Python runtime (runtime/embedder.py, contract/batching.py): truncate to
// spec.max_len, sort by length, pad each batch with [PAD] to its longest row but never below the
// widest filter, or to exactly max_len for window pooling.

import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { WordLevelTokenizer } from './tokenizer.js';

// Everything is served from this page's own origin: no CDN. One thread needs no
// cross-origin isolation (SharedArrayBuffer), so plain `python -m http.server` is enough.
ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
ort.env.wasm.numThreads = 1;

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The width a batch is padded to (contract/batching.py: batch_width). */
export function batchWidth(longest, spec) {
  if (spec.pool === 'window') return spec.max_len;
  return Math.max(Math.max(...spec.filter_sizes), Math.min(longest, spec.max_len));
}

function padBatch(rows, spec) {
  const width = batchWidth(Math.max(0, ...rows.map((r) => r.length)), spec);
  const data = new BigInt64Array(rows.length * width).fill(BigInt(spec.pad_id));
  rows.forEach((row, i) => {
    for (let j = 0; j < Math.min(row.length, width); j++) data[i * width + j] = BigInt(row[j]);
  });
  return new ort.Tensor('int64', data, [rows.length, width]);
}

/**
 * The URL of a model directory, as a base its files resolve against: with or without the
 * trailing '/' ('../m' would otherwise resolve 'model.onnx' beside the directory, not in it).
 * @param {string} modelUrl URL of the directory, relative to the page or absolute
 */
export function modelBase(modelUrl) {
  const url = new URL(modelUrl, location.href);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * Load a model directory served over HTTP (model.onnx, tokenizer.json, cnnfeat.json).
 * @param {string} modelUrl URL of the directory (a trailing '/' is optional)
 */
export async function createEmbedder(modelUrl, { batchSize = 256 } = {}) {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('batchSize must be a positive integer');
  const base = modelBase(modelUrl);
  const [card, tokenizerBytes, modelBytes] = await Promise.all([
    fetchOk(new URL('cnnfeat.json', base)).then((r) => r.json()),
    fetchOk(new URL('tokenizer.json', base)).then((r) => r.arrayBuffer()),
    fetchOk(new URL('model.onnx', base)).then((r) => r.arrayBuffer()),
  ]);
  // crypto.subtle exists on https and on localhost: check the files belong to this card.
  if (globalThis.crypto?.subtle) {
    const files = { 'model.onnx': modelBytes, 'tokenizer.json': tokenizerBytes };
    for (const [name, bytes] of Object.entries(files)) {
      if ((await sha256Hex(bytes)) !== card.sha256?.[name]) {
        throw new Error(`${name} does not belong to this model (sha256 differs from cnnfeat.json)`);
      }
    }
  }
  const spec = card.spec;
  const tokenizer = new WordLevelTokenizer(
    JSON.parse(new TextDecoder().decode(tokenizerBytes)), { maxLength: spec.max_len });
  if (tokenizer.vocabSize !== spec.vocab_size || tokenizer.tokenToId('[PAD]') !== spec.pad_id ||
      tokenizer.tokenToId('[UNK]') !== spec.unk_id) {
    throw new Error('tokenizer.json does not match the model spec');
  }
  const session = await ort.InferenceSession.create(new Uint8Array(modelBytes), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });

  const tokenize = (lines) => lines.map((line) => tokenizer.encode(line));

  async function embedIds(rows) {
    const dim = spec.feature_dim;
    const out = new Array(rows.length);
    const order = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length);
    for (let start = 0; start < order.length; start += batchSize) {
      const picked = order.slice(start, start + batchSize);
      const result = await session.run({ input_ids: padBatch(picked.map((i) => rows[i]), spec) });
      const flat = result.features.data;
      picked.forEach((i, k) => { out[i] = flat.slice(k * dim, (k + 1) * dim); });
    }
    return out;
  }

  return {
    card,
    spec,
    dim: spec.feature_dim,
    tokenizer,
    tokenize,
    embedIds,
    /** @returns {Promise<Float32Array[]>} one feature vector per line, in order */
    embed: async (lines) => embedIds(tokenize(lines)),
  };
}
