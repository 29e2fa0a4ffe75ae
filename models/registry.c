/* The list of models the apps can name. */
#include "registry.h"

#include <string.h>

const zoo_model_def *const zoo_models[] = {
    &zoo_mlp_def,
    &zoo_cnn_def,
    &zoo_gan_def,
    &zoo_transformer_def,
    &zoo_diffusion_def,
    NULL,
};

const zoo_model_def *zoo_model_lookup(const char *name) {
    for (int i = 0; zoo_models[i]; i++)
        if (strcmp(zoo_models[i]->name, name) == 0) return zoo_models[i];
    return NULL;
}
