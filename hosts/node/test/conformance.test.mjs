// node --test test/   (CNNFEAT_MODEL_DIR=... to pick the model; default: the shipped one)
//
// The Node host must reproduce MODEL_DIR/conformance.json, written by the Python runtime:
// token ids exactly, features within its atol.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadCard, createEmbedder } from '../embedder.mjs';
import { splitLines } from '../embed.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODEL_DIR = process.env.CNNFEAT_MODEL_DIR ?? join(HERE, '..', '..', '..', 'models', 'meld-glove6b50d');
const CONFORMANCE = process.env.CNNFEAT_CONFORMANCE ?? join(MODEL_DIR, 'conformance.json');
const doc = JSON.parse(readFileSync(CONFORMANCE, 'utf8'));
const texts = doc.cases.map((c) => c.text);
const embedder = await createEmbedder(MODEL_DIR);

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function assertClose(rows, label) {
  let worst = 0;
  rows.forEach((row, i) => {
    const diff = maxAbsDiff(row, doc.cases[i].features);
    assert.ok(diff <= doc.atol, `${label}: case ${doc.cases[i].name} differs by ${diff}`);
    worst = Math.max(worst, diff);
  });
  return worst;
}

test('the conformance file belongs to this model', () => {
  assert.deepEqual(doc.model.sha256, loadCard(MODEL_DIR).sha256);
});

test('token ids are exactly the Python ids', async () => {
  const ids = await embedder.tokenize(texts);
  doc.cases.forEach((c, i) => assert.deepEqual(ids[i], c.ids, `case ${c.name}: ${JSON.stringify(c.text)}`));
});

test('features match within atol', async (t) => {
  const worst = assertClose(await embedder.embed(texts), 'batch');
  t.diagnostic(`max abs diff ${worst.toExponential(2)} over ${texts.length} cases`);
});

test('padding and batching never change a row', async () => {
  const small = await createEmbedder(MODEL_DIR, { batchSize: 3 });
  assertClose(await small.embed(texts), 'batch size 3');
  const alone = [];
  for (const text of texts) alone.push((await embedder.embed([text]))[0]);
  assertClose(alone, 'one at a time');
});

test('embed.mjs prints one JSON array per input line, in order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cnnfeat-node-'));
  const input = join(dir, 'input.txt');
  writeFileSync(input, texts.join('\n') + '\n');
  const out = execFileSync(process.execPath, [join(HERE, '..', 'embed.mjs'), '--model', MODEL_DIR, input],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  const rows = out.trimEnd().split('\n').map((line) => JSON.parse(line));
  assert.equal(rows.length, texts.length);
  assertClose(rows, 'embed.mjs');
  const file = join(dir, 'out.jsonl');
  execFileSync(process.execPath,
    [join(HERE, '..', 'embed.mjs'), '--model', MODEL_DIR, input, '--output', file]);
  assert.equal(readFileSync(file, 'utf8'), out);
});

test('lines split like the Python reader', () => {
  assert.deepEqual(splitLines(''), []);
  assert.deepEqual(splitLines('\n'), ['']);
  assert.deepEqual(splitLines('\ufeffa\r\nb\rc\n\nd'), ['a', 'b', 'c', '', 'd']);
  assert.deepEqual(splitLines('a\r\r\n'), ['a', '']);
  assert.deepEqual(splitLines('a\u2028b\x0bc\x85d'), ['a\u2028b\x0bc\x85d']);
  assert.deepEqual(splitLines('a\n\ufeffb'), ['a', '\ufeffb']);
});
