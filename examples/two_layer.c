/* A two-layer network fitted to y = sin(3x) with a loss written by the user from
 * ops (log-cosh), using only libzoo's public API: what a learner writes first.
 * Build outside the tree: cc two_layer.c $(pkg-config --cflags --libs zoo); it is
 * valid C++ too (c++ -x c++ two_layer.c ...). */
#include <zoo.h>

#include <math.h>
#include <stdio.h>

/* log(cosh(e)) = |e| + log(1 + exp(-2|e|)) - log 2: smooth like L2 near 0, like L1
 * far away; written stably so large errors do not overflow exp. */
static zoo_tensor *log_cosh_loss(zoo_tensor *pred, zoo_tensor *target) {
    zoo_tensor *a = zoo_abs(zoo_sub(pred, target));
    zoo_tensor *soft = zoo_log(zoo_add_scalar(zoo_exp(zoo_mul_scalar(a, -2.0f)), 1.0f));
    return zoo_add_scalar(zoo_mean_all(zoo_add(a, soft)), -logf(2.0f));
}

int main(void) {
    if (zoo_init("cpu", 0)) {
        fprintf(stderr, "%s\n", zoo_last_error());
        return 1;
    }
    printf("libzoo %s (headers %s)\n", zoo_version(), ZOO_VERSION);
    enum { N = 256, HIDDEN = 32 };
    float xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = -1.0f + 2.0f * (float)i / (N - 1);
        ys[i] = sinf(3.0f * xs[i]);
    }

    /* parameters live in a module, named as PyTorch would name them */
    zoo_module net;
    zoo_module_init(&net);
    zoo_rng init = zoo_rng_new(0);
    zoo_linear_layer fc1 = zoo_linear_new(&net, "fc1", 1, HIDDEN, true, &init);
    zoo_linear_layer fc2 = zoo_linear_new(&net, "fc2", HIDDEN, 1, true, &init);
    zoo_optimizer opt;
    zoo_optim_init(&opt, &net, zoo_optim_defaults(ZOO_OPTIM_ADAM, 1e-2f));

    float first = 0, last = 0;
    for (int step = 0; step < 1000; step++) {
        zoo_scope_begin(); /* everything made in the step is freed at its end */
        zoo_tensor *x = zoo_tensor_from_host(zoo_shape2(N, 1), xs);
        zoo_tensor *y = zoo_tensor_from_host(zoo_shape2(N, 1), ys);
        zoo_tensor *pred = zoo_linear_forward(&fc2, zoo_tanh(zoo_linear_forward(&fc1, x)));
        zoo_tensor *loss = log_cosh_loss(pred, y);
        zoo_module_zero_grad(&net);
        if (zoo_backward(loss)) { /* any op that failed on the way: its message */
            fprintf(stderr, "step %d: %s\n", step, zoo_last_error());
            return 1;
        }
        zoo_optim_step(&opt);
        last = zoo_tensor_item(loss);
        if (step == 0) first = last;
        if (step % 200 == 0) printf("step %4d  loss %.6f\n", step, last);
        zoo_scope_end();
    }
    printf("loss %.6f -> %.6f\n", first, last);

    zoo_optim_free(&opt);
    zoo_module_free(&net);
    zoo_shutdown();
    return last < first / 20 ? 0 : 1; /* it must have learned */
}
