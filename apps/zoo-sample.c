/* zoo-sample MODEL --checkpoint F: new samples from a generative model, as one grid
 * PNG (torchvision's make_grid layout) or one PNG per sample. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *usage = "usage: zoo-sample MODEL --checkpoint FILE [options]\n\nwrites samples from a trained "
                           "generative model as a PNG grid (or one PNG per sample with --tiles); a language "
                           "model continues --prompt";

/* one [c, h, w] image in [-1, 1] -> an HWC PNG */
static int write_tile(const char *path, const float *img, int c, int h, int w) {
    uint8_t *px = zoo_image_grid(img, 1, c, h, w, 1, 0, &w, &h);
    if (!px) return -1;
    int rc = zoo_png_write(path, w, h, c, px);
    free(px);
    return rc;
}

/* prints each token's UTF-8 as it comes (a byte model's bytes as they are) */
typedef struct printer {
    const zoo_text *vocab;
} printer;

static void print_token(int32_t id, void *ctx) {
    const printer *p = ctx;
    char *s = zoo_text_decode(p->vocab, &id, 1);
    if (s) fputs(s, stdout);
    else putchar(id); /* a byte model's NUL byte */
    free(s);
    fflush(stdout);
}

/* zoo-sample for a language model: the prompt, then n tokens continuing it */
static int sample_text(cli *c, const zoo_model_def *def) {
    const char *prompt = cli_str(c, "prompt");
    int64_t n = cli_int(c, "n", 1, (long long)1 << 30);
    zoo_sampling s = {.temperature = (float)cli_float(c, "temperature", 0.0, 100.0),
                      .top_k = (int)cli_int(c, "top-k", 0, 1 << 30)};
    uint64_t seed = (uint64_t)cli_int(c, "seed", 0, (long long)1 << 62);
    cli_init_backend(c);
    const char *checkpoint;
    zoo_model *m = cli_load_model(c, def, cli_model_args(c, def, NULL), &checkpoint);
    if (!m->args.vocab) cli_die(c->prog, "%s holds no vocabulary", checkpoint);
    zoo_text vocab;
    if (zoo_text_vocab_from_string(m->args.vocab, &vocab)) cli_die(c->prog, "%s", zoo_last_error());
    int32_t *ids;
    int64_t n_ids;
    if (zoo_text_encode(&vocab, prompt, &ids, &n_ids)) cli_die(c->prog, "--prompt: %s", zoo_last_error());
    if (n_ids == 0) cli_usage_error(c, "--prompt must hold at least one character");
    zoo_rng rng = zoo_rng_stream(seed, 6);
    printer p = {&vocab};
    fputs(prompt, stdout);
    if (def->generate_tokens(m, ids, n_ids, n, &s, !cli_on(c, "no-cache"), &rng, print_token, &p))
        cli_die(c->prog, "%s", zoo_last_error());
    putchar('\n');
    free(ids);
    zoo_text_free(&vocab);
    def->destroy(m);
    zoo_shutdown();
    return 0;
}

/* the settings a PNG records (key "zoo-sample": the model, then one argument per line) */
#define SETTINGS_KEY "zoo-sample"
#define MAX_ARGS 64

/* --from-png FILE: argv with the arguments FILE recorded in front of the ones given (which
   win, coming later), FILE's own pair dropped; argv itself when there is no --from-png */
static char **from_png(int *argc, char **argv, const zoo_model_def *def) {
    int at = -1;
    for (int i = 2; i < *argc; i++)
        if (strcmp(argv[i], "--from-png") == 0) at = i;
    if (at < 0) return argv;
    if (at + 1 >= *argc) {
        fprintf(stderr, "zoo-sample: --from-png needs a value (FILE)\n");
        exit(2);
    }
    char *text = zoo_png_read_text(argv[at + 1], SETTINGS_KEY);
    if (!text) cli_die("zoo-sample", "%s (--from-png takes a PNG that zoo-sample wrote)", zoo_last_error());
    char **out = calloc(MAX_ARGS + (size_t)*argc, sizeof *out);
    if (!out) cli_die("zoo-sample", "out of memory");
    int n = 0;
    out[n++] = argv[0];
    char *model = strtok(text, "\n");
    if (!model || strcmp(model, def->name) != 0)
        cli_die("zoo-sample", "%s: its samples come from model '%s', not %s", argv[at + 1], model ? model : "?",
                def->name);
    out[n++] = argv[1];
    for (char *a = strtok(NULL, "\n"); a && n < MAX_ARGS; a = strtok(NULL, "\n")) out[n++] = a;
    for (int i = 2; i < *argc; i++)
        if (i != at && i != at + 1) out[n++] = argv[i];
    *argc = n;
    return out; /* lives as long as the program (text too) */
}

int main(int argc, char **argv) {
    const zoo_model_def *def = cli_model("zoo-sample", argc, argv, usage);
    if (def->data != ZOO_DATA_TEXT) argv = from_png(&argc, argv, def);
    cli c = {.prog = "zoo-sample"};
    if (def->data == ZOO_DATA_TEXT) {
        cli_add(&c, "checkpoint", "FILE", "", "the trained model (a .safetensors file; default: the shipped one)");
        cli_add(&c, "prompt", "TEXT", "\n", "the text to continue");
        cli_add(&c, "n", "N", "500", "how many tokens to add");
        cli_add(&c, "temperature", "T", "0.8", "softmax temperature (0: always the most likely token)");
        cli_add(&c, "top-k", "K", "40", "draw from the K most likely tokens only (0: all)");
        cli_add(&c, "no-cache", NULL, NULL, "recompute every window position each step (the cache's reference)");
        cli_add(&c, "seed", "N", "0", "seed for the draws");
        cli_add_backend(&c);
        if (!cli_parse(&c, argc, argv, 2, usage)) return 0;
        return sample_text(&c, def);
    }
    cli_add(&c, "checkpoint", "FILE", "", "the trained model (a .safetensors file)");
    cli_add(&c, "n", "N", "64", "how many samples");
    cli_add(&c, "out", "FILE", "samples.png", "the grid PNG to write");
    cli_add(&c, "cols", "N", "8", "images per row of the grid");
    cli_add(&c, "tiles", "DIR", "", "also write each sample as DIR/sample_NNNN.png");
    cli_add(&c, "seed", "N", "0", "seed for the noise");
    cli_add(&c, "from-png", "FILE", "", "draw again what zoo-sample wrote to FILE, with the settings it records there "
                                      "(flags given here win)");
    if (def->samplers) {
        static char sampler_help[128];
        snprintf(sampler_help, sizeof sampler_help, "how to draw: %s", def->samplers);
        static char sampler_default[32];
        snprintf(sampler_default, sizeof sampler_default, "%.*s", (int)strcspn(def->samplers, ","), def->samplers);
        cli_add(&c, "sampler", "NAME", sampler_default, sampler_help);
        cli_add(&c, "sample-steps", "N", "0", "denoising steps (0: the sampler's default: DDIM 50, DDPM all 1000)");
        cli_add(&c, "eta", "E", "0", "DDIM's fresh noise per step: 0 deterministic, 1 the ancestral sampler's law");
        cli_add(&c, "strip", "FILE", "", "also write a denoising strip: x_t at 10 points, a row for each of 8 samples");
        cli_add(&c, "class", "K", "",
                "a class-conditional model: draw class K, or 'all': sample i of class i mod classes (default: no class)");
        cli_add(&c, "guidance", "W", "3", "with --class: classifier-free guidance weight (1: none)");
    }
    cli_add_backend(&c);
    if (!cli_parse(&c, argc, argv, 2, usage)) return 0;
    if (!def->generate) cli_usage_error(&c, "%s is not a generative model", def->name);
    zoo_image_sampling how = {.progress = true};
    if (def->samplers) {
        how.sampler = cli_str(&c, "sampler");
        how.steps = cli_int(&c, "sample-steps", 0, 1 << 20);
        how.eta = (float)cli_float(&c, "eta", 0.0, 1.0);
        if (*cli_str(&c, "strip")) how.strip = cli_str(&c, "strip");
    }
    int n = (int)cli_int(&c, "n", 1, 4096), cols = (int)cli_int(&c, "cols", 1, 4096);
    int32_t every[4096]; /* --class all: sample i draws class i (the model takes it modulo its classes) */
    if (def->samplers && *cli_str(&c, "class")) {
        how.guidance = (float)cli_float(&c, "guidance", 0.0, 100.0);
        if (strcmp(cli_str(&c, "class"), "all") == 0) {
            for (int i = 0; i < n; i++) every[i] = i;
            how.labels = every;
        } else {
            how.use_class = true;
            how.class_id = (int)cli_int(&c, "class", 0, 1 << 20);
        }
    }
    uint64_t seed = (uint64_t)cli_int(&c, "seed", 0, (long long)1 << 62);
    const char *tiles = cli_str(&c, "tiles");
    /* before the sampling, which can take minutes: a folder that cannot be made fails now */
    if (*tiles && mkdir(tiles, 0777) && errno != EEXIST) cli_die(c.prog, "cannot create %s: %s", tiles, strerror(errno));

    cli_init_backend(&c);
    zoo_model_args args = {.c = 1, .h = 28, .w = 28, .n_classes = 1, .seed = seed};
    for (int i = 0; i < def->n_options; i++) args.options[i] = def->options[i].default_value;
    const char *checkpoint;
    zoo_model *m = cli_load_model(&c, def, args, &checkpoint);

    zoo_scope_begin();
    zoo_rng rng = zoo_rng_stream(seed, 4);
    zoo_tensor *x = def->generate(m, n, &how, &rng);
    if (!x) cli_die(c.prog, "%s", zoo_last_error());
    float *host = malloc((size_t)x->numel * sizeof *host);
    if (!host) cli_die(c.prog, "out of memory");
    zoo_tensor_download(x, host);
    int ch = (int)x->shape.d[1], h = (int)x->shape.d[2], w = (int)x->shape.d[3];
    zoo_scope_end();

    /* how to draw these again: the settings, as arguments and as a line to read */
    char settings[8192], line[8192];
    int k = snprintf(settings, sizeof settings, "%s\n--checkpoint\n%s\n--n\n%d\n--cols\n%d\n--seed\n%llu", def->name, checkpoint, n,
                     cols, (unsigned long long)seed);
    int l = snprintf(line, sizeof line, "model: %s, checkpoint: %s, n: %d, seed: %llu", def->name, checkpoint, n,
                     (unsigned long long)seed);
    if (def->samplers) {
        k += snprintf(settings + k, sizeof settings - (size_t)k, "\n--sampler\n%s\n--sample-steps\n%lld\n--eta\n%s", how.sampler,
                      (long long)how.steps, cli_str(&c, "eta"));
        l += snprintf(line + l, sizeof line - (size_t)l, ", sampler: %s, steps: %s, eta: %s", how.sampler,
                      how.steps ? cli_str(&c, "sample-steps") : "its default", cli_str(&c, "eta"));
        if (how.use_class || how.labels) {
            k += snprintf(settings + k, sizeof settings - (size_t)k, "\n--class\n%s\n--guidance\n%s", cli_str(&c, "class"),
                          cli_str(&c, "guidance"));
            l += snprintf(line + l, sizeof line - (size_t)l, ", class: %s, guidance: %s", cli_str(&c, "class"),
                          cli_str(&c, "guidance"));
        }
    }
    if (zoo_exact()) k += snprintf(settings + k, sizeof settings - (size_t)k, "\n--exact");
    /* exact mode draws the same bits on every backend, so the file names none: a CPU
       and a GPU write the same bytes */
    if (zoo_exact()) snprintf(line + l, sizeof line - (size_t)l, ", numeric: exact");
    else snprintf(line + l, sizeof line - (size_t)l, ", numeric: fast, backend: %s", zoo_backend_name());
    if (k >= (int)sizeof settings - 1) cli_die(c.prog, "the settings are too long to record");
    char version[32];
    snprintf(version, sizeof version, "zoo %s", zoo_version());
    zoo_png_text text[3] = {{.key = "Software", .value = version},
                            {.key = "parameters", .value = line},
                            {.key = SETTINGS_KEY, .value = settings}};
    if (zoo_png_write_grid_text(cli_str(&c, "out"), host, n, ch, h, w, cols, text, 3))
        cli_die(c.prog, "%s", zoo_last_error());
    printf("wrote %d samples to %s\n", n, cli_str(&c, "out"));
    if (how.strip) printf("wrote the denoising strip to %s\n", how.strip);
    if (*tiles) {
        char path[4096];
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/sample_%04d.png", tiles, i);
            if (write_tile(path, host + (size_t)i * ch * h * w, ch, h, w)) cli_die(c.prog, "%s", zoo_last_error());
        }
        printf("wrote %d tiles to %s/\n", n, tiles);
    }
    free(host);
    def->destroy(m);
    zoo_shutdown();
    return 0;
}
