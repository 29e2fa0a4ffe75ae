#version 450
// Fast mode's reductions over long runs, one workgroup per output (reduce_wg.glsl),
// for devices without subgroup arithmetic.
#extension GL_GOOGLE_include_directive : require
#include "reduce_wg.glsl"
