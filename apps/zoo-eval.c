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

/* the classifier's logits [n, k] for every image of im, in batches; NULL on failure */
static float *all_logits(zoo_model *m, const zoo_images *im) {
    int k = m->args.n_classes;
    const int64_t bs = 500;
    float *out = malloc((size_t)(im->n * k) * sizeof *out);
    if (!out) return NULL;
    zoo_dataset ds = zoo_images_dataset(im);
    zoo_model_set_training(m, false);
    bool old = zoo_set_grad_enabled(false);
    for (int64_t start = 0; start < im->n; start += bs) {
        int64_t n = im->n - start < bs ? im->n - start : bs;
        zoo_scope_begin();
        zoo_batch b;
        zoo_tensor *logits = zoo_dataset_batch(&ds, start, n, &b) ? NULL : m->def->predict(m, b.t[0]);
        if (logits) zoo_tensor_download(logits, out + start * k);
        zoo_scope_end();
        if (!logits) {
            free(out);
            out = NULL;
            break;
        }
    }
    zoo_set_grad_enabled(old);
    return out;
}

/* the eigenvalues of the symmetric k x k matrix a (destroyed) into w, and its
   eigenvectors as the columns of v: cyclic Jacobi rotations */
static void eigen_symmetric(double *a, int k, double *w, double *v) {
    for (int i = 0; i < k * k; i++) v[i] = i % (k + 1) == 0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < k; p++)
            for (int q = p + 1; q < k; q++) off += a[p * k + q] * a[p * k + q];
        if (off < 1e-30) break;
        for (int p = 0; p < k; p++)
            for (int q = p + 1; q < k; q++) {
                if (fabs(a[p * k + q]) < 1e-300) continue;
                double theta = (a[q * k + q] - a[p * k + p]) / (2 * a[p * k + q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), sn = t * c;
                for (int r = 0; r < k; r++) { /* a = J^T a J, v = v J */
                    double arp = a[r * k + p], arq = a[r * k + q];
                    a[r * k + p] = c * arp - sn * arq;
                    a[r * k + q] = sn * arp + c * arq;
                }
                for (int r = 0; r < k; r++) {
                    double apr = a[p * k + r], aqr = a[q * k + r];
                    a[p * k + r] = c * apr - sn * aqr;
                    a[q * k + r] = sn * apr + c * aqr;
                }
                for (int r = 0; r < k; r++) {
                    double vrp = v[r * k + p], vrq = v[r * k + q];
                    v[r * k + p] = c * vrp - sn * vrq;
                    v[r * k + q] = sn * vrp + c * vrq;
                }
            }
    }
    for (int i = 0; i < k; i++) w[i] = a[i * k + i];
}

/* out = a b, all k x k */
static void matmul_k(const double *a, const double *b, double *out, int k) {
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            out[i * k + j] = 0;
            for (int r = 0; r < k; r++) out[i * k + j] += a[i * k + r] * b[r * k + j];
        }
}

/* mean [k] and covariance [k, k] of n rows of x [n, k] */
static void moments(const float *x, int64_t n, int k, double *mean, double *cov) {
    for (int j = 0; j < k; j++) mean[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) mean[j] += x[i * k + j] / (double)n;
    for (int a = 0; a < k * k; a++) cov[a] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                cov[a * k + b] += (x[i * k + a] - mean[a]) * (x[i * k + b] - mean[b]) / (double)(n > 1 ? n - 1 : 1);
}

/* The Frechet distance between Gaussians fitted to two sets of logits (FID's formula, on
   this classifier's k logits instead of Inception's features):
   |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) */
static double frechet(const float *x, int64_t nx, const float *y, int64_t ny, int k) {
    enum { K = 64 };
    if (k > K) return NAN;
    double m1[K], m2[K], s1[K * K], s2[K * K], w[K], v[K * K], vs[K * K] = {0}, h[K * K], t[K * K], mm[K * K];
    moments(x, nx, k, m1, s1);
    moments(y, ny, k, m2, s2);
    double d = 0, tr = 0;
    for (int j = 0; j < k; j++) d += (m1[j] - m2[j]) * (m1[j] - m2[j]);
    for (int j = 0; j < k; j++) tr += s1[j * k + j] + s2[j * k + j];
    memcpy(t, s1, sizeof(double) * (size_t)(k * k));
    eigen_symmetric(t, k, w, v); /* S1^1/2 = V sqrt(W) V^T */
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) vs[a * k + b] = v[a * k + b] * sqrt(fmax(w[b], 0));
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) t[b * k + a] = v[a * k + b]; /* V^T */
    matmul_k(vs, t, h, k);
    matmul_k(h, s2, t, k); /* S1^1/2 S2 S1^1/2 */
    matmul_k(t, h, mm, k);
    eigen_symmetric(mm, k, w, v);
    for (int j = 0; j < k; j++) tr -= 2 * sqrt(fmax(w[j], 0));
    return d + tr;
}

/* --images DIR: every picture in DIR, at the test images' size and channels, classified:
   how many go to each class, and how a held-out classifier judges generated pictures:
   the classifier score (Salimans et al.'s Inception Score with this classifier:
   exp(mean KL(p(y|x) || p(y))), from 1 to the number of classes; high when each picture
   is clearly one class and the classes are evenly used), the mean confidence, and the
   Frechet distance of their logits to the test images' (FID's formula; lower is closer) */
static int classify_folder(zoo_model *m, const char *dir, const zoo_images *test) {
    zoo_images im;
    if (zoo_image_folder_load(dir, test->c, test->h, test->w, &im)) {
        fprintf(stderr, "zoo-eval: error: %s\n", zoo_last_error());
        return 1;
    }
    int k = m->args.n_classes;
    float *logits = all_logits(m, &im), *ref = logits ? all_logits(m, test) : NULL;
    double *marginal = calloc((size_t)k, sizeof *marginal), *p = malloc((size_t)k * sizeof *p);
    int64_t *count = calloc((size_t)k, sizeof *count);
    int rc = !logits || !ref || !marginal || !p || !count;
    if (rc) fprintf(stderr, "zoo-eval: error: %s\n", *zoo_last_error() ? zoo_last_error() : "out of memory");
    double kl = 0, confidence = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) /* the marginal p(y) first, then KL against it */
        for (int64_t i = 0; i < im.n; i++) {
            const float *l = logits + i * k;
            int best = 0;
            double z = 0;
            for (int j = 0; j < k; j++) best = l[j] > l[best] ? j : best;
            for (int j = 0; j < k; j++) z += p[j] = exp((double)l[j] - l[best]);
            for (int j = 0; j < k; j++) p[j] /= z;
            if (pass == 0) {
                for (int j = 0; j < k; j++) marginal[j] += p[j] / (double)im.n;
                count[best]++;
                confidence += p[best] / (double)im.n;
            } else {
                for (int j = 0; j < k; j++)
                    if (p[j] > 0) kl += p[j] * log(p[j] / marginal[j]) / (double)im.n;
            }
        }
    if (!rc) {
        printf("%s: %lld images\n", dir, (long long)im.n);
        for (int j = 0; j < k; j++)
            printf("%2d %-11.11s %6lld  %5.1f%%\n", j, k == 10 ? zoo_fashion_mnist_classes[j] : "", (long long)count[j],
                   100.0 * (double)count[j] / (double)im.n);
        printf("classifier score %.3f (1 to %d), mean confidence %.3f, Frechet distance to the %lld test images %.3f\n",
               exp(kl), k, confidence, (long long)test->n, frechet(logits, im.n, ref, test->n, k));
    }
    free(logits);
    free(ref);
    free(marginal);
    free(p);
    free(count);
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
    cli_add(&c, "seed", "N", "0",
            def->generate ? "seed of the evaluation's random draws (the noise or latents it scores with)"
                          : "unused by evaluation; accepted like every app");
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
