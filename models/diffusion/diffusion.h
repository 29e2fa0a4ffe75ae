/* The diffusion model's schedule and samplers, apart from its network, so that tests
 * can run them with a noise predictor whose answer is known. */
#ifndef ZOO_DIFFUSION_H
#define ZOO_DIFFUSION_H

#include "../../core/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZOO_DIFFUSION_STEPS 1000

/* beta[t] and abar[t] = prod_{s <= t} (1 - beta[s]) for t = 0 .. 999, in double: linear
 * betas from 1e-4 to 0.02 (Ho et al.), or cosine (Nichol & Dhariwal: abar(t) = f(t + 1) /
 * f(0) with f(t) = cos^2((t / T + 0.008) / 1.008 pi/2), each beta at most 0.999) */
ZOO_API void zoo_diffusion_schedule(bool cosine, double *beta, double *abar);

/* the predicted noise for x at step t, in the current scope; NULL on failure */
typedef zoo_tensor *(*zoo_eps_fn)(void *ctx, zoo_tensor *x, int t);
/* sees x after `done` of `total` steps (done 0: x_T); 0, or -1 to stop with an error */
typedef int (*zoo_observe_fn)(void *ctx, const zoo_tensor *x, int64_t done, int64_t total);

/* Denoises x (persistent, holding x_T) in place to x_0 with the sampler s names (NULL:
 * DDIM, 50 steps, eta 0):
 *   ddpm  every t from 999 down: x <- (x - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t)
 *         + sqrt(beta_t) z (no z at t = 0)
 *   ddim  steps tau_k = k T / steps, from the last: x0 = (x - sqrt(1 - abar) eps) /
 *         sqrt(abar), x <- sqrt(abar') x0 + sqrt(1 - abar' - sigma^2) eps + sigma z,
 *         sigma = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar'), abar' the
 *         previous step's (1 before the first)
 * z from rng (device fills); observe (may be NULL) sees x before the first step and after
 * each. 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_diffusion_sample(const double *beta, const double *abar, zoo_tensor *x, const zoo_image_sampling *s,
                                 zoo_rng *rng, zoo_eps_fn eps_fn, zoo_observe_fn observe, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
