/* backends/cpu/vecmath.c for the fuzz build, without its target_clones: clang 14 emits
 * the clones and an ifunc named "cpu_vunary.ifunc" but no plain "cpu_vunary", so the
 * CPU backend would not link. The attribute is renamed to a harmless one; the code is
 * the file's own, compiled for the baseline x86-64. */
#define target_clones(...) unused
#include "backends/cpu/vecmath.c"
