/* The shared training loop and everything it needs around a model: checkpoints,
 * evaluation, metrics (JSON Lines) and the progress line. */
#include "train.h"

#include "internal.h"
#include "loss.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- metrics */

void zoo_metrics_set(zoo_metrics *m, const char *name, double value) {
    for (int i = 0; i < m->n; i++)
        if (strncmp(m->name[i], name, ZOO_METRIC_NAME_MAX - 1) == 0) {
            m->value[i] = value;
            return;
        }
    if (m->n == ZOO_MAX_METRICS) return;
    snprintf(m->name[m->n], ZOO_METRIC_NAME_MAX, "%s", name);
    m->value[m->n++] = value;
}

double zoo_metrics_get(const zoo_metrics *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0) return m->value[i];
    return NAN;
}

/* ---------------------------------------------------------------- models */

void zoo_model_init(zoo_model *m, const zoo_model_def *def, const zoo_model_args *args) {
    memset(m, 0, sizeof *m);
    m->def = def;
    m->args = *args;
    m->seed = args->seed;
    m->input_mean = 0.0f;
    m->input_std = 1.0f;
}

zoo_rng zoo_model_step_rng(const zoo_model *m, uint64_t stream) {
    return zoo_rng_rows(zoo_rng_stream(m->seed, stream), m->batch_first, m->batch_total);
}

void zoo_model_update(zoo_model *m, int part) {
    if (zoo_failed()) return; /* the gradients may be partial */
    if (zoo_dist_average_grads(&m->parts[part], zoo_dist_share())) return;
    if (m->clip_norm > 0.0f) zoo_clip_grad_norm(&m->parts[part], m->clip_norm);
    zoo_optim_step(&m->optim[part]);
}

zoo_optim_config zoo_model_default_optim(const zoo_model_def *def) {
    zoo_optim_config o = zoo_optim_defaults(def->defaults.optimizer, def->defaults.lr);
    if (def->defaults.beta1 > 0.0f) o.beta1 = def->defaults.beta1;
    return o;
}

void zoo_model_add_optimizers(zoo_model *m) {
    for (int i = 0; i < m->n_parts; i++) zoo_optim_init(&m->optim[i], &m->parts[i], m->args.optim);
}

void zoo_model_release(zoo_model *m) {
    for (int i = 0; i < m->n_parts; i++) {
        zoo_optim_free(&m->optim[i]);
        zoo_module_free(&m->parts[i]);
    }
    m->n_parts = 0;
}

zoo_tensor *zoo_model_find(const zoo_model *m, const char *name) {
    for (int i = 0; i < m->n_parts; i++) {
        zoo_tensor *t = zoo_module_find(&m->parts[i], name);
        if (t) return t;
    }
    return NULL;
}

int64_t zoo_model_numel(const zoo_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_parts; i++) n += zoo_module_numel(&m->parts[i]);
    return n;
}

void zoo_model_set_training(zoo_model *m, bool training) {
    for (int i = 0; i < m->n_parts; i++) zoo_module_train(&m->parts[i], training);
}

/* ---------------------------------------------------------------- checkpoints */

/* "<dir>/checkpoint.safetensors" -> "<dir>/checkpoint.optim.safetensors" */
static void optim_path(const char *path, char *out, size_t n) {
    size_t len = strlen(path);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (len > el && strcmp(path + len - el, ext) == 0) snprintf(out, n, "%.*s.optim%s", (int)(len - el), path, ext);
    else snprintf(out, n, "%s.optim", path);
}

static char *options_json(const zoo_model *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < m->def->n_options; i++) cJSON_AddStringToObject(o, m->def->options[i].name, m->args.options[i]);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int zoo_checkpoint_save(const zoo_model *m, const char *path, int64_t step, bool with_optimizer) {
    char step_s[32], mean_s[32], std_s[32], shape_s[64], classes_s[32], opath[4096];
    snprintf(shape_s, sizeof shape_s, "%d,%d,%d", m->args.c, m->args.h, m->args.w);
    snprintf(classes_s, sizeof classes_s, "%d", m->args.n_classes);
    snprintf(step_s, sizeof step_s, "%lld", (long long)step);
    snprintf(mean_s, sizeof mean_s, "%.9g", m->input_mean);
    snprintf(std_s, sizeof std_s, "%.9g", m->input_std);
    char *config = options_json(m);
    zoo_kv meta[] = {{"format", "zoo-1"}, {"model", m->def->name}, {"config", config}, {"step", step_s},
                     {"numeric", zoo_numeric_mode()}, {"input_mean", mean_s}, {"input_std", std_s},
                     {"input_shape", shape_s}, {"classes", classes_s}, {"vocab", m->args.vocab}};
    int nmeta = (int)(sizeof meta / sizeof meta[0]) - !m->args.vocab; /* a text model's vocabulary last */
    int total = 0, rc = 0;
    for (int p = 0; p < m->n_parts; p++) total += m->parts[p].n + m->optim[p].state.n;
    zoo_named *list = malloc((size_t)(total ? total : 1) * sizeof *list);
    zoo__need(list, "checkpoint list");
    if (with_optimizer) {
        int n = 0;
        for (int p = 0; p < m->n_parts; p++)
            for (int i = 0; i < m->optim[p].state.n; i++)
                list[n++] = (zoo_named){m->optim[p].state.params[i].name, m->optim[p].state.params[i].t};
        char ostep[32];
        snprintf(ostep, sizeof ostep, "%lld", (long long)m->optim[0].step);
        zoo_kv ometa[] = {{"format", "zoo-1"}, {"model", m->def->name}, {"step", step_s}, {"optimizer_step", ostep},
                          {"optimizer", zoo_optim_kind_name(m->args.optim.kind)}, {"numeric", zoo_numeric_mode()}};
        optim_path(path, opath, sizeof opath);
        rc = zoo_safetensors_save(opath, list, n, ometa, (int)(sizeof ometa / sizeof ometa[0]));
    }
    if (rc == 0) {
        int n = 0;
        for (int p = 0; p < m->n_parts; p++)
            for (int i = 0; i < m->parts[p].n; i++)
                list[n++] = (zoo_named){m->parts[p].params[i].name, m->parts[p].params[i].t};
        rc = zoo_safetensors_save(path, list, n, meta, nmeta);
    }
    free(list);
    free(config);
    return rc;
}

int zoo_checkpoint_args(const zoo_st_file *f, const zoo_model_def *def, zoo_model_args *args) {
    const char *model = zoo_st_meta(f, "model");
    if (!model || strcmp(model, def->name) != 0) {
        zoo_set_error("the checkpoint holds a %s model, not %s", model ? model : "(unnamed)", def->name);
        return -1;
    }
    const char *shape = zoo_st_meta(f, "input_shape"), *classes = zoo_st_meta(f, "classes");
    if (shape && sscanf(shape, "%d,%d,%d", &args->c, &args->h, &args->w) != 3) {
        zoo_set_error("the checkpoint's input_shape '%s' is not C,H,W", shape);
        return -1;
    }
    if (classes) args->n_classes = atoi(classes);
    const char *vocab = zoo_st_meta(f, "vocab");
    if (vocab) { /* kept past the file, like the options below */
        static char vstore[1 << 16];
        if (strlen(vocab) >= sizeof vstore) {
            zoo_set_error("the checkpoint's vocabulary is longer than %zu bytes", sizeof vstore - 1);
            return -1;
        }
        snprintf(vstore, sizeof vstore, "%s", vocab);
        args->vocab = vstore;
    }
    const char *config = zoo_st_meta(f, "config");
    cJSON *o = config ? cJSON_Parse(config) : NULL;
    for (int i = 0; i < def->n_options; i++) {
        const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, def->options[i].name) : NULL;
        /* values must outlive the JSON: keep them in f's metadata-owned copies */
        args->options[i] = def->options[i].default_value;
        if (cJSON_IsString(v)) {
            static char store[ZOO_MAX_OPTIONS][256];
            snprintf(store[i], sizeof store[i], "%s", v->valuestring);
            args->options[i] = store[i];
        }
    }
    cJSON_Delete(o);
    return 0;
}

int zoo_checkpoint_load_parts(zoo_model *m, const zoo_st_file *f) {
    m->missing_parts = 0;
    for (int p = 0; p < m->n_parts; p++) {
        int found = 0;
        for (int i = 0; i < m->parts[p].n; i++) found += zoo_st_info(f, m->parts[p].params[i].name, NULL, NULL) == 0;
        if (found == 0 && m->parts[p].n > 0) m->missing_parts |= 1u << p;
    }
    zoo_clear_error();
    if (m->missing_parts == (1u << m->n_parts) - 1) {
        zoo_set_error("the checkpoint holds none of %s's tensors", m->def->name);
        return -1;
    }
    for (int p = 0; p < m->n_parts; p++)
        for (int i = 0; i < m->parts[p].n && !(m->missing_parts >> p & 1); i++)
            if (zoo_st_read(f, m->parts[p].params[i].name, m->parts[p].params[i].t)) return -1;
    const char *mean = zoo_st_meta(f, "input_mean"), *std = zoo_st_meta(f, "input_std");
    if (mean) m->input_mean = strtof(mean, NULL);
    if (std) m->input_std = strtof(std, NULL);
    return 0;
}

int zoo_checkpoint_load_weights(zoo_model *m, const zoo_st_file *f) {
    if (zoo_checkpoint_load_parts(m, f)) return -1;
    for (int p = 0; p < m->n_parts; p++) /* a part missing whole: the read names its first tensor */
        if (m->missing_parts >> p & 1) return zoo_st_read(f, m->parts[p].params[0].name, m->parts[p].params[0].t);
    return 0;
}

int zoo_checkpoint_load_optimizer(zoo_model *m, const char *path, int64_t *step) {
    char opath[4096];
    optim_path(path, opath, sizeof opath);
    zoo_st_file *f = zoo_safetensors_open(opath);
    if (!f) {
        zoo_set_error("cannot resume from %s: its optimizer state %s is unreadable: %s", path, opath,
                      zoo_last_error());
        return -1;
    }
    int rc = 0;
    for (int p = 0; p < m->n_parts && rc == 0; p++)
        for (int i = 0; i < m->optim[p].state.n && rc == 0; i++)
            rc = zoo_st_read(f, m->optim[p].state.params[i].name, m->optim[p].state.params[i].t);
    const char *s = zoo_st_meta(f, "step"), *os = zoo_st_meta(f, "optimizer_step");
    if (rc == 0 && (!s || !os)) {
        zoo_set_error("%s: no step recorded", opath);
        rc = -1;
    }
    if (rc == 0) {
        *step = strtoll(s, NULL, 10);
        for (int p = 0; p < m->n_parts; p++) m->optim[p].step = strtoll(os, NULL, 10);
    }
    zoo_safetensors_close(f);
    return rc;
}

int zoo_checkpoint_init_from(zoo_model *m, const char *path, FILE *report) {
    zoo_st_file *f = zoo_safetensors_open(path);
    if (!f) return -1;
    int loaded = 0, skipped = 0;
    for (int p = 0; p < m->n_parts; p++)
        for (int i = 0; i < m->parts[p].n; i++) {
            zoo_param *q = &m->parts[p].params[i];
            zoo_dtype dt;
            zoo_shape s;
            char a[96], b[96];
            if (zoo_st_info(f, q->name, &dt, &s)) {
                fprintf(report, "init-from: %s: not in %s, kept its initialization\n", q->name, path);
                skipped++;
            } else if (dt != q->t->dtype || !zoo_shape_eq(s, q->t->shape)) {
                fprintf(report, "init-from: %s: checkpoint has %s, model has %s, kept its initialization\n", q->name,
                        zoo_shape_str(s, a, sizeof a), zoo_shape_str(q->t->shape, b, sizeof b));
                skipped++;
            } else if (zoo_st_read(f, q->name, q->t) == 0) {
                loaded++;
            }
        }
    fprintf(report, "init-from: loaded %d tensors from %s, skipped %d\n", loaded, path, skipped);
    zoo_safetensors_close(f);
    return 0;
}

/* ---------------------------------------------------------------- progress */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_time(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

typedef struct progress {
    bool tty, quiet;
    double t0, last;
    int64_t first_step;
} progress;

static void progress_show(progress *p, int64_t step, int64_t total, int64_t epoch, int64_t batch,
                          const zoo_metrics *mt, bool force) {
    if (p->quiet) return;
    double t = now_s();
    if (!force && t - p->last < (p->tty ? 0.2 : 10.0)) return;
    p->last = t;
    double done = (double)(step - p->first_step), rate = done / (t - p->t0 + 1e-9);
    char eta[32];
    fmt_time(rate > 0 ? (double)(total - step) / rate : 0.0, eta, sizeof eta);
    fprintf(stderr, "%sepoch %lld  step %lld/%lld", p->tty ? "\r\033[K" : "", (long long)epoch + 1,
            (long long)step, (long long)total);
    for (int i = 0; i < mt->n; i++) fprintf(stderr, "  %s %.4f", mt->name[i], mt->value[i]);
    fprintf(stderr, "  %.0f samples/s  ETA %s%s", rate * (double)batch, eta, p->tty ? "" : "\n");
    fflush(stderr);
}

static void progress_end_line(progress *p) {
    if (p->tty && !p->quiet) fputc('\n', stderr);
}

/* ---------------------------------------------------------------- the loop */

/* a metrics record; f is NULL on the ranks that write no files (data-parallel) */
static void jsonl_write(FILE *f, int64_t step, int64_t epoch, const char *extra_key, double extra,
                        const zoo_metrics *mt) {
    if (!f) return;
    fprintf(f, "{\"step\": %lld, \"epoch\": %lld", (long long)step, (long long)epoch);
    if (extra_key) fprintf(f, ", \"%s\": %.9g", extra_key, extra);
    for (int i = 0; i < mt->n; i++) fprintf(f, ", \"%s\": %.9g", mt->name[i], mt->value[i]);
    fputs("}\n", f);
    fflush(f);
}

/* mkdir -p */
static int make_dir(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) break; /* reported below */
        *p = '/';
    }
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    zoo_set_error("cannot create output directory %s: %s", dir, strerror(errno));
    return -1;
}

/* m's evaluation on d as `<prefix>_<metric>` in *out, and a metrics record; a model
   that evaluates its share under data-parallel training has its metrics summed */
static int evaluate(zoo_model *m, const zoo_dataset *d, const char *prefix, FILE *mf, int64_t step, int64_t epoch,
                    zoo_metrics *out) {
    zoo_metrics em = {0};
    int rc = m->def->evaluate(m, d, &em);
    zoo_model_set_training(m, true);
    if (rc == 0 && m->def->eval_sharded) rc = zoo_dist_sum(em.value, em.n);
    if (rc) return -1;
    *out = (zoo_metrics){0};
    for (int i = 0; i < em.n; i++) {
        char name[ZOO_METRIC_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s_%s", prefix, em.name[i]);
        zoo_metrics_set(out, name, em.value[i]);
    }
    jsonl_write(mf, step, epoch, NULL, 0, out);
    return 0;
}

/* "epoch 2 step 938: test_acc 0.8712, test_loss 0.3598" */
static void print_metrics(int64_t epoch, int64_t step, const zoo_metrics *mt, const char *note) {
    printf("epoch %lld step %lld:", (long long)epoch, (long long)step);
    for (int i = 0; i < mt->n; i++) printf("%s %s %.4f", i ? "," : "", mt->name[i], mt->value[i]);
    printf("%s\n", note);
    fflush(stdout);
}

/* the metric the model's monitor names, or NAN */
static double monitored(const zoo_model *m, const zoo_metrics *vm) {
    char name[ZOO_METRIC_NAME_MAX + 8];
    snprintf(name, sizeof name, "val_%s", m->def->monitor);
    return zoo_metrics_get(vm, name);
}

/* FNV-1a over a few examples of d (the first, middle and last): enough to tell two
   processes that loaded different data apart */
static uint64_t data_fingerprint(const zoo_dataset *d) {
    uint64_t h = 1469598103934665603ull;
    int64_t idx[3] = {0, d->n / 2, d->n - 1};
    for (int k = 0; k < 3; k++) {
        void *dst[ZOO_MAX_FIELDS] = {0};
        bool ok = true;
        for (int f = 0; f < d->n_fields; f++) ok = ok && (dst[f] = malloc((size_t)zoo_field_numel(&d->fields[f]) * 4));
        if (ok && d->fill(d, &idx[k], 1, dst) == 0)
            for (int f = 0; f < d->n_fields; f++) {
                const unsigned char *p = dst[f];
                for (int64_t i = 0; i < zoo_field_numel(&d->fields[f]) * 4; i++) h = (h ^ p[i]) * 1099511628211ull;
            }
        for (int f = 0; f < d->n_fields; f++) free(dst[f]);
    }
    return h;
}

/* Data-parallel training (dist.h): refuses ranks that differ in model, options, data or
   settings, then gives every rank rank 0's weights and optimizer state. */
static int dist_start(zoo_model *m, const zoo_dataset *train, const zoo_train_config *cfg, int64_t step,
                      int64_t total) {
    int ranks = zoo_dist_size();
    if (ranks == 1) return 0;
    if (cfg->batch < ranks) {
        zoo_set_error("--batch %lld is smaller than the %d processes: each needs a share of every batch",
                      (long long)cfg->batch, ranks);
        return -1;
    }
    int64_t last = train->n % cfg->batch;
    if (last > 0 && last < ranks) {
        zoo_set_error("the last batch of each epoch holds %lld examples (%lld %% %lld), fewer than the %d processes: "
                      "pick a --batch that leaves at least %d there or divides %lld",
                      (long long)last, (long long)train->n, (long long)cfg->batch, ranks, ranks, (long long)train->n);
        return -1;
    }
    char *options = options_json(m);
    char desc[8192];
    snprintf(desc, sizeof desc, "%s %s params %lld data %lld/%d/%d/%016llx batch %lld steps %lld at %lld seed %llu %s",
             m->def->name, options ? options : "", (long long)zoo_model_numel(m), (long long)train->n, train->n_fields,
             train->n_classes, (unsigned long long)data_fingerprint(train), (long long)cfg->batch, (long long)total,
             (long long)step, (unsigned long long)cfg->seed, zoo_numeric_mode());
    free(options);
    if (zoo_dist_check_same("model, options, data or settings", desc)) return -1;
    for (int p = 0; p < m->n_parts; p++)
        if (zoo_dist_broadcast(&m->parts[p]) || zoo_dist_broadcast(&m->optim[p].state)) return -1;
    return 0;
}

int zoo_train(zoo_model *m, const zoo_dataset *train, const zoo_dataset *test, const zoo_train_config *cfg,
              zoo_metrics *final) {
    if (cfg->val && !(m->def->evaluate && m->def->monitor)) {
        zoo_set_error("%s has no validation metric to pick the best weights by", m->def->name);
        return -1;
    }
    if (!m->def->evaluate) test = NULL;
    /* data-parallel training: every rank takes its rows of each batch; rank 0 alone
       writes files and prints (dist.h) */
    int rank = zoo_dist_rank(), ranks = zoo_dist_size();
    bool writer = rank == 0;
    if (writer && make_dir(cfg->out_dir)) return -1;
    zoo_loader loader;
    if (zoo_loader_init(&loader, train, cfg->batch, true, false, cfg->seed)) return -1;
    int64_t per_epoch = zoo_loader_batches_per_epoch(&loader);
    int64_t total = cfg->steps > 0 ? cfg->steps : cfg->epochs * per_epoch;
    int64_t step = 0;
    char path[4096], ckpt[4096];
    FILE *mf = NULL;
    if (cfg->resume) {
        if (zoo_checkpoint_load_optimizer(m, cfg->resume, &step)) goto fail;
        if (step >= total) {
            zoo_set_error("%s is at step %lld, already past the %lld steps asked for", cfg->resume, (long long)step,
                          (long long)total);
            goto fail;
        }
        printf("resuming from %s at step %lld\n", cfg->resume, (long long)step);
        zoo_st_file *rf = zoo_safetensors_open(cfg->resume);
        const char *was = rf ? zoo_st_meta(rf, "numeric") : NULL;
        if (was && strcmp(was, zoo_numeric_mode()) != 0)
            printf("note: %s was written in %s mode; this run continues in %s mode\n", cfg->resume, was,
                   zoo_numeric_mode());
        if (rf) zoo_safetensors_close(rf);
    }
    if (dist_start(m, train, cfg, step, total)) goto fail;
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->out_dir);
    mf = writer ? fopen(path, cfg->resume ? "a" : "w") : NULL;
    if (writer && !mf) {
        zoo_set_error("cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    /* the run's first record says how it computes; a resumed run adds one where it resumes */
    if (mf) {
        fprintf(mf, "{\"run\": \"%s\", \"step\": %lld, \"model\": \"%s\", \"backend\": \"%s\", \"numeric\": \"%s\", "
                "\"batch\": %lld, \"seed\": %llu, \"processes\": %d}\n",
                cfg->resume ? "resume" : "start", (long long)step, m->def->name, zoo_backend_name(), zoo_numeric_mode(),
                (long long)cfg->batch, (unsigned long long)cfg->seed, ranks);
        fflush(mf);
    }
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", cfg->out_dir);
    if (writer && m->def->write_samples && cfg->sample_every) {
        snprintf(path, sizeof path, "%s/samples", cfg->out_dir);
        if (make_dir(path)) goto fail;
    }
    if (zoo_loader_seek(&loader, step / per_epoch, step % per_epoch)) goto fail;
    bool quiet = cfg->quiet || !writer;
    progress pg = {.tty = isatty(2), .quiet = quiet, .t0 = now_s(), .first_step = step};
    double best = NAN;
    int64_t since_best = 0;
    char best_path[4096];
    snprintf(best_path, sizeof best_path, "%s/best.safetensors", cfg->out_dir);
    int rc = 0;
    zoo_metrics mt = {0}, last_eval = {0};
    zoo_model_set_training(m, true);
    m->clip_norm = cfg->clip;
    zoo_clear_error();
    for (; step < total; step++) {
        int64_t epoch = step / per_epoch;
        float lr = zoo_schedule_lr(&cfg->schedule, step);
        for (int p = 0; p < m->n_parts; p++) zoo_optim_set_lr(&m->optim[p], lr);
        zoo_scope_begin();
        zoo_batch b;
        int lrc = zoo_loader_next_part(&loader, rank, ranks, &b);
        if (lrc == 0 && b.n == 0) lrc = zoo_loader_next_part(&loader, rank, ranks, &b); /* the next epoch's first */
        memset(&mt, 0, sizeof mt);
        m->batch_first = b.first;
        m->batch_total = b.total;
        double share = b.total ? (double)b.n / (double)b.total : 1.0;
        zoo_dist_set_share(share);
        if (lrc == 0) m->def->train_step(m, &b, step, &mt);
        zoo_scope_end();
        if (ranks > 1 && lrc == 0 && !zoo_failed()) { /* the global batch's means */
            for (int i = 0; i < mt.n; i++) mt.value[i] *= share;
            lrc = zoo_dist_sum(mt.value, mt.n);
        }
        if (lrc || zoo_failed()) {
            progress_end_line(&pg);
            zoo_set_error("step %lld: %s", (long long)step + 1, zoo_last_error());
            rc = -1;
            goto done;
        }
        for (int i = 0; i < mt.n; i++)
            if (!isfinite(mt.value[i])) {
                progress_end_line(&pg);
                zoo_set_error("%s became %g at step %lld (epoch %lld): training diverged; try a lower --lr. "
                              "The last checkpoint, if any, is kept in %s",
                              mt.name[i], mt.value[i], (long long)step + 1, (long long)epoch + 1, cfg->out_dir);
                rc = -1;
                goto done;
            }
        bool epoch_end = (step + 1) % per_epoch == 0, last = step + 1 == total;
        if ((step + 1) % cfg->log_every == 0 || last) jsonl_write(mf, step + 1, epoch + 1, "lr", lr, &mt);
        progress_show(&pg, step + 1, total, epoch, cfg->batch, &mt, epoch_end || last);
        bool eval = cfg->eval_every ? (step + 1) % cfg->eval_every == 0 : epoch_end;
        if (cfg->val && (eval || last)) {
            progress_end_line(&pg);
            zoo_metrics vm;
            if (evaluate(m, cfg->val, "val", mf, step + 1, epoch + 1, &vm)) {
                rc = -1;
                goto done;
            }
            double v = monitored(m, &vm);
            bool better = isnan(best) || (m->def->monitor_max ? v > best : v < best);
            if (better) {
                best = v;
                since_best = 0;
                if (writer && zoo_checkpoint_save(m, best_path, step + 1, false)) {
                    rc = -1;
                    goto done;
                }
            } else {
                since_best++;
            }
            if (!quiet) print_metrics(epoch + 1, step + 1, &vm, since_best ? "" : " (best so far, saved)");
            if (cfg->patience > 0 && since_best >= cfg->patience) {
                if (!quiet)
                    printf("early stop: no better validation %s for %lld evaluations\n", m->def->monitor,
                           (long long)since_best);
                step++;
                break;
            }
        } else if (test && (eval || last)) {
            progress_end_line(&pg);
            if (evaluate(m, test, "test", mf, step + 1, epoch + 1, &last_eval)) {
                rc = -1;
                goto done;
            }
            if (!quiet) print_metrics(epoch + 1, step + 1, &last_eval, "");
        }
        if (writer && m->def->write_samples && cfg->sample_every && ((step + 1) % cfg->sample_every == 0 || last)) {
            snprintf(path, sizeof path, "%s/samples/step_%06lld.png", cfg->out_dir, (long long)step + 1);
            if (m->def->write_samples(m, path)) {
                rc = -1;
                goto done;
            }
            zoo_model_set_training(m, true);
        }
        bool save = cfg->ckpt_every ? (step + 1) % cfg->ckpt_every == 0 : epoch_end;
        if (writer && save && !last && zoo_checkpoint_save(m, ckpt, step + 1, true)) {
            rc = -1;
            goto done;
        }
    }
    progress_end_line(&pg);
    if (writer && zoo_checkpoint_save(m, ckpt, step, true)) {
        rc = -1;
        goto done;
    }
    if (cfg->val && !isnan(best)) { /* the final model is the best on validation */
        if (writer) {
            zoo_st_file *bf = zoo_safetensors_open(best_path);
            if (!bf || zoo_checkpoint_load_weights(m, bf)) rc = -1;
            if (bf) zoo_safetensors_close(bf);
        }
        for (int p = 0; p < m->n_parts && rc == 0; p++) rc = zoo_dist_broadcast(&m->parts[p]);
        if (rc == 0 && test) {
            rc = evaluate(m, test, "test", mf, step, (step - 1) / per_epoch + 1, &last_eval);
            if (rc == 0 && !quiet) print_metrics((step - 1) / per_epoch + 1, step, &last_eval, " (the best weights)");
        }
        if (rc) goto done;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", cfg->out_dir);
    if (writer && zoo_checkpoint_save(m, path, step, false)) rc = -1;
    else if (writer && !quiet) printf("saved %s\n", path);
    if (final) *final = last_eval;
done:
    if (mf) fclose(mf);
    zoo_loader_free(&loader);
    return rc;
fail:
    if (mf) fclose(mf);
    zoo_loader_free(&loader);
    return -1;
}

/* ---------------------------------------------------------------- sampling */

int32_t zoo_sample_logits(const float *logits, int n, const zoo_sampling *s, zoo_rng *rng) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->temperature <= 0.0f) return best;
    /* the k-th largest logit: everything below it is out (ties at it stay in) */
    float cut = -INFINITY;
    if (s->top_k > 0 && s->top_k < n) {
        float *sorted = zoo__need(malloc((size_t)n * sizeof *sorted), "top-k");
        memcpy(sorted, logits, (size_t)n * sizeof *sorted);
        for (int k = 0; k < s->top_k; k++) { /* a partial selection: k is small */
            int arg = k;
            for (int i = k + 1; i < n; i++)
                if (sorted[i] > sorted[arg]) arg = i;
            float t = sorted[k];
            sorted[k] = sorted[arg];
            sorted[arg] = t;
        }
        cut = sorted[s->top_k - 1];
        free(sorted);
    }
    double total = 0.0;
    for (int i = 0; i < n; i++)
        if (logits[i] >= cut) total += exp((double)(logits[i] - logits[best]) / s->temperature);
    /* one uniform draw in [0, total), walked through the probabilities in id order */
    double u = (double)zoo_rng_u32(rng) / 4294967296.0 * total, acc = 0.0;
    int last = best;
    for (int i = 0; i < n; i++) {
        if (logits[i] < cut) continue;
        acc += exp((double)(logits[i] - logits[best]) / s->temperature);
        last = i;
        if (u < acc) return i;
    }
    return last;
}
