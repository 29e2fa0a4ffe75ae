/* libzoo's public API in one include: tensors and scopes, ops and autograd, layers,
 * losses, optimizers, data, checkpoints and the training loop. */
#ifndef ZOO_H
#define ZOO_H

#include "autograd.h"
#include "conv.h"
#include "data.h"
#include "image.h"
#include "io.h"
#include "loss.h"
#include "nn.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "tensor.h"
#include "train.h"

#endif
