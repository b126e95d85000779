// A tokenizer.json interpreter for the pieces cnnfeat's tokenizer uses, with the semantics of
// HuggingFace's Rust `tokenizers` (what Python and Node run), for browsers and any JS engine.
//
// Why not a JS tokenizer library: @huggingface/tokenizers 0.2 splits words on JavaScript's `\s`,
// which includes U+FEFF (a BOM) where Rust's `char::is_whitespace` does not, and lowercases the
// whole string at once (Greek final sigma) where Rust maps one character at a time. Both change
// ids. Anything this file does not know throws, so a new component can never be ignored quietly.
//
// The regexes in tokenizer.json are written to mean the same to Oniguruma (Rust) and to
// JavaScript with the `u` flag (see contract/tokenizer.py), so they are compiled as they are.

// Unicode White_Space, the set Rust's `char::is_whitespace` uses (no U+FEFF, with U+0085).
const WHITESPACE = /[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

function regexOf(pattern, where) {
  if ('Regex' in pattern) return new RegExp(pattern.Regex, 'gu');
  if ('String' in pattern) return null;
  throw new Error(`${where}: unsupported pattern ${JSON.stringify(pattern)}`);
}

function normalizerOf(config) {
  if (config === null) return (text) => text;
  switch (config.type) {
    case 'Sequence': {
      const steps = config.normalizers.map(normalizerOf);
      return (text) => steps.reduce((t, step) => step(t), text);
    }
    case 'Replace': {
      const regex = regexOf(config.pattern, 'Replace');
      // Function replacements and split/join: `$` in the content stays literal.
      if (regex) return (text) => text.replace(regex, () => config.content);
      const literal = config.pattern.String;
      return (text) => text.split(literal).join(config.content);
    }
    case 'NFC': case 'NFD': case 'NFKC': case 'NFKD':
      return (text) => text.normalize(config.type);
    case 'Lowercase':
      // Per code point, like Rust: "ΟΔΟΣ" -> "οδοσ" (String#toLowerCase would give "οδος").
      return (text) => Array.from(text, (ch) => ch.toLowerCase()).join('');
    default:
      throw new Error(`unsupported normalizer ${config.type}`);
  }
}

/** Split every piece with `splitOne` and flatten. */
const splitEach = (splitOne) => (pieces) => pieces.flatMap(splitOne);

function preTokenizerOf(config) {
  if (config === null) return (pieces) => pieces;
  switch (config.type) {
    case 'Sequence': {
      const steps = config.pretokenizers.map(preTokenizerOf);
      return (pieces) => steps.reduce((p, step) => step(p), pieces);
    }
    case 'WhitespaceSplit':
      return splitEach((piece) => piece.split(WHITESPACE).filter((w) => w !== ''));
    case 'Split': {
      const regex = regexOf(config.pattern, 'Split') ?? new RegExp(escape(config.pattern.String), 'gu');
      if (config.invert) {
        // Inverted: the matches are the pieces; with Removed, everything between them goes.
        if (config.behavior !== 'Removed') throw new Error(`unsupported inverted Split behavior ${config.behavior}`);
        return splitEach((piece) => Array.from(piece.matchAll(regex), (m) => m[0]).filter((w) => w !== ''));
      }
      if (config.behavior === 'Isolated') return splitEach((piece) => isolate(piece, regex));
      if (config.behavior === 'Removed') {
        return splitEach((piece) => piece.split(regex).filter((w) => w !== ''));
      }
      throw new Error(`unsupported Split behavior ${config.behavior}`);
    }
    default:
      throw new Error(`unsupported pre-tokenizer ${config.type}`);
  }
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every match is a piece of its own, and so is the text between matches; empty pieces go. */
function isolate(text, regex) {
  const pieces = [];
  let last = 0;
  for (const m of text.matchAll(regex)) {
    if (m[0] === '') continue;
    if (m.index > last) pieces.push(text.slice(last, m.index));
    pieces.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

export class WordLevelTokenizer {
  /**
   * @param {object} json the parsed tokenizer.json
   * @param {{maxLength?: number}} options truncation (default: the file's own, if any)
   */
  constructor(json, { maxLength } = {}) {
    const model = json.model;
    if (model?.type !== 'WordLevel') throw new Error(`unsupported model ${model?.type}`);
    if ((json.added_tokens ?? []).length > 0) throw new Error('unsupported: added tokens');
    this.vocab = new Map(Object.entries(model.vocab));
    this.unkId = this.vocab.get(model.unk_token);
    if (this.unkId === undefined) throw new Error(`unk token ${model.unk_token} is not in the vocabulary`);
    this.maxLength = maxLength ?? json.truncation?.max_length ?? Infinity;
    this.normalize = normalizerOf(json.normalizer ?? null);
    this.preTokenizeNormalized = preTokenizerOf(json.pre_tokenizer ?? null);
  }

  get vocabSize() {
    return this.vocab.size;
  }

  tokenToId(token) {
    return this.vocab.get(token);
  }

  /** The words `text` becomes before vocabulary lookup (not truncated). */
  words(text) {
    return this.preTokenizeNormalized([this.normalize(text)]);
  }

  /** {ids, words}: ids truncated to maxLength; words[i] is the piece ids[i] came from. */
  encodeWithWords(text) {
    const words = this.words(text).slice(0, this.maxLength);
    return { ids: words.map((w) => this.vocab.get(w) ?? this.unkId), words };
  }

  /** Token ids, truncated to maxLength, no special tokens, no padding. */
  encode(text) {
    return this.encodeWithWords(text).ids;
  }
}
