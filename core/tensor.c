/* Tensors, scopes and the runtime: which backend is active, the scope stack, grad
 * mode and the last error. Kernels are never called from here except fill/copy. */
#include "internal.h"

#include "../backends/arena.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCOPES 32

typedef struct scope_frame {
    uint64_t id;
    size_t host_mark;
    size_t dev_mark;
    struct zoo_node *tape_mark;
} scope_frame;

static struct {
    zoo_backend *be;
    zoo_arena host; /* tensor headers, tape entries, scratch */
    scope_frame scopes[MAX_SCOPES + 1];
    int depth;
    uint64_t next_scope_id;
    bool grad_enabled;
    size_t persistent_bytes, persistent_peak;
} rt = {.grad_enabled = true, .next_scope_id = 1};

/* ---------------------------------------------------------------- errors */

static bool failed;

/* the first failure since the last clear keeps its message */
void zoo__error(const char *fmt, ...) {
    if (failed) return;
    failed = true;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    zoo_set_error("%s", msg);
}

bool zoo_failed(void) { return failed; }

void zoo_clear_error(void) {
    failed = false;
    zoo_set_error("%s", "");
}

const char *zoo_version(void) { return ZOO_VERSION; }

/* ---------------------------------------------------------------- shapes */

zoo_shape zoo_shape1(int64_t a) { return (zoo_shape){1, {a, 1, 1, 1}}; }
zoo_shape zoo_shape2(int64_t a, int64_t b) { return (zoo_shape){2, {a, b, 1, 1}}; }
zoo_shape zoo_shape3(int64_t a, int64_t b, int64_t c) { return (zoo_shape){3, {a, b, c, 1}}; }
zoo_shape zoo_shape4(int64_t a, int64_t b, int64_t c, int64_t d) { return (zoo_shape){4, {a, b, c, d}}; }

int64_t zoo_shape_numel(zoo_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.d[i];
    return n;
}

bool zoo_shape_eq(zoo_shape a, zoo_shape b) {
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i]) return false;
    return true;
}

const char *zoo_shape_str(zoo_shape s, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s.ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)s.d[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---------------------------------------------------------------- runtime */

/* the backend, or NULL with an error recorded when zoo_init has not run */
static zoo_backend *backend_or_error(void) {
    if (!rt.be) zoo__error("no backend: call zoo_init(\"cpu\", 0) first");
    return rt.be;
}

zoo_backend *zoo__backend(void) {
    ZOO_ASSERT(rt.be); /* kernels run only on tensors, which need a backend */
    return rt.be;
}

/* ZOO_EXACT: unset, empty or 0 leaves the mode to the options, 1 selects exact */
static int exact_from_env(bool *exact) {
    const char *e = getenv("ZOO_EXACT");
    if (!e || !*e || strcmp(e, "0") == 0) return 0;
    if (strcmp(e, "1") != 0) {
        zoo_set_error("ZOO_EXACT must be 0 or 1, got '%s'", e);
        return -1;
    }
    *exact = true;
    return 0;
}

int zoo_init_with(const zoo_options *opts) {
    if (rt.be) zoo_shutdown();
    zoo_clear_error();
    zoo_backend_config cfg = {.threads = opts->threads, .exact = opts->exact, .local_rank = zoo_dist_local_rank()};
    if (exact_from_env(&cfg.exact)) return -1;
    zoo_backend *be = zoo_backend_new(opts->backend ? opts->backend : "cpu", &cfg);
    if (be && opts->profile) {
        zoo_backend *p = zoo_backend_profile_new(be);
        if (!p) zoo_backend_free(be);
        be = p;
    }
    if (!be) return -1;
    rt.be = be;
#ifndef NDEBUG
    rt.host.poison = 0xdb; /* released tensor headers fail zoo_tensor_check */
#endif
    rt.grad_enabled = true;
    return 0;
}

int zoo_init(const char *name, int threads) {
    return zoo_init_with(&(zoo_options){.backend = name, .threads = threads});
}

bool zoo_exact(void) { return rt.be && rt.be->exact; }
const char *zoo_numeric_mode(void) { return zoo_exact() ? "exact" : "fast"; }

void zoo_profile_print(FILE *out, int64_t steps) {
    if (rt.be) zoo_backend_profile_print(rt.be, out, steps);
}
void zoo_profile_reset(void) {
    if (rt.be) zoo_backend_profile_reset(rt.be);
}

void zoo_shutdown(void) {
    if (!rt.be) return;
    while (rt.depth > 0) zoo_scope_end();
    zoo_backend_free(rt.be);
    rt.be = NULL;
    zoo_arena_destroy(&rt.host);
    rt.persistent_bytes = rt.persistent_peak = 0;
}

int zoo_list_devices(const char *backend, FILE *out) { return zoo_backend_list_devices(backend, out); }

void zoo_get_counters(zoo_counters *out) {
    *out = (zoo_counters){0};
    if (rt.be) rt.be->iface.counters(rt.be->ctx, out);
}

const char *zoo_backend_name(void) { return rt.be ? rt.be->iface.name(rt.be->ctx) : "none"; }

void zoo_sync(void) {
    if (!rt.be) return;
    rt.be->iface.flush(rt.be->ctx);
    rt.be->iface.sync(rt.be->ctx);
}

size_t zoo_peak_bytes(void) { return rt.be ? rt.be->iface.peak_bytes(rt.be->ctx) : 0; }

bool zoo_grad_enabled(void) { return rt.grad_enabled; }

bool zoo_set_grad_enabled(bool on) {
    bool old = rt.grad_enabled;
    rt.grad_enabled = on;
    return old;
}

/* ---------------------------------------------------------------- scopes */

void zoo_scope_begin(void) {
    zoo_backend *be = backend_or_error();
    if (!be) return;
    if (rt.depth == MAX_SCOPES) {
        zoo__error("scopes nested deeper than %d", MAX_SCOPES);
        return;
    }
    scope_frame *f = &rt.scopes[++rt.depth];
    f->id = rt.next_scope_id++;
    f->host_mark = zoo_arena_mark(&rt.host);
    f->dev_mark = be->iface.arena_mark(be->ctx);
    f->tape_mark = zoo__tape_tail();
}

void zoo_scope_end(void) {
    zoo_backend *be = backend_or_error();
    if (!be) return;
    if (rt.depth == 0) {
        zoo__error("zoo_scope_end without a matching zoo_scope_begin");
        return;
    }
    scope_frame *f = &rt.scopes[rt.depth--];
    /* queued kernels may still read this scope's memory */
    be->iface.flush(be->ctx);
    be->iface.sync(be->ctx);
    zoo__tape_truncate(f->tape_mark);
    be->iface.arena_reset(be->ctx, f->dev_mark);
    zoo_arena_reset(&rt.host, f->host_mark);
    f->id = 0;
}

int zoo_scope_depth(void) { return rt.depth; }

void *zoo_scope_alloc(size_t bytes) {
    if (rt.depth == 0) {
        zoo__error("step-scoped tensor or scratch outside a scope: call zoo_scope_begin first");
        return NULL;
    }
    void *p = zoo_arena_alloc(&rt.host, bytes);
    if (!p) zoo__error("out of host memory (%zu bytes requested)", bytes);
    return p;
}

/* ---------------------------------------------------------------- tensors */

static size_t tensor_bytes(int64_t numel) { return (size_t)numel * 4; }

static bool check_shape(zoo_shape s) {
    if (s.ndim < 0 || s.ndim > ZOO_MAX_DIMS) {
        zoo__error("tensors have 0 to %d dims, got %d", ZOO_MAX_DIMS, s.ndim);
        return false;
    }
    for (int i = 0; i < s.ndim; i++)
        if (s.d[i] <= 0) {
            char buf[96];
            zoo__error("invalid tensor shape %s: every dim must be positive", zoo_shape_str(s, buf, sizeof buf));
            return false;
        }
    return true;
}

/* a header for shape (trailing dims set to 1) */
static void fill_header(zoo_tensor *t, zoo_dtype dtype, zoo_shape shape) {
    memset(t, 0, sizeof *t);
    t->shape = shape;
    for (int i = shape.ndim; i < ZOO_MAX_DIMS; i++) t->shape.d[i] = 1;
    t->numel = zoo_shape_numel(shape);
    t->dtype = dtype;
}

zoo_tensor *zoo_tensor_new(zoo_dtype dtype, zoo_shape shape) {
    zoo_backend *be = backend_or_error();
    if (!be || !check_shape(shape)) return NULL;
    zoo_tensor *t = zoo_scope_alloc(sizeof *t);
    if (!t) return NULL;
    fill_header(t, dtype, shape);
    t->data = be->iface.arena_alloc(be->ctx, tensor_bytes(t->numel));
    if (!t->data) {
        zoo__error("out of %s memory allocating a tensor of %lld elements", zoo_backend_name(), (long long)t->numel);
        return NULL;
    }
    t->scope_level = rt.depth;
    t->scope_id = rt.scopes[rt.depth].id;
    return t;
}

zoo_tensor *zoo_tensor_zeros(zoo_dtype dtype, zoo_shape shape) {
    zoo_tensor *t = zoo_tensor_new(dtype, shape);
    zoo_tensor_fill(t, 0.0f);
    return t;
}

zoo_tensor *zoo_tensor_full(zoo_shape shape, float value) {
    zoo_tensor *t = zoo_tensor_new(ZOO_F32, shape);
    zoo_tensor_fill(t, value);
    return t;
}

zoo_tensor *zoo_tensor_from_host(zoo_shape shape, const float *src) {
    zoo_tensor *t = zoo_tensor_new(ZOO_F32, shape);
    zoo_tensor_upload(t, src);
    return t;
}

zoo_tensor *zoo_tensor_from_host_i32(zoo_shape shape, const int32_t *src) {
    zoo_tensor *t = zoo_tensor_new(ZOO_I32, shape);
    zoo_tensor_upload(t, src);
    return t;
}

zoo_tensor *zoo_tensor_new_persistent(zoo_dtype dtype, zoo_shape shape) {
    zoo_backend *be = backend_or_error();
    if (!be || !check_shape(shape)) return NULL;
    zoo_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        zoo__error("out of host memory");
        return NULL;
    }
    fill_header(t, dtype, shape);
    t->persistent = true;
    t->owns_data = true;
    t->data = be->iface.alloc(be->ctx, tensor_bytes(t->numel));
    if (!t->data) {
        zoo__error("out of %s memory allocating a tensor of %lld elements", zoo_backend_name(), (long long)t->numel);
        free(t);
        return NULL;
    }
    be->iface.fill(be->ctx, t, 0.0f);
    return t;
}

void zoo_tensor_free(zoo_tensor *t) {
    if (!t) return;
    ZOO_ASSERT(t->persistent);
    if (t->grad) zoo_tensor_free(t->grad);
    if (t->owns_data && rt.be) rt.be->iface.free(rt.be->ctx, t->data);
    free(t);
}

void zoo_tensor_enable_grad(zoo_tensor *t) {
    if (!t) return;
    ZOO_ASSERT(t->persistent && t->dtype == ZOO_F32);
    if (!t->grad) t->grad = zoo_tensor_new_persistent(ZOO_F32, t->shape);
    if (!t->grad) return;
    t->requires_grad = true;
    t->grad_zero = true;
}

zoo_tensor *zoo__view(zoo_tensor *x, zoo_shape shape) {
    if (!zoo_tensor_check(x, "view")) return NULL;
    ZOO_ASSERT(zoo_shape_numel(shape) == x->numel);
    zoo_tensor *v = zoo_scope_alloc(sizeof *v);
    if (!v) return NULL;
    fill_header(v, x->dtype, shape);
    v->data = x->data;
    v->scope_level = rt.depth;
    v->scope_id = rt.scopes[rt.depth].id;
    return v;
}

bool zoo_tensor_check(const zoo_tensor *t, const char *where) {
    if (!t) {
        zoo__error("%s: NULL tensor", where); /* kept only when nothing failed before */
        return false;
    }
    /* scope_level, not the persistent flag: a released header is poisoned in debug
       builds, and 0xdb bytes read as a bool would be "persistent" */
    if (t->scope_level == 0) return true;
    if (t->scope_level < 1 || t->scope_level > rt.depth || rt.scopes[t->scope_level].id != t->scope_id) {
        zoo__error("%s: tensor used after its scope ended (step-scoped tensors live until the "
                   "zoo_scope_end that matches the zoo_scope_begin they were made under)",
                   where);
        return false;
    }
    return true;
}

void zoo_tensor_upload(zoo_tensor *t, const void *src) {
    if (!zoo_tensor_check(t, "zoo_tensor_upload")) return;
    rt.be->iface.upload(rt.be->ctx, t, src, tensor_bytes(t->numel), 0);
}

void zoo_tensor_download(const zoo_tensor *t, void *dst) {
    if (!zoo_tensor_check(t, "zoo_tensor_download")) return;
    rt.be->iface.download(rt.be->ctx, t, dst, tensor_bytes(t->numel), 0);
}

float zoo_tensor_item(const zoo_tensor *t) {
    if (!zoo_tensor_check(t, "zoo_tensor_item")) return NAN;
    union {
        float f;
        int32_t i;
    } v;
    rt.be->iface.download(rt.be->ctx, t, &v, 4, 0);
    return t->dtype == ZOO_I32 ? (float)v.i : v.f;
}

void zoo_tensor_fill(zoo_tensor *t, float value) {
    if (!zoo_tensor_check(t, "zoo_tensor_fill")) return;
    rt.be->iface.fill(rt.be->ctx, t, value);
}

static bool same_size(const char *op, const zoo_tensor *dst, const zoo_tensor *src) {
    if (!zoo_tensor_check(dst, op) || !zoo_tensor_check(src, op)) return false;
    if (dst->numel == src->numel && dst->dtype == src->dtype) return true;
    char a[96], b[96];
    zoo__error("%s: %s into %s (same element count and dtype needed)", op, zoo_shape_str(src->shape, a, sizeof a),
               zoo_shape_str(dst->shape, b, sizeof b));
    return false;
}

int zoo_copy_(zoo_tensor *dst, const zoo_tensor *src) {
    if (!same_size("copy_", dst, src)) return -1;
    rt.be->iface.unary(rt.be->ctx, ZOO_UNARY_COPY, src, dst, 0, 0);
    return 0;
}

int zoo_lerp_(zoo_tensor *dst, const zoo_tensor *src, float w) {
    if (!same_size("lerp_", dst, src)) return -1;
    if (dst->dtype != ZOO_F32) {
        zoo__error("lerp_: float32 tensors only");
        return -1;
    }
    rt.be->iface.axpby(rt.be->ctx, src, dst, w, 1.0f - w);
    return 0;
}
