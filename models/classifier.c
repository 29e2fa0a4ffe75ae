/* The classifiers' shared training step and evaluation (classifier.h). */
#include "classifier.h"

#include "../core/zoo.h"

#include <stdlib.h>
#include <string.h>

void zoo_classifier_step(zoo_model *m, zoo_forward_fn forward, const zoo_batch *b, int64_t step, zoo_metrics *out) {
    zoo_tensor *x = zoo_batch_get(b, "image"), *labels = zoo_batch_get(b, "label");
    if (!x || !labels) return;
    zoo_module_zero_grad(&m->parts[0]);
    zoo_tensor *loss = zoo_cross_entropy(forward(m, x, step), labels);
    if (zoo_backward(loss)) return;
    zoo_model_update(m, 0);
    zoo_metrics_set(out, "loss", zoo_tensor_item(loss));
}

int zoo_classifier_confusion(zoo_model *m, const zoo_dataset *d, int64_t *confusion, zoo_metrics *out) {
    const int64_t bs = 1000;
    int k = m->args.n_classes, label = zoo_dataset_field(d, "label");
    if (label < 0 || zoo_dataset_field(d, "image") < 0) {
        zoo_set_error("%s evaluates datasets of images and labels", m->def->name);
        return -1;
    }
    int32_t *pred = malloc((size_t)bs * sizeof *pred), *truth = malloc((size_t)bs * sizeof *truth);
    if (!pred || !truth) {
        free(pred);
        free(truth);
        zoo_set_error("out of host memory");
        return -1;
    }
    if (confusion) memset(confusion, 0, (size_t)k * (size_t)k * sizeof *confusion);
    int64_t correct = 0;
    double loss_sum = 0.0;
    int rc = 0;
    zoo_model_set_training(m, false);
    bool old = zoo_set_grad_enabled(false);
    for (int64_t start = 0; start < d->n && rc == 0; start += bs) {
        int64_t n = d->n - start < bs ? d->n - start : bs;
        if (!zoo_dist_mine(start / bs)) continue; /* another rank's chunk (data-parallel) */
        zoo_scope_begin();
        zoo_batch b;
        rc = zoo_dataset_batch(d, start, n, &b);
        if (rc == 0) {
            zoo_tensor *logits = m->def->predict(m, zoo_batch_get(&b, "image")), *labels = b.t[label];
            zoo_tensor *loss = zoo_cross_entropy(logits, labels), *best = zoo_argmax(logits, 1);
            if (loss && best) {
                loss_sum += (double)zoo_tensor_item(loss) * (double)n;
                zoo_tensor_download(best, pred);
                zoo_tensor_download(labels, truth);
            } else {
                rc = -1;
            }
        }
        zoo_scope_end();
        for (int64_t i = 0; i < n && rc == 0; i++) {
            correct += pred[i] == truth[i];
            if (confusion && truth[i] >= 0 && truth[i] < k) confusion[truth[i] * k + pred[i]]++;
        }
    }
    zoo_set_grad_enabled(old);
    free(pred);
    free(truth);
    if (rc) return -1;
    zoo_metrics_set(out, "acc", (double)correct / (double)d->n);
    zoo_metrics_set(out, "loss", loss_sum / (double)d->n);
    return 0;
}

int zoo_classifier_evaluate(zoo_model *m, const zoo_dataset *d, zoo_metrics *out) {
    return zoo_classifier_confusion(m, d, NULL, out);
}
