/* The model zoo's index: every model package registers one zoo_model_def here, and
 * the apps find models only through it. Adding a model = a folder + one line. */
#ifndef ZOO_REGISTRY_H
#define ZOO_REGISTRY_H

#include "../core/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NULL-terminated list of every model */
ZOO_API extern const zoo_model_def *const zoo_models[];

/* NULL when no model has that name */
ZOO_API const zoo_model_def *zoo_model_lookup(const char *name);

ZOO_API extern const zoo_model_def zoo_mlp_def;
ZOO_API extern const zoo_model_def zoo_cnn_def;
ZOO_API extern const zoo_model_def zoo_gan_def;
ZOO_API extern const zoo_model_def zoo_transformer_def;
ZOO_API extern const zoo_model_def zoo_diffusion_def;

#ifdef __cplusplus
}
#endif

#endif
