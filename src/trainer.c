/* trainer.c: what templates/train.c needs to know of one model: the
   train block's settings as defaults, what its targets and outputs are,
   and a hash of its parameters, which a weights file must match. */
#include "trainer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Columns of the outputs, for the header row of predictions: "probs[3]". */
static void output_names(FILE *f, const Program *p) {
  for (int i = 0; i < p->noutputs; i++) {
    const Symbol *s = p->outputs[i];
    long n = shape_size(s->shape);
    for (long k = 0; k < n; k++)
      fprintf(f, n == 1 && s->shape.rank == 0 ? "\"%s\", " : "\"%s[%ld]\", ", s->name, k);
  }
  fputs("NULL", f);
}

/* The class count, when the targets are one class index; else 0. */
static int single_class_target(const Program *p) {
  int classes = 0, targets = 0;
  for (int i = 0; i < p->nsyms; i++)
    if (p->syms[i]->kind == SYM_TARGET) {
      targets++;
      classes = p->syms[i]->nclass;
    }
  return targets == 1 ? classes : 0;
}

/* Where in the outputs a vector of N scalars starts (the first output of
   that size), or -1: the scores accuracy and RMSE are computed from. */
static long output_of_size(const Program *p, long n) {
  long off = 0;
  for (int i = 0; i < p->noutputs; i++) {
    long size = shape_size(p->outputs[i]->shape);
    if (size == n)
      return off;
    off += size;
  }
  return -1;
}

/* FNV-1a of the params' names and shapes: a weights file of another model
   (or of this one changed) is refused. */
static uint64_t params_hash(const Program *p) {
  uint64_t h = EMIT_HASH_START;
  char buf[SHAPE_STR_MAX + 128];
  for (int i = 0; i < p->nsyms; i++) {
    const Symbol *s = p->syms[i];
    if (s->kind != SYM_PARAM)
      continue;
    char shape[SHAPE_STR_MAX];
    int n = snprintf(buf, sizeof buf, "%.100s%s;", s->name, shape_str(s->shape, shape));
    h = emit_hash(h, buf, (size_t)n);
  }
  return h;
}

static char *text_of(void (*write)(FILE *, const Program *), const Program *p) {
  char *text;
  size_t size;
  FILE *f = open_memstream(&text, &size);
  write(f, p);
  fclose(f);
  return text;
}

static bool write_file(const char *dir, const char *name, const char *tmpl, const Slot *slots, int nslots,
                       FILE *err) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *path = malloc(n);
  if (!path)
    fatal("out of memory");
  snprintf(path, n, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  bool ok = f != NULL;
  if (f) {
    emit_template(tmpl, slots, nslots, f);
    ok = fclose(f) == 0;
  }
  if (!ok)
    fprintf(err, "netc: error: cannot write '%s': %s\n", path, strerror(errno));
  free(path);
  return ok;
}

bool trainer_write(const Graph *g, const Backward *bw, const EmitOptions *o, const char *dir, EmitStats *stats,
                   FILE *err) {
  if (!emit_files(g, bw, o, dir, stats, err))
    return false;
  const Program *p = g->program;
  const TrainConfig *t = &p->train;
  Arena a;
  arena_init(&a);
  char *outputs = text_of(output_names, p), *classes = text_of(emit_target_classes, p);
  int nclass = single_class_target(p);
  char hash[32];
  snprintf(hash, sizeof hash, "0x%016llxULL", (unsigned long long)params_hash(p));
  char num[NUM_STR_MAX];
  Slot slots[] = {
      {"VERSION", NETC_VERSION},
      {"SOURCE", o->source_name},
      {"P", o->prefix},
      {"MODEL", p->name},
      {"REAL", o->dbl ? "double" : "float"},
      {"PARAMS_HASH", hash},
      {"OPTIMIZER", optimizer_name(t->optimizer)},
      {"LR", arena_strdup(&a, num_str(t->lr, num))},
      {"MOMENTUM", arena_strdup(&a, num_str(t->momentum, num))},
      {"BETA1", arena_strdup(&a, num_str(t->beta1, num))},
      {"BETA2", arena_strdup(&a, num_str(t->beta2, num))},
      {"EPS", arena_strdup(&a, num_str(t->eps, num))},
      {"WEIGHT_DECAY", arena_strdup(&a, num_str(t->weight_decay, num))},
      {"BATCH", arena_printf(&a, "%d", t->batch)},
      {"EPOCHS", arena_printf(&a, "%d", t->epochs)},
      {"SEED", arena_printf(&a, "%llu", (unsigned long long)t->seed)},
      {"CLIP", arena_strdup(&a, num_str(t->clip, num))},
      {"OUTPUT_NAMES", outputs},
      {"TARGET_CLASSES", classes},
      {"NUM_CLASSES", arena_printf(&a, "%d", nclass)},
      {"CLASS_OUTPUT", arena_printf(&a, "%ld", nclass ? output_of_size(p, nclass) : -1L)},
      {"VALUE_OUTPUT", arena_printf(&a, "%ld", nclass ? -1L : output_of_size(p, program_size(p, SYM_TARGET)))},
      {"FLAGS", o->dbl ? "--double" : ""},
      {"NEEDS", o->blas && o->threads > 1 ? ", OpenMP and CBLAS (-lopenblas)"
                : o->blas                  ? " and CBLAS (-lopenblas)"
                : o->threads > 1           ? " and OpenMP"
                                           : ", nothing else"},
      {"BUILD_FLAGS", o->threads > 1 ? " -fopenmp" : ""},
      {"LIBS", o->blas ? " -lopenblas" : ""},
  };
  int nslots = (int)(sizeof slots / sizeof slots[0]);
  char *train_name = arena_printf(&a, "%s_train.c", o->prefix);
  bool ok = write_file(dir, train_name, "train.c", slots, nslots, err) &&
            write_file(dir, "Makefile", "train.mk", slots, nslots, err);
  free(outputs);
  free(classes);
  arena_free(&a);
  return ok;
}
