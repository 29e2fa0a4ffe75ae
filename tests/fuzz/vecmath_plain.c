/* backends/cpu/vecmath.c for the fuzz build, without its target_clones: clang 14 emits
 * the clones and an ifunc named "cpu_vunary.ifunc" but no plain "cpu_vunary", so the
 * CPU backend would not link. Its headers come in first, with __x86_64__ still set; then
 * the file itself sees no x86-64 and so defines no clones. */
#include "backends/cpu/vecmath.h"

#include <string.h>

#undef __x86_64__
#include "backends/cpu/vecmath.c"
