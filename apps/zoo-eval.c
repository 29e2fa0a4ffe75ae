/* zoo-eval MODEL --checkpoint F: test accuracy and a confusion matrix with class names. */
#include "cli.h"

#include "../models/classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage = "usage: zoo-eval MODEL --checkpoint FILE [options]\n\nevaluates a trained classifier "
                           "on the test split (accuracy and confusion matrix), a language model on the text "
                           "it held out (loss), or a generative model on the test split (its evaluation's "
                           "metrics: the diffusion model's noise-prediction loss, the GAN's quality proxies)";

static void print_confusion(const int64_t *cm, int k) {
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int j = 0; j < k; j++) printf(" %5d", j);
    printf("   recall\n");
    for (int i = 0; i < k; i++) {
        int64_t row = 0;
        for (int j = 0; j < k; j++) row += cm[i * k + j];
        const char *name = k == 10 ? zoo_fashion_mnist_classes[i] : "";
        printf("%2d %-11.11s", i, name);
        for (int j = 0; j < k; j++) printf(" %5lld", (long long)cm[i * k + j]);
        printf("   %5.1f%%\n", row ? 100.0 * (double)cm[i * k + i] / (double)row : 0.0);
    }
}

/* a language model: its evaluation (the mean loss over fixed windows) on the last
 * --val-split of the text, the part zoo-train held out */
static int eval_text(cli *c, const zoo_model_def *def) {
    cli_init_backend(c);
    const char *checkpoint;
    zoo_model *m = cli_load_model(c, def, cli_model_args(c, def, NULL), &checkpoint);
    zoo_model_args args = m->args;
    if (!args.vocab) cli_die(c->prog, "%s holds no vocabulary", checkpoint);
    zoo_text text, train, val;
    zoo_tokenizer tok = *args.vocab ? ZOO_TOKENIZER_CHAR : ZOO_TOKENIZER_BYTE;
    if (zoo_text_load(cli_str(c, "data"), tok, &text)) cli_die(c->prog, "%s", zoo_last_error());
    char *vocab = zoo_text_vocab_string(&text);
    if (!vocab || strcmp(vocab, args.vocab) != 0)
        cli_die(c->prog, "%s has another vocabulary than the text %s was trained on", cli_str(c, "data"),
                checkpoint);
    if (zoo_text_split(&text, 1.0 - cli_float(c, "val-split", 0.01, 0.9), &train, &val))
        cli_die(c->prog, "%s", zoo_last_error());
    zoo_dataset d = zoo_text_dataset(&val, m->context);
    zoo_metrics mt = {0};
    if (d.n < 1) cli_die(c->prog, "the validation text is not longer than one window");
    if (def->evaluate(m, &d, &mt)) cli_die(c->prog, "%s", zoo_last_error());
    printf("%s: %lld validation tokens, loss %.6f\n", checkpoint, (long long)val.n,
           zoo_metrics_get(&mt, "loss"));
    def->destroy(m);
    free(vocab);
    zoo_text_free(&text);
    zoo_text_free(&train);
    zoo_text_free(&val);
    zoo_shutdown();
    return 0;
}

/* --images DIR: every picture in DIR, at the test images' size and channels, classified:
   how many go to each class, and how a held-out classifier judges generated pictures,
   the classifier score (Salimans et al.'s Inception Score with this classifier:
   exp(mean KL(p(y|x) || p(y))), from 1 to the number of classes; high when each picture
   is clearly one class and the classes are evenly used) and the mean confidence */
static int classify_folder(zoo_model *m, const char *dir, const zoo_images *like) {
    zoo_images im;
    if (zoo_image_folder_load(dir, like->c, like->h, like->w, &im)) {
        fprintf(stderr, "zoo-eval: error: %s\n", zoo_last_error());
        return 1;
    }
    int k = m->args.n_classes;
    const int64_t bs = 500;
    float *p = malloc((size_t)(im.n * k) * sizeof *p);
    if (!p) {
        fprintf(stderr, "zoo-eval: error: out of memory\n");
        zoo_images_free(&im);
        return 1;
    }
    zoo_dataset ds = zoo_images_dataset(&im);
    zoo_model_set_training(m, false);
    zoo_set_grad_enabled(false);
    int rc = 0;
    for (int64_t start = 0; start < im.n && rc == 0; start += bs) {
        int64_t n = im.n - start < bs ? im.n - start : bs;
        zoo_scope_begin();
        zoo_batch b;
        zoo_tensor *prob = zoo_dataset_batch(&ds, start, n, &b) ? NULL : zoo_softmax(m->def->predict(m, b.t[0]));
        if (prob) zoo_tensor_download(prob, p + start * k);
        else rc = 1;
        zoo_scope_end();
    }
    if (rc) fprintf(stderr, "zoo-eval: error: %s\n", zoo_last_error());
    else {
        double *marginal = calloc((size_t)k, sizeof *marginal), kl = 0, confidence = 0;
        int64_t *count = calloc((size_t)k, sizeof *count);
        for (int64_t i = 0; marginal && count && i < im.n; i++) {
            int best = 0;
            for (int j = 0; j < k; j++) {
                marginal[j] += p[i * k + j] / (double)im.n;
                if (p[i * k + j] > p[i * k + best]) best = j;
            }
            count[best]++;
            confidence += p[i * k + best] / (double)im.n;
        }
        for (int64_t i = 0; marginal && count && i < im.n; i++)
            for (int j = 0; j < k; j++)
                if (p[i * k + j] > 0) kl += p[i * k + j] * log(p[i * k + j] / marginal[j]) / (double)im.n;
        printf("%s: %lld images\n", dir, (long long)im.n);
        for (int j = 0; count && j < k; j++)
            printf("%2d %-11.11s %6lld  %5.1f%%\n", j, k == 10 ? zoo_fashion_mnist_classes[j] : "", (long long)count[j],
                   100.0 * (double)count[j] / (double)im.n);
        printf("classifier score %.3f (1 to %d), mean confidence %.3f\n", exp(kl), k, confidence);
        free(marginal);
        free(count);
    }
    free(p);
    zoo_images_free(&im);
    return rc;
}

int main(int argc, char **argv) {
    const zoo_model_def *def = cli_model("zoo-eval", argc, argv, usage);
    cli c = {.prog = "zoo-eval"};
    if (def->data == ZOO_DATA_TEXT) {
        cli_add(&c, "checkpoint", "FILE", "", "the model to evaluate (a .safetensors file; default: the shipped one)");
        cli_add(&c, "data", "PATH", ZOO_FORTUNES_DIR, "the text it was trained on");
        cli_add(&c, "val-split", "FRAC", "0.1", "the last FRAC of the text is scored");
        cli_add_backend(&c);
        cli_add(&c, "seed", "N", "0", "unused by evaluation; accepted like every app");
        if (!cli_parse(&c, argc, argv, 2, usage)) return 0;
        return eval_text(&c, def);
    }
    cli_add(&c, "checkpoint", "FILE", "", "the model to evaluate (a .safetensors file; default: the shipped one)");
    cli_add(&c, "data", "DIR", ZOO_FASHION_MNIST_DIR, "MNIST-format data folder");
    if (def->predict)
        cli_add(&c, "images", "DIR", "",
                "classify the pictures in DIR instead (as zoo-sample --tiles writes them): how many fall in each class");
    cli_add_backend(&c);
    cli_add(&c, "seed", "N", "0", "unused by evaluation; accepted like every app");
    if (!cli_parse(&c, argc, argv, 2, usage)) return 0;
    if (!def->predict && !def->evaluate) cli_usage_error(&c, "%s has no evaluation", def->name);

    cli_init_backend(&c);
    zoo_images test;
    cli_load_data(&c, "test", &test);
    const char *checkpoint;
    zoo_model *m = cli_load_model(&c, def, cli_model_args(&c, def, &test), &checkpoint);

    if (!def->predict) { /* a generative model: its own evaluation's metrics on the test split */
        zoo_dataset ds = zoo_images_dataset(&test);
        zoo_metrics mt = {0};
        if (def->evaluate(m, &ds, &mt)) cli_die(c.prog, "%s", zoo_last_error());
        printf("%s: the test split (its evaluation: up to 1000 images),", checkpoint);
        for (int i = 0; i < mt.n; i++) printf("%s %s %.6f", i ? "," : "", mt.name[i], mt.value[i]);
        printf("\n");
        def->destroy(m);
        zoo_images_free(&test);
        zoo_shutdown();
        return 0;
    }
    int k = m->args.n_classes;
    if (*cli_str(&c, "images")) { /* pictures without labels: the classes they are given */
        int rc = classify_folder(m, cli_str(&c, "images"), &test);
        def->destroy(m);
        zoo_images_free(&test);
        zoo_shutdown();
        return rc;
    }
    int64_t *cm = calloc((size_t)k * (size_t)k, sizeof *cm);
    zoo_dataset ds = zoo_images_dataset(&test);
    zoo_metrics mt = {0};
    if (!cm || zoo_classifier_confusion(m, &ds, cm, &mt)) cli_die(c.prog, "%s", cm ? zoo_last_error() : "out of memory");
    printf("%s: %lld test examples, accuracy %.2f%%, mean loss %.4f\n", checkpoint,
           (long long)test.n, 100.0 * zoo_metrics_get(&mt, "acc"), zoo_metrics_get(&mt, "loss"));
    print_confusion(cm, k);
    free(cm);
    def->destroy(m);
    zoo_images_free(&test);
    zoo_shutdown();
    return 0;
}
