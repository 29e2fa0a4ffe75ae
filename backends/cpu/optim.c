/* Fused optimizer updates over whole tensors, formulas.h's steps (shared with the
 * shaders); the same in both numeric modes: no sums, and the update is memory-bound,
 * so there is nothing for fast mode to gain. */
#include "cpu_internal.h"
#include "../formulas.h"
#include "../kernels.h"

void cpu_sgd_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *mbuf, const zoo_sgd_params *p) {
    (void)ctx;
    int64_t n = param->numel;
    float *restrict w = f32(param), *restrict buf = mbuf ? f32(mbuf) : NULL;
    const float *restrict g = f32(grad);
    const float lr = p->lr, momentum = p->momentum, dampening = p->dampening, wd = p->weight_decay;
    const bool first = p->first, nesterov = p->nesterov;
#pragma omp parallel for simd if (n >= PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = zoo_sgd_grad(g[i], w[i], wd);
        if (buf) {
            float b = zoo_sgd_buf(buf[i], gi, momentum, dampening, first);
            buf[i] = b;
            gi = zoo_sgd_direction(gi, b, momentum, nesterov);
        }
        w[i] = zoo_sgd_weight(w[i], gi, lr);
    }
}

void cpu_adam_update(void *ctx, zoo_tensor *param, const zoo_tensor *grad, zoo_tensor *mt, zoo_tensor *vt,
                     const zoo_adam_params *p) {
    (void)ctx;
    int64_t n = param->numel;
    float *restrict w = f32(param), *restrict m = f32(mt), *restrict v = f32(vt);
    const float *restrict g = f32(grad);
    const zoo_adam_scalars s = zoo_adam_scalars_of(p);
#pragma omp parallel for simd if (n >= PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = zoo_adam_grad(g[i], w[i], s.wd);
        float mi = zoo_adam_m(m[i], gi, s.b1);
        float vi = zoo_adam_v(v[i], gi, s.b2);
        m[i] = mi;
        v[i] = vi;
        w[i] = zoo_adam_weight(w[i], mi, vi, s.decay, s.step_size, s.inv_sqrt_bc2, s.eps);
    }
}
