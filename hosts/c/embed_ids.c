/* embed_ids: token ids in, cnnfeat features out, through the onnxruntime C API.
 *
 *   embed_ids MODEL.onnx [IDS.txt|-] [--threads N] [--batch-size N]
 *
 * Input: one utterance per line, its token ids separated by spaces (an empty line is an empty
 * utterance). Output: one line per utterance, feature_dim floats separated by spaces, in order.
 * The ids come from the model's tokenizer.json run elsewhere (Python, Node, or a tokenizers
 * binding linked into the host); this program only runs the network.
 *
 * Padding follows runtime/batching.py, read from the spec the exporter stores in the model's
 * metadata ("cnnfeat.spec"): rows are cut to max_len, sorted by length, batched, and each batch
 * is right-padded with pad_id to its longest row but never below the widest filter (Conv rejects
 * shorter input), or to exactly max_len for window pooling.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnxruntime_c_api.h>

static const OrtApi *ort;

static void die(const char *fmt, const char *detail) {
  fprintf(stderr, "embed_ids: error: ");
  fprintf(stderr, fmt, detail);
  fputc('\n', stderr);
  exit(1);
}

static void check(OrtStatus *status) {
  if (status != NULL) die("%s", ort->GetErrorMessage(status));
}

typedef struct {
  long max_len, min_len, pad_id, vocab_size, feature_dim;
  int window; /* pool == "window": every batch is exactly max_len wide */
} Spec;

/* Where the value of "key" starts in the spec JSON (a flat object written by the exporter). */
static const char *json_value(const char *json, const char *key) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\"", key);
  const char *at = strstr(json, quoted);
  if (at == NULL || (at = strchr(at + strlen(quoted), ':')) == NULL) die("model spec has no %s", key);
  return at + 1 + strspn(at + 1, " \n\t");
}

static long json_int(const char *json, const char *key) {
  return strtol(json_value(json, key), NULL, 10);
}

static Spec read_spec(OrtSession *session) {
  OrtAllocator *alloc;
  OrtModelMetadata *meta;
  char *json = NULL;
  check(ort->GetAllocatorWithDefaultOptions(&alloc));
  check(ort->SessionGetModelMetadata(session, &meta));
  check(ort->ModelMetadataLookupCustomMetadataMap(meta, alloc, "cnnfeat.spec", &json));
  if (json == NULL) die("%s", "the model has no cnnfeat.spec metadata; export it with cnnfeat export");
  Spec spec = {json_int(json, "max_len"), 0, json_int(json, "pad_id"), json_int(json, "vocab_size"),
               json_int(json, "feature_dim"), 0};
  spec.window = strncmp(json_value(json, "pool"), "\"window\"", 8) == 0;
  const char *sizes = json_value(json, "filter_sizes"); /* "[3, 4, 5]": keep the widest */
  for (char *end = (char *)sizes; *end != ']';) {
    long k = strtol(end + 1, &end, 10);
    if (k > spec.min_len) spec.min_len = k;
    end += strspn(end, " \n\t");
    if (*end != ',' && *end != ']') die("%s", "model spec: cannot read filter_sizes");
  }
  if (spec.min_len < 1 || spec.max_len < spec.min_len || spec.feature_dim < 1)
    die("%s", "model spec: implausible max_len, filter_sizes or feature_dim");
  check(ort->AllocatorFree(alloc, json));
  ort->ReleaseModelMetadata(meta);
  return spec;
}

typedef struct {
  int64_t *ids;
  size_t len;
  size_t index; /* input line, so output keeps input order after sorting */
} Row;

static int by_length(const void *a, const void *b) {
  const Row *x = a, *y = b;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static Row *read_rows(FILE *in, const Spec *spec, size_t *count) {
  size_t cap = 1024, n = 0, line_cap = 0;
  Row *rows = malloc(cap * sizeof *rows);
  char *line = NULL;
  ssize_t got;
  while ((got = getline(&line, &line_cap, in)) != -1) {
    if (n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
    Row *row = &rows[n];
    *row = (Row){malloc(((size_t)got / 2 + 1) * sizeof(int64_t)), 0, n};
    char *p = line, *end;
    for (;;) {
      errno = 0;
      long long id = strtoll(p, &end, 10);
      if (end == p) break;
      if (errno || id < 0 || id >= spec->vocab_size) {
        char where[64];
        snprintf(where, sizeof where, "line %zu", n + 1);
        die("%s: token id out of range for this model", where);
      }
      if ((long)row->len < spec->max_len) row->ids[row->len++] = id; /* cut like the tokenizer */
      p = end;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (*p != '\0') {
      char where[64];
      snprintf(where, sizeof where, "line %zu", n + 1);
      die("%s: expected token ids separated by spaces", where);
    }
    n++;
  }
  free(line);
  *count = n;
  return rows;
}

int main(int argc, char **argv) {
  const char *model = NULL, *input = "-";
  int threads = 0, positional = 0;
  long batch_size = 256;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc) batch_size = atol(argv[++i]);
    else if (positional == 0) model = argv[i], positional++;
    else if (positional == 1) input = argv[i], positional++;
    else positional = -1; /* too many arguments */
  }
  if (model == NULL || positional < 0 || batch_size < 1) {
    fprintf(stderr, "usage: embed_ids MODEL.onnx [IDS.txt|-] [--threads N] [--batch-size N]\n");
    return 2;
  }

  /* The header may be older than the library (the C API is backward compatible), never newer. */
  ort = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  if (ort == NULL) die("%s", "libonnxruntime is older than the header this program was built with");
  OrtEnv *env;
  OrtSessionOptions *options;
  OrtSession *session;
  check(ort->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "embed_ids", &env));
  check(ort->CreateSessionOptions(&options));
  check(ort->SetSessionGraphOptimizationLevel(options, ORT_ENABLE_ALL));
  if (threads > 0) {
    check(ort->SetIntraOpNumThreads(options, threads));
    check(ort->SetInterOpNumThreads(options, 1));
  }
  check(ort->CreateSession(env, model, options, &session));
  Spec spec = read_spec(session);

  FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "r");
  if (in == NULL) die("cannot open %s", input);
  size_t n;
  Row *rows = read_rows(in, &spec, &n);
  if (in != stdin) fclose(in);
  qsort(rows, n, sizeof *rows, by_length);

  float *features = malloc((n ? n : 1) * spec.feature_dim * sizeof(float));
  OrtMemoryInfo *memory;
  check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory));
  const char *input_names[] = {"input_ids"}, *output_names[] = {"features"};
  for (size_t start = 0; start < n; start += batch_size) {
    size_t count = n - start < (size_t)batch_size ? n - start : (size_t)batch_size;
    long longest = (long)rows[start + count - 1].len; /* sorted: the last row is the longest */
    long width = spec.window ? spec.max_len : (longest > spec.min_len ? longest : spec.min_len);
    int64_t *batch = malloc(count * width * sizeof(int64_t));
    for (size_t r = 0; r < count; r++) {
      for (long j = 0; j < width; j++)
        batch[r * width + j] = j < (long)rows[start + r].len ? rows[start + r].ids[j] : spec.pad_id;
    }
    int64_t shape[2] = {(int64_t)count, width};
    OrtValue *tensor = NULL, *output = NULL;
    check(ort->CreateTensorWithDataAsOrtValue(memory, batch, count * width * sizeof(int64_t), shape, 2,
                                              ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &tensor));
    check(ort->Run(session, NULL, input_names, (const OrtValue *const *)&tensor, 1, output_names, 1,
                   &output));
    OrtTensorTypeAndShapeInfo *info;
    int64_t dims[2] = {0, 0};
    size_t rank;
    check(ort->GetTensorTypeAndShape(output, &info));
    check(ort->GetDimensionsCount(info, &rank));
    if (rank == 2) check(ort->GetDimensions(info, dims, 2));
    ort->ReleaseTensorTypeAndShapeInfo(info);
    if (rank != 2 || dims[0] != (int64_t)count || dims[1] != spec.feature_dim)
      die("%s", "the model's output is not (batch, feature_dim)");
    float *data;
    check(ort->GetTensorMutableData(output, (void **)&data));
    for (size_t r = 0; r < count; r++)
      memcpy(&features[rows[start + r].index * spec.feature_dim], &data[r * spec.feature_dim],
             spec.feature_dim * sizeof(float));
    ort->ReleaseValue(output);
    ort->ReleaseValue(tensor);
    free(batch);
  }

  for (size_t i = 0; i < n; i++) {
    for (long j = 0; j < spec.feature_dim; j++)
      printf(j ? " %.9g" : "%.9g", features[i * spec.feature_dim + j]);
    putchar('\n');
  }
  for (size_t i = 0; i < n; i++) free(rows[i].ids);
  free(rows);
  free(features);
  ort->ReleaseMemoryInfo(memory);
  ort->ReleaseSession(session);
  ort->ReleaseSessionOptions(options);
  ort->ReleaseEnv(env);
  return fflush(stdout) == 0 ? 0 : 1;
}
