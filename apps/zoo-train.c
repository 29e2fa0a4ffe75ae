/* zoo-train MODEL: trains any registered model with the shared loop and writes
 * OUT/model.safetensors, OUT/checkpoint.safetensors and OUT/metrics.jsonl. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage = "usage: zoo-train MODEL [options]\n\ntrains MODEL and saves it, its checkpoints and "
                           "metrics under --out";

/* "%g" of v, or fallback when v is 0 (the model leaves it to the general default) */
static const char *num(char *buf, size_t n, double v, const char *fallback) {
    if (v == 0) return fallback;
    snprintf(buf, n, "%g", v);
    return buf;
}

static void add_flags(cli *c, const zoo_model_def *def) {
    const zoo_train_defaults *d = &def->defaults;
    static char b[16][32], out[256];
    bool text = def->data == ZOO_DATA_TEXT;
    snprintf(out, sizeof out, "runs/%s", def->name);
    cli_add(c, "epochs", "N", num(b[0], 32, (double)d->epochs, "1"), "passes over the training data");
    cli_add(c, "steps", "N", num(b[1], 32, (double)d->steps, "0"),
            "total training steps instead of epochs (0: use --epochs)");
    cli_add(c, "batch", "N", num(b[2], 32, (double)d->batch, "64"), "examples per step");
    cli_add(c, "lr", "LR", num(b[3], 32, d->lr, "1e-3"), "learning rate");
    cli_add(c, "optimizer", "NAME", zoo_optim_kind_name(d->optimizer), "adam, adamw or sgd");
    cli_add(c, "momentum", "M", "0", "SGD momentum");
    cli_add(c, "nesterov", NULL, NULL, "SGD with Nesterov momentum");
    cli_add(c, "weight-decay", "WD", num(b[4], 32, d->weight_decay, ""), "weight decay (default: 0, AdamW 0.01)");
    cli_add(c, "decay", "WHAT", d->decay ? d->decay : "all",
            "what weight decay applies to: all; weights (not biases, norms, embeddings); matrices (every "
            "parameter of 2+ dims, embeddings too: nanoGPT's rule)");
    cli_add(c, "beta1", "B", num(b[5], 32, d->beta1, "0.9"), "Adam beta1");
    cli_add(c, "beta2", "B", num(b[6], 32, d->beta2, "0.999"), "Adam beta2");
    cli_add(c, "schedule", "NAME", d->schedule ? d->schedule : "constant",
            "learning-rate schedule: constant, step or cosine");
    cli_add(c, "warmup", "N", num(b[7], 32, (double)d->warmup, "0"), "linear warm-up steps");
    cli_add(c, "step-size", "N", "0", "step schedule: decay every N steps (0: every epoch)");
    cli_add(c, "gamma", "G", "0.1", "step schedule: decay factor");
    cli_add(c, "min-lr", "LR", num(b[8], 32, d->min_lr, "0"), "cosine schedule: final learning rate");
    cli_add(c, "clip", "NORM", num(b[9], 32, d->clip, "0"), "clip gradients to this global L2 norm (0: off)");
    cli_add(c, "seed", "N", "0", "seed for initialization, data order and dropout");
    if (text) {
        cli_add(c, "data", "PATH", ZOO_FORTUNES_DIR, "a UTF-8 text file, or a folder of them (read in name order)");
        cli_add(c, "tokenizer", "KIND", "char", "char (the text's characters) or byte (256 ids)");
        cli_add(c, "val-split", "FRAC", num(b[10], 32, d->val_split, "0.1"),
                "the last FRAC of the text validates (the best weights on it become the model)");
    } else {
        cli_add(c, "data", "DIR", ZOO_FASHION_MNIST_DIR, "MNIST-format data folder, or a folder of images");
        cli_add(c, "image-size", "N", "28", "image folders: resize every picture to N x N");
        cli_add(c, "channels", "C", "1", "image folders: 1 (grayscale) or 3 (RGB)");
        cli_add(c, "train-size", "N", "0", "use only the first N training examples (0: all)");
        cli_add(c, "test-size", "N", "0", "evaluate on the first N test examples (0: all)");
        cli_add(c, "val-split", "FRAC", "0", "hold out this fraction of the training data for validation");
    }
    cli_add(c, "patience", "N", "0", "with a validation set: stop after N evaluations without a better "
                                    "validation score (0: never); the best weights become the model");
    cli_add(c, "out", "DIR", out, "output folder");
    cli_add(c, "resume", "CKPT", "", "continue the run saved in CKPT (a checkpoint.safetensors)");
    cli_add(c, "init-from", "CKPT", "", "start from the weights in CKPT whose names and shapes match");
    cli_add(c, "freeze", "PREFIX,...", "", "keep these parameters fixed (e.g. fc1 or fc1,fc2)");
    cli_add(c, "log-every", "N", num(b[11], 32, (double)d->log_every, "10"), "write a metrics record every N steps");
    cli_add(c, "eval-every", "N", num(b[12], 32, (double)d->eval_every, "0"), "evaluate every N steps (0: every epoch)");
    cli_add(c, "ckpt-every", "N", "0", "checkpoint every N steps (0: every epoch)");
    if (def->write_samples)
        cli_add(c, "sample-every", "N", num(b[13], 32, (double)d->sample_every, "0"),
                "write OUT/samples/step_NNNNNN.png every N steps (0: never)");
    cli_add_backend(c);
    cli_add(c, "quiet", NULL, NULL, "print only errors and the final test metrics");
    cli_add(c, "sync-bn", NULL, NULL,
            "under mpirun: batch norm takes its statistics over the whole batch, not each process's part");
    cli_add_model_options(c, def);
}

static zoo_optim_config optim_from_flags(cli *c) {
    int kind = zoo_optim_kind_parse(cli_str(c, "optimizer"));
    if (kind < 0) cli_usage_error(c, "--optimizer must be adam, adamw or sgd, got '%s'", cli_str(c, "optimizer"));
    zoo_optim_config o = zoo_optim_defaults((zoo_optim_kind)kind, (float)cli_float(c, "lr", 0.0, 1e3));
    o.momentum = (float)cli_float(c, "momentum", 0.0, 1.0);
    o.nesterov = cli_on(c, "nesterov");
    if (o.nesterov && (kind != ZOO_OPTIM_SGD || o.momentum == 0.0f))
        cli_usage_error(c, "--nesterov needs --optimizer sgd and a --momentum above 0");
    if (*cli_str(c, "weight-decay")) o.weight_decay = (float)cli_float(c, "weight-decay", 0.0, 1e3);
    o.beta1 = (float)cli_float(c, "beta1", 0.0, 0.999999);
    o.beta2 = (float)cli_float(c, "beta2", 0.0, 0.999999999);
    if (zoo_optim_decay_parse(&o, cli_str(c, "decay"))) cli_usage_error(c, "--decay: %s", zoo_last_error());
    return o;
}

static void freeze(cli *c, zoo_model *m) {
    const char *list = cli_str(c, "freeze");
    while (*list) {
        const char *comma = strchr(list, ',');
        size_t len = comma ? (size_t)(comma - list) : strlen(list);
        char prefix[ZOO_NAME_MAX];
        snprintf(prefix, sizeof prefix, "%.*s", (int)len, list);
        int n = 0;
        for (int p = 0; p < m->n_parts; p++) n += zoo_module_freeze(&m->parts[p], prefix);
        if (n == 0) cli_usage_error(c, "--freeze %s matches no parameter of %s", prefix, m->def->name);
        printf("froze %d tensors under %s\n", n, prefix);
        list += len + (comma ? 1 : 0);
    }
}

/* keeps the first n examples when n > 0 */
static void limit(cli *c, zoo_images *d, const char *flag) {
    long long n = cli_int(c, flag, 0, (long long)1 << 40);
    if (n == 0 || n >= d->n) return;
    zoo_images head;
    if (zoo_images_head(d, n, &head)) cli_die(c->prog, "%s", zoo_last_error());
    zoo_images_free(d);
    *d = head;
}

/* what a run trains and evaluates on: images (with their test split) or a text (with
 * its last part validating) */
typedef struct data {
    zoo_images train, test, val;
    zoo_text text, text_train, text_val;
    char *vocab;
    zoo_dataset train_ds, test_ds, val_ds;
    bool has_test, has_val;
} data;

static void data_free(data *d) {
    zoo_images_free(&d->train);
    zoo_images_free(&d->test);
    zoo_images_free(&d->val);
    zoo_text_free(&d->text);
    zoo_text_free(&d->text_train);
    zoo_text_free(&d->text_val);
    free(d->vocab);
}

/* loads --data as the model's kind of data; the model args its geometry gives */
static zoo_model_args load_data(cli *c, const zoo_model_def *def, double val_frac, uint64_t seed, data *d) {
    if (def->data == ZOO_DATA_TEXT) {
        const char *kind = cli_str(c, "tokenizer");
        if (strcmp(kind, "char") != 0 && strcmp(kind, "byte") != 0)
            cli_usage_error(c, "--tokenizer must be char or byte, got '%s'", kind);
        zoo_tokenizer tok = strcmp(kind, "byte") == 0 ? ZOO_TOKENIZER_BYTE : ZOO_TOKENIZER_CHAR;
        if (zoo_text_load(cli_str(c, "data"), tok, &d->text)) cli_die(c->prog, "%s", zoo_last_error());
        if (val_frac > 0.0) {
            if (zoo_text_split(&d->text, 1.0 - val_frac, &d->text_train, &d->text_val))
                cli_die(c->prog, "%s", zoo_last_error());
            d->has_val = true;
        } else { /* all of it trains */
            d->text_train = d->text;
            d->text = (zoo_text){0};
        }
        d->vocab = zoo_text_vocab_string(&d->text_train);
        if (!d->vocab) cli_die(c->prog, "%s", zoo_last_error());
        zoo_model_args a = cli_model_args(c, def, NULL);
        a.n_classes = d->text_train.vocab_size;
        a.vocab = d->vocab;
        return a;
    }
    cli_load_data(c, "train", &d->train);
    d->has_test = def->evaluate && cli_has_test_split(c);
    if (d->has_test) cli_load_data(c, "test", &d->test);
    limit(c, &d->train, "train-size");
    limit(c, &d->test, "test-size");
    if (val_frac > 0.0) {
        zoo_images rest;
        if (zoo_images_split(&d->train, val_frac, seed, &rest, &d->val)) cli_die(c->prog, "%s", zoo_last_error());
        zoo_images_free(&d->train);
        d->train = rest;
        d->has_val = true;
    }
    return cli_model_args(c, def, &d->train);
}

/* the datasets over the loaded data; text windows are as long as the model's context */
static void make_datasets(cli *c, const zoo_model_def *def, const zoo_model *m, data *d) {
    if (def->data == ZOO_DATA_TEXT) {
        const zoo_text *parts[2] = {&d->text_train, &d->text_val};
        for (int i = 0; i < (d->has_val ? 2 : 1); i++)
            if (parts[i]->n <= m->context)
                cli_die(c->prog, "the %s text has %lld tokens, not more than one window of %lld (--context)",
                        i ? "validation" : "training", (long long)parts[i]->n, (long long)m->context);
        d->train_ds = zoo_text_dataset(&d->text_train, m->context);
        d->val_ds = zoo_text_dataset(&d->text_val, m->context);
        return;
    }
    d->train_ds = zoo_images_dataset(&d->train);
    d->test_ds = zoo_images_dataset(&d->test);
    d->val_ds = zoo_images_dataset(&d->val);
}

int main(int argc, char **argv) {
    const zoo_model_def *def = cli_model("zoo-train", argc, argv, usage);
    cli c = {.prog = "zoo-train"};
    add_flags(&c, def);
    if (!cli_parse(&c, argc, argv, 2, usage)) return 0;

    zoo_train_config cfg = {
        .epochs = cli_int(&c, "epochs", 1, 1000000),
        .steps = cli_int(&c, "steps", 0, (long long)1 << 40),
        .batch = cli_int(&c, "batch", 1, 1 << 20),
        .seed = (uint64_t)cli_int(&c, "seed", 0, (long long)1 << 62),
        .out_dir = cli_str(&c, "out"),
        .resume = *cli_str(&c, "resume") ? cli_str(&c, "resume") : NULL,
        .log_every = cli_int(&c, "log-every", 1, (long long)1 << 40),
        .eval_every = cli_int(&c, "eval-every", 0, (long long)1 << 40),
        .ckpt_every = cli_int(&c, "ckpt-every", 0, (long long)1 << 40),
        .clip = (float)cli_float(&c, "clip", 0.0, 1e9),
        .sample_every = def->write_samples ? cli_int(&c, "sample-every", 0, (long long)1 << 40) : 0,
        .quiet = cli_on(&c, "quiet"),
    };
    zoo_optim_config optim = optim_from_flags(&c);
    int sk = zoo_schedule_kind_parse(cli_str(&c, "schedule"));
    if (sk < 0) cli_usage_error(&c, "--schedule must be constant, step or cosine, got '%s'", cli_str(&c, "schedule"));
    if (cfg.resume && *cli_str(&c, "init-from")) cli_usage_error(&c, "--resume and --init-from exclude each other");

    /* under mpirun: one of several processes training one model (data-parallel); the
       others print nothing and write no files */
    if (zoo_dist_init()) cli_die(c.prog, "%s", zoo_last_error());
    bool lead = zoo_dist_rank() == 0;
    zoo_dist_set_sync_bn(cli_on(&c, "sync-bn"));
    cfg.quiet = cfg.quiet || !lead;
    cli_init_backend(&c);
    double val_frac = cli_float(&c, "val-split", 0.0, 0.9);
    cfg.patience = cli_int(&c, "patience", 0, 1 << 30);
    if (cfg.patience && val_frac == 0.0) cli_usage_error(&c, "--patience needs a validation set (--val-split)");
    if (val_frac > 0.0 && !def->monitor)
        cli_usage_error(&c, "--val-split: %s has no validation score to pick the best weights by", def->name);
    data dt = {0};
    zoo_model_args args = load_data(&c, def, val_frac, cfg.seed, &dt);
    args.optim = optim;
    zoo_st_file *resume = NULL;
    if (cfg.resume) {
        const char *vocab = args.vocab;
        resume = zoo_safetensors_open(cfg.resume);
        if (!resume || zoo_checkpoint_args(resume, def, &args)) cli_die(c.prog, "%s", zoo_last_error());
        if (vocab && (!args.vocab || strcmp(vocab, args.vocab) != 0))
            cli_die(c.prog, "%s was trained on a text with another vocabulary than %s's", cfg.resume,
                    cli_str(&c, "data"));
    }
    zoo_model *m = def->create(&args);
    if (!m) cli_usage_error(&c, "%s", zoo_last_error());
    if (resume && zoo_checkpoint_load_weights(m, resume)) cli_die(c.prog, "%s", zoo_last_error());
    if (*cli_str(&c, "init-from") && zoo_checkpoint_init_from(m, cli_str(&c, "init-from"), stdout))
        cli_die(c.prog, "%s", zoo_last_error());
    freeze(&c, m);
    make_datasets(&c, def, m, &dt);
    if (dt.has_val) cfg.val = &dt.val_ds;
    if (cfg.batch > dt.train_ds.n) cli_usage_error(&c, "--batch %lld is larger than the %lld training examples",
                                                    (long long)cfg.batch, (long long)dt.train_ds.n);

    int64_t per_epoch = (dt.train_ds.n + cfg.batch - 1) / cfg.batch;
    int64_t total = cfg.steps ? cfg.steps : cfg.epochs * per_epoch;
    cfg.schedule = (zoo_schedule){.kind = (zoo_schedule_kind)sk, .base_lr = optim.lr,
                                  .warmup = cli_int(&c, "warmup", 0, (long long)1 << 40), .total = total,
                                  .step_size = cli_int(&c, "step-size", 0, (long long)1 << 40),
                                  .gamma = (float)cli_float(&c, "gamma", 0.0, 1.0),
                                  .min_lr = (float)cli_float(&c, "min-lr", 0.0, 1e3)};
    if (cfg.schedule.step_size == 0) cfg.schedule.step_size = per_epoch;

    if (!cfg.quiet)
        printf("training %s (%lld parameters) on %s: %lld examples, %lld steps of %lld, %s, backend %s (%s mode)%s\n",
               def->name, (long long)zoo_model_numel(m), cli_str(&c, "data"), (long long)dt.train_ds.n, (long long)total,
               (long long)cfg.batch, zoo_optim_kind_name(optim.kind), zoo_backend_name(), zoo_numeric_mode(),
               zoo_dist_size() > 1 ? ", data-parallel over processes" : "");
    if (!cfg.quiet && zoo_dist_size() > 1)
        printf("%d processes, each with %lld%s examples of every batch of %lld\n", zoo_dist_size(),
               (long long)(cfg.batch / zoo_dist_size()), cfg.batch % zoo_dist_size() ? " or one more" : "",
               (long long)cfg.batch);
    zoo_metrics final = {0};
    int rc = zoo_train(m, &dt.train_ds, dt.has_test ? &dt.test_ds : NULL, &cfg, &final);
    if (rc && zoo_dist_size() > 1) fprintf(stderr, "zoo-train: error on rank %d: %s\n", zoo_dist_rank(), zoo_last_error());
    else if (rc) fprintf(stderr, "zoo-train: error: %s\n", zoo_last_error());
    double acc = zoo_metrics_get(&final, "test_acc");
    if (rc == 0 && lead && zoo_dist_size() > 1) {
        zoo_dist_stats st = zoo_dist_get_stats();
        double calls = st.calls ? (double)st.calls : 1.0;
        printf("gradient all-reduce: %lld updates, %.3f MB and %.3f ms each (rank 0, host staging included)\n",
               (long long)st.calls, (double)st.bytes / calls / 1e6, 1e3 * st.seconds / calls);
    }
    if (rc == 0 && lead && !isnan(acc)) printf("final test accuracy: %.2f%%\n", 100.0 * acc);
    else if (rc == 0 && lead && final.n) {
        printf("final test metrics:");
        for (int i = 0; i < final.n; i++) printf("%s %s %.4f", i ? "," : "", final.name[i], final.value[i]);
        printf("\n");
    }
    if (resume) zoo_safetensors_close(resume);
    def->destroy(m);
    data_free(&dt);
    zoo_shutdown();
    if (rc) return 1; /* without MPI_Finalize: mpirun then ends the other processes */
    zoo_dist_finalize();
    return 0;
}
