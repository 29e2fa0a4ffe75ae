/* Argument parsing and the set-up steps every app repeats. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_add(cli *c, const char *name, const char *arg, const char *def, const char *help) {
    if (c->n == CLI_MAX_FLAGS) cli_die(c->prog, "too many flags");
    c->flags[c->n++] = (cli_flag){.name = name, .arg = arg, .help = help, .value = def};
}

void cli_add_model_options(cli *c, const zoo_model_def *def) {
    for (int i = 0; i < def->n_options; i++)
        cli_add(c, def->options[i].name, def->options[i].is_switch ? NULL : "VALUE", def->options[i].default_value,
                def->options[i].help);
}

void cli_usage_error(const cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", c->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see %s --help)\n", c->prog);
    va_end(ap);
    exit(2);
}

void cli_die(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static cli_flag *cli_find(cli *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->flags[i].name, name) == 0) return &c->flags[i];
    return NULL;
}

cli_flag *cli_get(cli *c, const char *name) {
    cli_flag *f = cli_find(c, name);
    if (!f) cli_die(c->prog, "internal: no flag --%s", name);
    return f;
}

static void print_help(const cli *c, const char *usage) {
    printf("%s\n\noptions:\n", usage);
    for (int i = 0; i < c->n; i++) {
        const cli_flag *f = &c->flags[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        printf("  %-24s %s", left, f->help);
        if (f->arg && f->value && *f->value) printf(" (default: %s)", f->value);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

bool cli_parse(cli *c, int argc, char **argv, int first, const char *usage) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(c, usage);
            return false;
        }
        if (strncmp(a, "--", 2) != 0) cli_usage_error(c, "unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_flag *f = NULL;
        for (int k = 0; k < c->n; k++)
            if (strlen(c->flags[k].name) == len && strncmp(c->flags[k].name, name, len) == 0) f = &c->flags[k];
        if (!f) cli_usage_error(c, "unknown option --%.*s", (int)len, name);
        if (!f->arg) {
            if (eq) cli_usage_error(c, "--%s takes no value", f->name);
            f->value = "1";
        } else if (eq) {
            f->value = eq + 1;
        } else {
            if (i + 1 >= argc) cli_usage_error(c, "--%s needs a value (%s)", f->name, f->arg);
            f->value = argv[++i];
        }
        f->set = true;
    }
    return true;
}

const char *cli_str(cli *c, const char *name) { return cli_get(c, name)->value; }
bool cli_on(cli *c, const char *name) { return cli_get(c, name)->set; }

long long cli_int(cli *c, const char *name, long long min, long long max) {
    const char *s = cli_str(c, name);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) cli_usage_error(c, "--%s expects an integer, got '%s'", name, s);
    if (v < min || v > max) cli_usage_error(c, "--%s must be between %lld and %lld, got %lld", name, min, max, v);
    return v;
}

double cli_float(cli *c, const char *name, double min, double max) {
    const char *s = cli_str(c, name);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || v != v) cli_usage_error(c, "--%s expects a number, got '%s'", name, s);
    if (v < min || v > max) cli_usage_error(c, "--%s must be between %g and %g, got %g", name, min, max, v);
    return v;
}

const zoo_model_def *cli_model(const char *prog, int argc, char **argv, const char *usage) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("%s\n\nmodels:\n", usage);
        for (int i = 0; zoo_models[i]; i++) printf("  %-12s %s\n", zoo_models[i]->name, zoo_models[i]->description);
        printf("\n'%s MODEL --help' lists the options.\n", prog);
        exit(0);
    }
    const zoo_model_def *def = argc >= 2 ? zoo_model_lookup(argv[1]) : NULL;
    if (!def) {
        if (argc < 2 || strncmp(argv[1], "--", 2) == 0) fprintf(stderr, "%s: name a model first\n", prog);
        else fprintf(stderr, "%s: unknown model '%s'\n", prog, argv[1]);
        fprintf(stderr, "usage: %s MODEL [options]; models:", prog);
        for (int i = 0; zoo_models[i]; i++) fprintf(stderr, " %s", zoo_models[i]->name);
        fprintf(stderr, "\n");
        exit(2);
    }
    return def;
}

void cli_add_backend(cli *c) {
    cli_add(c, "backend", "NAME", "cpu", "cpu or vulkan (or set ZOO_BACKEND)");
    cli_add(c, "threads", "N", "0", "CPU threads (0: one per core)");
    cli_add(c, "exact", NULL, NULL,
            "exact numeric mode: the same bits on every backend and thread count, slower (or set ZOO_EXACT=1)");
}

void cli_init_backend(cli *c) {
    cli_flag *b = cli_get(c, "backend");
    const char *env = getenv("ZOO_BACKEND");
    const char *name = b->set || !env || !*env ? b->value : env;
    if (strcmp(name, "cpu") != 0 && strcmp(name, "vulkan") != 0)
        cli_usage_error(c, "--backend must be cpu or vulkan, got '%s'", name);
    cli_flag *prof = cli_find(c, "profile");
    zoo_options o = {.backend = name, .threads = (int)cli_int(c, "threads", 0, 1024), .exact = cli_on(c, "exact"),
                     .profile = prof && prof->set};
    if (zoo_init_with(&o)) cli_die(c->prog, "%s", zoo_last_error());
}

zoo_model_args cli_model_args(cli *c, const zoo_model_def *def, const zoo_images *d) {
    zoo_model_args a = {0};
    if (d) a = (zoo_model_args){.c = d->c, .h = d->h, .w = d->w, .n_classes = d->n_classes};
    for (int i = 0; i < def->n_options; i++) {
        cli_flag *f = cli_find(c, def->options[i].name); /* zoo-eval takes them from the checkpoint */
        a.options[i] = f ? f->value : def->options[i].default_value;
    }
    a.seed = (uint64_t)cli_int(c, "seed", 0, (long long)1 << 62);
    return a;
}

const char *cli_shipped_model(const char *model) {
    static char path[4096];
    const char *dirs[] = {getenv("ZOO_MODELS_DIR"), ZOO_SOURCE_MODELS, ZOO_INSTALLED_MODELS};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        snprintf(path, sizeof path, "%s/%s.safetensors", dirs[i], model);
        if (access(path, R_OK) == 0) return path;
    }
    return NULL;
}

const char *cli_checkpoint(cli *c, const char *model) {
    const char *path = cli_str(c, "checkpoint");
    if (*path) return path;
    path = cli_shipped_model(model);
    if (!path) cli_usage_error(c, "--checkpoint FILE is required (no shipped %s model was found)", model);
    fprintf(stderr, "%s: using the shipped model %s\n", c->prog, path);
    return path;
}

zoo_model *cli_load_model(cli *c, const zoo_model_def *def, zoo_model_args args, const char **path) {
    const char *checkpoint = cli_checkpoint(c, def->name);
    zoo_st_file *f = zoo_safetensors_open(checkpoint);
    if (!f) cli_die(c->prog, "%s", zoo_last_error());
    args.optim = zoo_model_default_optim(def);
    if (zoo_checkpoint_args(f, def, &args)) cli_die(c->prog, "%s", zoo_last_error());
    zoo_model *m = def->create(&args);
    if (!m || zoo_checkpoint_load_parts(m, f)) cli_die(c->prog, "%s", zoo_last_error());
    /* only what sampling needs may be missing (a GAN's discriminator) */
    unsigned needed = def->generate_parts ? def->generate_parts : ~0u;
    if (m->missing_parts & needed) cli_die(c->prog, "%s lacks some of %s's tensors", checkpoint, def->name);
    zoo_safetensors_close(f);
    if (path) *path = checkpoint;
    return m;
}

/* an MNIST-format folder holds train-images-idx3-ubyte(.gz) */
static bool is_idx_folder(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    if (access(path, R_OK) == 0) return true;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    return access(path, R_OK) == 0;
}

/* --data names a folder of pictures rather than an MNIST-format one */
static bool is_image_folder(cli *c) {
    const char *dir = cli_str(c, "data");
    return cli_find(c, "image-size") && !is_idx_folder(dir) && strcmp(dir, ZOO_FASHION_MNIST_DIR) != 0;
}

bool cli_has_test_split(cli *c) { return !is_image_folder(c); }

void cli_load_data(cli *c, const char *split, zoo_images *d) {
    const char *dir = cli_str(c, "data");
    if (is_image_folder(c)) {
        /* a folder of pictures: every file is a training example */
        if (strcmp(split, "train") != 0) cli_die(c->prog, "image folders have no test split");
        int side = (int)cli_int(c, "image-size", 4, 4096), ch = (int)cli_int(c, "channels", 1, 3);
        if (ch == 2) cli_usage_error(c, "--channels must be 1 or 3");
        if (zoo_image_folder_load(dir, ch, side, side, d)) cli_die(c->prog, "%s", zoo_last_error());
        return;
    }
    if (zoo_mnist_load(dir, split, d)) cli_die(c->prog, "%s", zoo_last_error());
}
