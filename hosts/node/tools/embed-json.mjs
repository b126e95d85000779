// Test helper: node tools/embed-json.mjs MODEL_DIR TEXTS.json OUT.json
// Embeds a JSON array of strings and writes {ids, features, seconds, load_seconds} (used by
// tests/hosts/test_hosts.py to compare with Python on the MELD test set; texts may hold line breaks).

import { readFileSync, writeFileSync } from 'node:fs';

import { createEmbedder } from '../embedder.mjs';

const [modelDir, textsPath, outPath] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(textsPath, 'utf8'));
let start = performance.now();
const embedder = await createEmbedder(modelDir);
const loadSeconds = (performance.now() - start) / 1000;
start = performance.now();
const ids = await embedder.tokenize(texts);
const features = await embedder.embedIds(ids);
const seconds = (performance.now() - start) / 1000;
writeFileSync(outPath, JSON.stringify({
  ids, features: features.map((f) => Array.from(f)), seconds, load_seconds: loadSeconds,
}));
