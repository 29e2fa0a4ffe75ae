/* Data-parallel training over MPI (dist.h). Only this file talks to MPI; without it
 * (ZOO_HAVE_MPI undefined) every function is the one-rank version. */
#include "dist.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#ifdef ZOO_HAVE_MPI
#include <mpi.h>
#endif

static struct {
    bool joined; /* MPI_Init ran */
    int rank, size, local_rank;
    zoo_dist_stats stats;
    bool sync_bn;
    double share; /* this step's part of the global batch */
} dist = {.size = 1, .share = 1.0};

void zoo_dist_set_sync_bn(bool on) { dist.sync_bn = on; }
bool zoo_dist_sync_bn(void) { return dist.sync_bn && dist.size > 1; }
void zoo_dist_set_share(double share) { dist.share = share; }
double zoo_dist_share(void) { return dist.share; }

zoo_dist_stats zoo_dist_get_stats(void) { return dist.stats; }

int zoo_dist_rank(void) { return dist.rank; }
int zoo_dist_size(void) { return dist.size; }
int zoo_dist_local_rank(void) { return dist.local_rank; }

/* mpirun (Open MPI's, or a PMI launcher such as MPICH's hydra and Slurm) says so in the
 * environment; a process started by hand stays alone rather than paying for MPI_Init */
static bool launched_by_mpi(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

int zoo_dist_init(void) {
    if (dist.joined || !launched_by_mpi()) return 0;
#ifdef ZOO_HAVE_MPI
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        zoo__error("MPI_Init failed");
        return -1;
    }
    dist.joined = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &dist.local_rank);
    MPI_Comm_free(&local);
    return 0;
#else
    zoo__error("this process was started by mpirun, but zoo was built without MPI "
               "(install libopenmpi-dev and rebuild, or meson configure -Dmpi=enabled)");
    return -1;
#endif
}

void zoo_dist_finalize(void) {
#ifdef ZOO_HAVE_MPI
    if (dist.joined) MPI_Finalize();
#endif
    dist.joined = false;
}


bool zoo_dist_mine(int64_t i) { return i % dist.size == dist.rank; }

#ifdef ZOO_HAVE_MPI
/* the gradients packed BUCKET floats at a time, reduced, unpacked: one MPI call per
   bucket instead of one per tensor */
#define BUCKET ((int64_t)1 << 20)

static bool has_grad(const zoo_tensor *w) { return w->requires_grad && w->grad && !w->grad_zero; }

static int reduce_bucket(zoo_module *params, int from, int to, float *buf, int64_t len, double share) {
    int64_t at = 0;
    for (int i = from; i < to; i++) {
        zoo_tensor *w = params->params[i].t;
        if (!has_grad(w)) continue;
        zoo_tensor_download(w->grad, buf + at);
        at += w->grad->numel;
    }
    for (int64_t k = 0; k < len; k++) buf[k] = (float)(share * buf[k]);
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
        zoo__error("MPI_Allreduce of the gradients failed");
        return -1;
    }
    at = 0;
    for (int i = from; i < to; i++) {
        zoo_tensor *w = params->params[i].t;
        if (!has_grad(w)) continue;
        zoo_tensor_upload(w->grad, buf + at);
        at += w->grad->numel;
    }
    return 0;
}
#endif

int zoo_dist_average_grads(zoo_module *params, double share) {
    if (dist.size == 1) return 0;
#ifdef ZOO_HAVE_MPI
    int64_t largest = 0;
    for (int i = 0; i < params->n; i++) {
        const zoo_tensor *w = params->params[i].t;
        if (has_grad(w) && w->grad->numel > largest) largest = w->grad->numel;
    }
    float *buf = malloc((size_t)(largest > BUCKET ? largest : BUCKET) * sizeof *buf);
    if (!buf) {
        zoo__error("out of host memory for the gradient buckets");
        return -1;
    }
    double t0 = MPI_Wtime();
    int rc = 0, from = 0;
    int64_t len = 0;
    for (int i = 0; i <= params->n && rc == 0; i++) {
        const zoo_tensor *w = i < params->n ? params->params[i].t : NULL;
        int64_t n = w && has_grad(w) ? w->grad->numel : 0;
        if (len > 0 && (!w || len + n > BUCKET)) { /* full, or the last: reduce params[from, i) */
            rc = reduce_bucket(params, from, i, buf, len, share);
            dist.stats.bytes += len * (int64_t)sizeof *buf;
            from = i;
            len = 0;
        }
        len += n;
    }
    free(buf);
    dist.stats.calls++;
    dist.stats.seconds += MPI_Wtime() - t0;
    return rc;
#else
    (void)params;
    (void)share;
    return 0;
#endif
}

int zoo_dist_broadcast(zoo_module *m) {
    if (dist.size == 1) return 0;
#ifdef ZOO_HAVE_MPI
    for (int i = 0; i < m->n; i++) {
        zoo_tensor *t = m->params[i].t;
        size_t bytes = (size_t)t->numel * 4;
        void *buf = malloc(bytes);
        if (!buf) {
            zoo__error("out of host memory");
            return -1;
        }
        if (dist.rank == 0) zoo_tensor_download(t, buf);
        int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc == MPI_SUCCESS && dist.rank != 0) zoo_tensor_upload(t, buf);
        free(buf);
        if (rc != MPI_SUCCESS) {
            zoo__error("MPI_Bcast of %s failed", m->params[i].name);
            return -1;
        }
    }
#endif
    return 0;
}

#ifdef ZOO_HAVE_MPI
/* a float tensor summed over ranks through the host, scaled by `scale` first */
static zoo_tensor *all_sum_host(zoo_tensor *x, double scale) {
    float *buf = zoo_scope_alloc((size_t)x->numel * sizeof *buf);
    zoo_tensor *out = buf ? zoo_tensor_new(ZOO_F32, x->shape) : NULL;
    if (!out) return NULL;
    zoo_tensor_download(x, buf);
    if (scale != 1.0)
        for (int64_t i = 0; i < x->numel; i++) buf[i] = (float)(scale * buf[i]);
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)x->numel, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
        zoo__error("MPI_Allreduce failed");
        return NULL;
    }
    zoo_tensor_upload(out, buf);
    return out;
}

/* Each rank's own loss reaches the sum; the gradient every rank needs is that of the
   global loss, the sum over ranks of share x each one's: summed, then divided by this
   rank's share, since zoo_dist_average_grads weighs everything upstream by it again. */
static void all_sum_backward(zoo_node *n) {
    zoo_tensor *g = all_sum_host(n->out->grad, dist.share);
    if (g) zoo__grad_accumulate(n->in[0], zoo_affine(g, (float)(1.0 / dist.share), 0.0f));
}
#endif

zoo_tensor *zoo_dist_all_sum(zoo_tensor *x) {
    if (!zoo__check_f32("dist_all_sum", x)) return NULL;
    if (dist.size == 1) return x;
#ifdef ZOO_HAVE_MPI
    zoo_tensor *y = all_sum_host(x, 1.0);
    if (y) zoo__record("dist_all_sum", y, all_sum_backward, 1, &x);
    return y;
#else
    return x;
#endif
}

int zoo_dist_sum(double *v, int n) {
    if (dist.size == 1 || n == 0) return 0;
#ifdef ZOO_HAVE_MPI
    if (MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
        zoo__error("MPI_Allreduce failed");
        return -1;
    }
#endif
    return 0;
}

int zoo_dist_check_same(const char *what, const char *text) {
    if (dist.size == 1) return 0;
#ifdef ZOO_HAVE_MPI
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = text; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    uint64_t *all = malloc((size_t)dist.size * sizeof *all);
    if (!all) {
        zoo__error("out of host memory");
        return -1;
    }
    int rc = MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int differs = -1;
    for (int r = 1; r < dist.size && differs < 0; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (rc != MPI_SUCCESS) {
        zoo__error("MPI_Allgather failed");
        return -1;
    }
    if (differs >= 0) {
        zoo__error("the ranks were started with different %s: rank %d's differ from rank 0's "
                   "(every rank must run the same command on the same data)",
                   what, differs);
        return -1;
    }
#else
    (void)what;
    (void)text;
#endif
    return 0;
}
