/* Data-parallel training over MPI (`mpirun -np N zoo-train MODEL`). Every process, a
 * "rank", holds the whole model and takes its share of every global batch (the batch a
 * single process would read, split into near-equal row ranges); before each optimizer
 * update the gradients are averaged across ranks, so every replica takes the same step.
 * Rank 0 alone writes files and prints progress.
 *
 * Built with MPI when meson finds it (-Dmpi=auto|enabled|disabled). Without it, or in a
 * process mpirun did not start, there is one rank and every call is a no-op. Errors end
 * the whole job (MPI's default handler), so a rank that dies takes the others with it
 * rather than leaving them waiting. */
#ifndef ZOO_DIST_H
#define ZOO_DIST_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Joins the job when mpirun started this process (MPI_Init); else stays one rank.
 * 0, or -1 with zoo_last_error(). Call once, before zoo_init (the Vulkan backend picks
 * its device by local rank). */
ZOO_API int zoo_dist_init(void);
/* leaves the job (MPI_Finalize); a no-op alone */
ZOO_API void zoo_dist_finalize(void);
ZOO_API int zoo_dist_rank(void);
ZOO_API int zoo_dist_size(void);
/* the rank among the job's processes on this machine (which GPU to take) */
ZOO_API int zoo_dist_local_rank(void);

/* whether work item i (a chunk of an evaluation) is this rank's: round robin */
ZOO_API bool zoo_dist_mine(int64_t i);

/* Replaces every gradient of params (those that got one since zero_grad) by the sum over
 * ranks of share * gradient, share being this rank's part of the global batch: the
 * gradient of the global batch's mean loss. Goes through the host in flat buckets.
 * 0, or -1 with zoo_last_error(). */
ZOO_API int zoo_dist_average_grads(zoo_module *params, double share);
/* rank 0's values of every tensor of m on every rank */
ZOO_API int zoo_dist_broadcast(zoo_module *m);
/* what the gradient averaging has cost this process so far: calls, bytes reduced and
 * seconds spent (staging through the host included) */
typedef struct zoo_dist_stats {
    int64_t calls, bytes;
    double seconds;
} zoo_dist_stats;
ZOO_API zoo_dist_stats zoo_dist_get_stats(void);

/* Synchronized batch norm (`--sync-bn`): when on and there are several ranks, batch
 * norm in training takes its statistics over the global batch (zoo_batch_norm2d), as
 * one process would; off (the default, as PyTorch's DDP), each rank's own rows. */
ZOO_API void zoo_dist_set_sync_bn(bool on);
ZOO_API bool zoo_dist_sync_bn(void);
/* this step's share of the global batch (its rows / all rows; 1 alone), which the
 * training loop sets: what this rank's gradients weigh in zoo_dist_average_grads and
 * through zoo_dist_all_sum */
ZOO_API void zoo_dist_set_share(double share);
ZOO_API double zoo_dist_share(void);

/* x summed over ranks, every rank getting the sum (a float tensor of any shape), as a
 * differentiable op: the gradient of the global loss (each rank's loss weighted by its
 * share) flows back to every rank's x. Alone: x itself. NULL with zoo_last_error(). */
ZOO_API zoo_tensor *zoo_dist_all_sum(zoo_tensor *x);

/* v[0..n) summed over ranks, in place */
ZOO_API int zoo_dist_sum(double *v, int n);
/* -1 with zoo_last_error() naming `what` and the ranks unless every rank passed the same
 * text (model options, data, settings): mismatched replicas are refused at start-up */
ZOO_API int zoo_dist_check_same(const char *what, const char *text);

#ifdef __cplusplus
}
#endif

#endif
