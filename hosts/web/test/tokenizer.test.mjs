// node --test test/   (CNNFEAT_MODEL_DIR=... to pick the model; default: the shipped one)
//
// tokenizer.js must split and look up words exactly as the Rust tokenizer does: checked against
// MODEL_DIR/conformance.json (words and ids from Python) and on the rules it implements.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { WordLevelTokenizer } from '../tokenizer.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODEL_DIR = process.env.CNNFEAT_MODEL_DIR ?? join(HERE, '..', '..', '..', 'models', 'meld-glove6b50d');
const CONFORMANCE = process.env.CNNFEAT_CONFORMANCE ?? join(MODEL_DIR, 'conformance.json');

test('conformance cases: the same words and ids as Python', () => {
  const json = JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer.json'), 'utf8'));
  const doc = JSON.parse(readFileSync(CONFORMANCE, 'utf8'));
  const tokenizer = new WordLevelTokenizer(json, { maxLength: doc.model.spec.max_len });
  for (const c of doc.cases) {
    const { ids, words } = tokenizer.encodeWithWords(c.text);
    assert.deepEqual(words, c.words, `case ${c.name}: ${JSON.stringify(c.text)}`);
    assert.deepEqual(ids, c.ids, `case ${c.name}`);
  }
});

// A small tokenizer.json in the shape contract/tokenizer.py writes.
function tiny(normalizers, pretokenizers, extra = {}) {
  const vocab = { '[PAD]': 0, '[UNK]': 1, a: 2, b: 3, '$&': 4, 'οδοσ': 5 };
  return new WordLevelTokenizer({
    added_tokens: [],
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: { type: 'Sequence', pretokenizers },
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
    ...extra,
  });
}
const WS = { type: 'WhitespaceSplit' };

test('Lowercase maps one character at a time, like Rust', () => {
  const t = tiny([{ type: 'Lowercase' }], [WS]);
  assert.deepEqual(t.words('ΟΔΟΣ'), ['οδοσ']); // String#toLowerCase would end in final sigma ς
  assert.deepEqual(t.encode('ΟΔΟΣ'), [5]);
});

test('WhitespaceSplit splits on Unicode White_Space: not U+FEFF, yes U+0085', () => {
  const t = tiny([], [WS]);
  assert.deepEqual(t.words('a\ufeffb'), ['a\ufeffb']);
  assert.deepEqual(t.words(' a\x85b\u3000\u2028 b\t'), ['a', 'b', 'b']);
  assert.deepEqual(t.words(' \t '), []);
});

test('Replace content is literal, for string and regex patterns', () => {
  const t = tiny([
    { type: 'Replace', pattern: { String: 'x' }, content: '$&' },
    { type: 'Replace', pattern: { Regex: '\\p{Cc}' }, content: ' ' },
  ], [WS]);
  assert.deepEqual(t.words('x\x00a\u0007b'), ['$&', 'a', 'b']);
});

test('Split "isolated" keeps matches and the text between them', () => {
  const split = { type: 'Split', pattern: { Regex: "n't|[^\\p{L}]" }, behavior: 'Isolated', invert: false };
  const t = tiny([], [WS, split]);
  assert.deepEqual(t.words("don't!! ok"), ['do', "n't", '!', '!', 'ok']);
});

test('Split inverted with "removed": the matches are the pieces, the rest goes', () => {
  const split = { type: 'Split', pattern: { Regex: '[a-z]+|[^a-z ]' }, behavior: 'Removed', invert: true };
  const t = tiny([], [split]);
  assert.deepEqual(t.words('ab, c  d!'), ['ab', ',', 'c', 'd', '!']);
  const bare = new WordLevelTokenizer({ added_tokens: [], normalizer: null, pre_tokenizer: split,
    model: { type: 'WordLevel', vocab: { '[UNK]': 0, ab: 1 }, unk_token: '[UNK]' } });
  assert.deepEqual(bare.encode(' ab ab? '), [1, 1, 0]);
  const isolatedInverted = { ...split, behavior: 'Isolated' };
  assert.throws(() => tiny([], [isolatedInverted]), /unsupported inverted Split behavior/);
});

test('truncation, unknown words and unsupported components', () => {
  const t = tiny([], [WS], { truncation: { max_length: 2 } });
  assert.deepEqual(t.encode('a zzz b a'), [2, 1]);
  assert.throws(() => tiny([{ type: 'StripAccents' }], [WS]), /unsupported normalizer/);
  assert.throws(() => tiny([], [{ type: 'ByteLevel' }]), /unsupported pre-tokenizer/);
  assert.throws(() => tiny([], [{ type: 'Split', pattern: { Regex: 'a' }, behavior: 'Contiguous' }]),
    /unsupported Split behavior/);
});
