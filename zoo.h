/* The one header a program using libzoo includes (installed as <zoo.h>, with
 * `pkg-config --cflags zoo`): tensors, ops, autograd, layers, losses, optimizers,
 * data, checkpoints and the training loop. */
#ifndef ZOO_PUBLIC_H
#define ZOO_PUBLIC_H

#include "core/zoo.h"

#endif
