/* Losses, each the mean over the batch (as PyTorch's default reduction='mean'),
 * returning a one-element tensor. All are differentiable. */
#ifndef ZOO_LOSS_H
#define ZOO_LOSS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mean((pred - target)^2); shapes must match */
ZOO_API zoo_tensor *zoo_mse_loss(zoo_tensor *pred, zoo_tensor *target);
/* mean(|pred - target|) */
ZOO_API zoo_tensor *zoo_l1_loss(zoo_tensor *pred, zoo_tensor *target);
/* max(|pred - target|), the L-infinity distance */
ZOO_API zoo_tensor *zoo_linf_loss(zoo_tensor *pred, zoo_tensor *target);
/* logits: [n, c], labels: int32 [n] in [0, c). Fused log-softmax + NLL. */
ZOO_API zoo_tensor *zoo_cross_entropy(zoo_tensor *logits, zoo_tensor *labels);
/* logp: [n, c] log-probabilities, labels: int32 [n] */
ZOO_API zoo_tensor *zoo_nll_loss(zoo_tensor *logp, zoo_tensor *labels);
/* mean of max(x,0) - x*t + log(1 + exp(-|x|)), stable for any x; targets in [0, 1] */
ZOO_API zoo_tensor *zoo_bce_with_logits(zoo_tensor *logits, zoo_tensor *targets);

/* weight penalties over n tensors: sum of squares (L2) or of absolute values (L1) */
ZOO_API zoo_tensor *zoo_l2_penalty(zoo_tensor *const *params, int n);
ZOO_API zoo_tensor *zoo_l1_penalty(zoo_tensor *const *params, int n);

#ifdef __cplusplus
}
#endif

#endif
