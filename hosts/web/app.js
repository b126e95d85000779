// The page: type or paste utterances, see their features and the nearest example utterance.
// ?model=URL picks the model directory (default: the shipped model, when the repository root is
// served); ?conformance=1 also checks MODEL/conformance.json and shows the result.

import { createEmbedder, modelBase } from './embedder.js';

const EXAMPLES = [
  "I'm so happy for you, this is wonderful!",
  'Get out of my apartment, now!',
  "Oh no... I'm so sorry, I didn't know.",
  'What?! Are you serious?',
  "Ew, that's disgusting.",
  "I'm scared, what if he finds out?",
  'Okay, see you tomorrow.',
];

const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? '../../models/meld-glove6b50d/';
const $ = (id) => document.getElementById(id);

function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

function element(tag, attrs = {}, ...children) {
  const node = Object.assign(document.createElement(tag), attrs);
  node.append(...children);
  return node;
}

function renderRow(text, features, words, ids, examples, unkId) {
  const top = Math.max(...features) || 1;
  const strip = element('div', { className: 'strip', title: 'features (darker = larger)' },
    ...Array.from(features, (v) => {
      const cell = element('div');
      cell.style.background = `rgba(30, 80, 160, ${(v / top).toFixed(3)})`;
      return cell;
    }));
  const best = examples
    .map((ex) => ({ ...ex, sim: cosine(features, ex.features) }))
    .sort((a, b) => b.sim - a.sim)[0];
  return element('div', { className: 'row' },
    element('div', { className: 'text' }, text || '(empty line)'),
    element('div', { className: 'words' }, ...words.map((w, i) =>
      element('span', { className: ids[i] === unkId ? 'unk' : '' }, w))),
    strip,
    element('div', { className: 'nearest' },
      `nearest example: “${best.text}” (cosine ${best.sim.toFixed(3)})`),
    element('details', {}, element('summary', {}, `${features.length} features`),
      element('code', {}, Array.from(features, (v) => v.toFixed(4)).join(' '))));
}

async function checkConformance(embedder) {
  const doc = await (await fetch(new URL('conformance.json', modelBase(modelUrl)))).json();
  const ids = embedder.tokenize(doc.cases.map((c) => c.text));
  const features = await embedder.embedIds(ids);
  let idsEqual = 0, worst = 0;
  doc.cases.forEach((c, i) => {
    if (JSON.stringify(ids[i]) === JSON.stringify(c.ids)) idsEqual++;
    c.features.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - features[i][j])); });
  });
  const pass = idsEqual === doc.cases.length && worst <= doc.atol;
  const section = $('conformance');
  section.hidden = false;
  const line = (label, value, className = '') =>
    element('tr', {}, element('th', {}, label), element('td', { className }, value));
  section.append(element('table', {},
    line('conformance cases', String(doc.cases.length)),
    line('ids identical', `${idsEqual} / ${doc.cases.length}`),
    line('max |browser − python|', worst.toExponential(2)),
    line('result', pass ? `pass (atol ${doc.atol})` : 'FAIL', pass ? 'ok' : 'bad')));
  return { cases: doc.cases.length, idsEqual, maxAbsDiff: worst, pass };
}

async function main() {
  const embedder = await createEmbedder(modelUrl);
  const { spec } = embedder;
  $('status').textContent = `Model ${modelUrl}: ${spec.vocab_size} words, ${spec.pool} pooling, ` +
    `${spec.feature_dim} features (onnxruntime-web, wasm).`;
  const exampleFeatures = await embedder.embed(EXAMPLES);
  const examples = EXAMPLES.map((text, i) => ({ text, features: exampleFeatures[i] }));

  // For tests and the console: plain arrays, so they survive structured cloning.
  window.cnnfeat = {
    spec,
    async embed(lines) {
      const ids = embedder.tokenize(lines);
      const features = await embedder.embedIds(ids);
      return { ids, features: features.map((f) => Array.from(f)) };
    },
  };

  let generation = 0;
  async function update() {
    const run = ++generation;
    const lines = $('input').value.split('\n');
    const encoded = lines.map((line) => embedder.tokenizer.encodeWithWords(line));
    const features = await embedder.embedIds(encoded.map((e) => e.ids));
    if (run !== generation) return; // a newer edit is being embedded
    $('results').replaceChildren(...lines.map((line, i) =>
      renderRow(line, features[i], encoded[i].words, encoded[i].ids, examples, spec.unk_id)));
  }
  let pending;
  $('input').addEventListener('input', () => { clearTimeout(pending); pending = setTimeout(update, 150); });
  await update();
  if (params.has('conformance')) window.cnnfeatConformance = await checkConformance(embedder);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  $('status').textContent = `Error: ${error.message}`;
  $('status').className = 'error';
  document.body.dataset.ready = 'error';
  console.error(error);
});
