#version 450
// Fast mode's reductions over long runs, one workgroup per output (reduce_wg.glsl),
// with subgroup operations (Vulkan 1.1), for devices that have them.
#extension GL_GOOGLE_include_directive : require
#define ZOO_SUBGROUPS 1
#include "reduce_wg.glsl"
