/* Checkpoints as safetensors files, readable by PyTorch's `safetensors` as they are.
 * It moves bytes between files and tensors; it knows nothing of models or optimizers.
 *
 * File layout (all little-endian):
 *   bytes [0, 8)         u64 N, the header length
 *   bytes [8, 8 + N)     UTF-8 JSON object, padded with spaces:
 *                        {"__metadata__": {"key": "value", ...},          (optional)
 *                         "fc1.weight": {"dtype": "F32", "shape": [128, 784],
 *                                        "data_offsets": [begin, end]}, ...}
 *   bytes [8 + N, EOF)   the data buffer: each tensor's elements row-major, 4 bytes each
 *                        (2 for F16 and BF16), at [begin, end) of the buffer; tensors
 *                        tile it with no gaps.
 * F16 (IEEE half) and BF16 (bfloat16) files, the common form of published weights, load
 * into float32 tensors, widened exactly; zoo_safetensors_save_as writes them. */
#ifndef ZOO_IO_H
#define ZOO_IO_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zoo_named {
    const char *name;
    const zoo_tensor *t;
} zoo_named;

typedef struct zoo_kv {
    const char *key;
    const char *value;
} zoo_kv;

/* Writes tensors (F32 or I32, downloaded with zoo_tensor_download) and string metadata to
 * path, atomically: a temp file beside path is written, fsynced and renamed over it, then
 * the directory is fsynced. Names must be unique, valid UTF-8 and not "__metadata__"; meta
 * keys unique. Tensors are packed back to back in the given order (the reference loader
 * refuses gaps); the header is padded to a multiple of 8, so every tensor starts 4-byte
 * aligned in the file. The caller keeps ownership of everything passed. Returns 0, or -1 with
 * zoo_last_error(): then the temp file is gone and path is untouched (a failed directory
 * fsync, after the rename, is the one exception). */
ZOO_API int zoo_safetensors_save(const char *path, const zoo_named *tensors, int n, const zoo_kv *meta, int nmeta);

/* how zoo_safetensors_save_as stores float32 tensors (int32 ones stay I32): as they are;
 * as F16, rounded to nearest even (from 65520 up: infinity; under 2^-24: subnormals
 * lose bits, under 2^-25: zero); or as BF16, rounded to nearest even (float32's range,
 * 8 significant bits). A NaN stays a NaN. Half the bytes of F32. */
typedef enum zoo_st_float { ZOO_ST_F32, ZOO_ST_F16, ZOO_ST_BF16 } zoo_st_float;
/* zoo_safetensors_save with float tensors stored as `as` */
ZOO_API int zoo_safetensors_save_as(const char *path, const zoo_named *tensors, int n, const zoo_kv *meta, int nmeta,
                                    zoo_st_float as);

typedef struct zoo_st_file zoo_st_file;

/* Reads the whole file and validates it: header length (8 <= 8 + N <= size, N <= 100 MB),
 * UTF-8 JSON object starting with '{', every entry's dtype (F32, F16, BF16 or I32), shape (at
 * most 4 non-negative integer dims), data_offsets (two integers, begin <= end, end - begin =
 * numel * its element size, inside the buffer), no duplicate names, tensors that tile the data buffer with
 * no overlap and no gap, __metadata__ an object of strings, no \u0000 in any name or string
(a C string would end there). Returns a handle the caller
 * frees with zoo_safetensors_close, or NULL with zoo_last_error() naming the file and what
 * is wrong. */
ZOO_API zoo_st_file *zoo_safetensors_open(const char *path);
/* frees f and every string it handed out; NULL is fine */
ZOO_API void zoo_safetensors_close(zoo_st_file *f);

/* number of tensors (not counting __metadata__) */
ZOO_API int zoo_st_count(const zoo_st_file *f);
/* the i-th tensor name in header order, NULL when i is out of range; owned by f */
ZOO_API const char *zoo_st_name(const zoo_st_file *f, int i);
/* 0 and fills dtype and shape (unused trailing dims 1) when name exists, else -1 with no
 * message; a shape may hold 0 dims, which no zoo tensor can take. F16 and BF16 tensors
 * report ZOO_F32, what they load as. */
ZOO_API int zoo_st_info(const zoo_st_file *f, const char *name, zoo_dtype *dtype, zoo_shape *shape);
/* Copies tensor `name` into dst with zoo_tensor_upload (dst may be persistent or in a live
 * scope); F16 and BF16 are widened to float32 on the way. Returns 0, or -1 with zoo_last_error() when name is missing or its dtype or
 * shape differs from dst's ("fc1.weight: checkpoint has [256, 784], model has [128, 784]");
 * dst is untouched then. */
ZOO_API int zoo_st_read(const zoo_st_file *f, const char *name, zoo_tensor *dst);
/* the __metadata__ value for key, NULL when absent; owned by f */
ZOO_API const char *zoo_st_meta(const zoo_st_file *f, const char *key);

#ifdef __cplusplus
}
#endif

#endif
