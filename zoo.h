/* zoo: a deep-learning library in C11 (installed as <zoo.h>; build with
 * `cc prog.c $(pkg-config --cflags --libs zoo)`). One include gives tensors and
 * scopes, differentiable ops, autograd, layers, losses, optimizers, datasets,
 * checkpoints, the training loop and the model zoo.
 *
 * A program in full: fit y = 2x + 1 with one linear layer.
 *
 *     #include <zoo.h>
 *     #include <stdio.h>
 *
 *     int main(void) {
 *         if (zoo_init("cpu", 0)) {             // or "vulkan"; 0 threads: one per core
 *             fprintf(stderr, "%s\n", zoo_last_error());
 *             return 1;
 *         }
 *         float xs[4] = {0, 1, 2, 3}, ys[4] = {1, 3, 5, 7};
 *         zoo_module net;                        // named persistent parameters
 *         zoo_module_init(&net);
 *         zoo_rng init = zoo_rng_new(0);
 *         zoo_linear_layer fc = zoo_linear_new(&net, "fc", 1, 1, true, &init);
 *         zoo_optimizer opt;
 *         zoo_optim_init(&opt, &net, zoo_optim_defaults(ZOO_OPTIM_ADAM, 0.1f));
 *         for (int step = 0; step < 500; step++) {
 *             zoo_scope_begin();                 // tensors made from here on die at scope_end
 *             zoo_tensor *x = zoo_tensor_from_host(zoo_shape2(4, 1), xs);
 *             zoo_tensor *y = zoo_tensor_from_host(zoo_shape2(4, 1), ys);
 *             zoo_tensor *loss = zoo_mse_loss(zoo_linear_forward(&fc, x), y);
 *             zoo_module_zero_grad(&net);
 *             if (zoo_backward(loss)) {          // a NULL loss (a failed op) lands here
 *                 fprintf(stderr, "%s\n", zoo_last_error());
 *                 return 1;
 *             }
 *             zoo_optim_step(&opt);
 *             zoo_scope_end();
 *         }
 *         zoo_optim_free(&opt);
 *         zoo_module_free(&net);
 *         zoo_shutdown();
 *         return 0;
 *     }
 *
 * Errors: an op whose inputs do not fit returns NULL and records why; an op given NULL
 * returns NULL, so a whole forward pass can be checked once, at the loss (zoo_failed(),
 * zoo_last_error()). File and device functions return -1 or NULL the same way. Nothing
 * in the library exits the program. */
#ifndef ZOO_PUBLIC_H
#define ZOO_PUBLIC_H

#include "core/zoo.h"
#include "models/classifier.h"
#include "models/registry.h"

#endif
