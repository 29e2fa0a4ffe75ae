/* libzoo's public API in one include: tensors and scopes, ops and autograd, layers,
 * losses, optimizers, data, checkpoints and the training loop. */
#ifndef ZOO_H
#define ZOO_H

#include "autograd.h"
#include "conv.h"
#include "data.h"
#include "dataset.h"
#include "dist.h"
#include "image.h"
#include "io.h"
#include "loss.h"
#include "nn.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "tensor.h"
#include "text.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* the headers' version; zoo_version() is the library's, which may differ when a
 * program runs against another build than it was compiled with */
#define ZOO_VERSION_MAJOR 0
#define ZOO_VERSION_MINOR 2
#define ZOO_VERSION_PATCH 0
#define ZOO_VERSION "0.2.0"

ZOO_API const char *zoo_version(void);

#ifdef __cplusplus
}
#endif

#endif
