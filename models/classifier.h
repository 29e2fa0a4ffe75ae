/* What the classifiers (MLP, CNN) share: the training step and the evaluation, on
 * datasets of "image" and "label" fields. */
#ifndef ZOO_MODELS_CLASSIFIER_H
#define ZOO_MODELS_CLASSIFIER_H

#include "../core/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* class scores [n, classes] for the images x [n, c, h, w]; step keys dropout */
typedef zoo_tensor *(*zoo_forward_fn)(zoo_model *m, zoo_tensor *x, int64_t step);

/* zero grads, forward with grad, cross-entropy against the labels, backward, clip
 * (when the model's clip_norm is set), optimizer step; reports "loss" */
ZOO_API void zoo_classifier_step(zoo_model *m, zoo_forward_fn forward, const zoo_batch *b, int64_t step, zoo_metrics *out);

/* the model's def->predict over d in batches of 1000: "acc" (a fraction) and "loss"
 * (mean cross-entropy); 0, or -1 with zoo_last_error() */
ZOO_API int zoo_classifier_evaluate(zoo_model *m, const zoo_dataset *d, zoo_metrics *out);

/* the same, also counting confusion[true * classes + predicted] (classes x classes,
 * zeroed here) */
ZOO_API int zoo_classifier_confusion(zoo_model *m, const zoo_dataset *d, int64_t *confusion, zoo_metrics *out);

#ifdef __cplusplus
}
#endif

#endif
