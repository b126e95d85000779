#!/usr/bin/env node
// node embed.mjs --model MODEL_DIR INPUT.txt [--output FILE.jsonl] [--batch-size N] [--threads N]
//
// One JSON array of feature_dim floats per input line, in order, on stdout (or FILE.jsonl).
// Lines are read as the Python CLI reads a .txt file: UTF-8 (a leading BOM is dropped), \n, \r\n
// and a lone \r end a line, and every line, empty or not, gives a row. '-' reads stdin.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { createEmbedder } from './embedder.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_MODEL = join(HERE, '..', '..', 'models', 'meld-glove6b50d');
const USAGE = 'usage: node embed.mjs [--model MODEL_DIR] INPUT.txt [--output FILE.jsonl] ' +
  '[--batch-size N] [--threads N]';

/** Split text into lines exactly like runtime/reading.py does for a .txt file. */
export function splitLines(text) {
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop(); // a final line break ends the last line
  return lines;
}

/** A float32 as the shortest decimal (at most 9 digits) that reads back as the same float32. */
function short(value) {
  return Number(value.toPrecision(9));
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      model: { type: 'string', default: DEFAULT_MODEL },
      output: { type: 'string', short: 'o' },
      'batch-size': { type: 'string', default: '256' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length !== 1) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const input = positionals[0];
  const bytes = readFileSync(input === '-' ? 0 : input);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Error(`${input}: not valid UTF-8`);
  }
  const lines = splitLines(text);
  const embedder = await createEmbedder(values.model, {
    batchSize: Number(values['batch-size']),
    threads: values.threads ? Number(values.threads) : undefined,
  });
  const features = await embedder.embed(lines);
  const body = features.map((row) => JSON.stringify(Array.from(row, short)) + '\n').join('');
  if (values.output) {
    // Write next to the target, then rename: a reader never sees half a file.
    const tmp = `${values.output}.tmp-${process.pid}`;
    writeFileSync(tmp, body);
    renameSync(tmp, values.output);
  } else {
    process.stdout.write(body);
  }
  await embedder.release();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    console.error(`cnnfeat-embed: error: ${error.message}`);
    process.exit(1);
  });
}
