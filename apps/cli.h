/* Command-line parsing shared by the apps: "--name value", "--name=value" and
 * switches; errors print one line and exit 2, as the apps promise. */
#ifndef ZOO_CLI_H
#define ZOO_CLI_H

#include "../core/zoo.h"
#include "../models/registry.h"

#include <stdbool.h>

#define CLI_MAX_FLAGS 64

typedef struct cli_flag {
    const char *name;   /* without the dashes */
    const char *arg;    /* placeholder shown in help ("N"); NULL for a switch */
    const char *help;
    const char *value;  /* default, replaced by the command line */
    bool set;           /* given on the command line */
} cli_flag;

typedef struct cli {
    const char *prog;
    cli_flag flags[CLI_MAX_FLAGS];
    int n;
} cli;

void cli_add(cli *c, const char *name, const char *arg, const char *def, const char *help);
/* adds each model option as a flag */
void cli_add_model_options(cli *c, const zoo_model_def *def);
/* parses argv[first..]; returns false when --help was asked (help is printed) */
bool cli_parse(cli *c, int argc, char **argv, int first, const char *usage);
cli_flag *cli_get(cli *c, const char *name);
const char *cli_str(cli *c, const char *name);
bool cli_on(cli *c, const char *name);
/* numeric flags, range-checked; out of range or malformed: message, exit 2 */
long long cli_int(cli *c, const char *name, long long min, long long max);
double cli_float(cli *c, const char *name, double min, double max);

/* error in the user's input: "prog: message" and exit 2 */
void cli_usage_error(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* a failure at run time (file, data): "prog: error: message" and exit 1 */
void cli_die(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* MODEL as argv[1], or exit 2 listing the models */
const zoo_model_def *cli_model(const char *prog, int argc, char **argv, const char *usage);
/* --backend, --threads and --exact, the flags every app takes */
void cli_add_backend(cli *c);
/* zoo_init_with from those flags (and ZOO_BACKEND, ZOO_EXACT), exit 1 with the reason */
void cli_init_backend(cli *c);
/* the model args from flags and the images' geometry (d NULL: none) */
zoo_model_args cli_model_args(cli *c, const zoo_model_def *def, const zoo_images *d);
/* The shipped model of `model` (assets/models/MODEL.safetensors: in $ZOO_MODELS_DIR,
 * the source tree, or where `meson install` put it), or NULL when there is none */
const char *cli_shipped_model(const char *model);
/* --checkpoint's value, or the shipped model (saying so on stderr); exit 2 when neither */
const char *cli_checkpoint(cli *c, const char *model);
/* The model in cli_checkpoint's file, created from the options, data geometry and
 * vocabulary the file records (args holds what a file without them gets) with its
 * weights loaded; *path (when not NULL) is the file. Exits 1 with the reason on failure. */
zoo_model *cli_load_model(cli *c, const zoo_model_def *def, zoo_model_args args, const char **path);

/* false when --data is a folder of pictures, which has no test split */
bool cli_has_test_split(cli *c);
/* loads split "train"/"test" from --data (or the default), exit 1 on failure */
void cli_load_data(cli *c, const char *split, zoo_images *d);

#endif
