// Shared by the compute shaders: the numeric mode, the op numbers (backends/ops.def,
// the list backend.h's enums come from), exact division and square root, and the
// flat thread index. Include it after the shader's layout(local_size_x_id = ...)
// line: before that line glslang takes gl_WorkGroupSize to be the constant (1, 1, 1).

// exact mode (backend.h): canon.h's order, no fused multiply-add, correctly rounded
// division and square root. Specialization constants 0-3 are workgroup and tile sizes.
layout(constant_id = 4) const bool ZOO_EXACT = true;

// Subnormal floats (below 1.18e-38) kept, not flushed to zero: GPUs may flush them
// (NVIDIA's do unless told), the CPU does not, and exact mode promises the same bits.
// meson compiles every shader a second time with ZOO_DENORM_PRESERVE, which adds
// SPIR-V's DenormPreserve execution mode for 32-bit floats (SPV_KHR_float_controls:
// capability 4464, mode 4459); vk_device.c uses that variant where the device can.
#ifdef ZOO_DENORM_PRESERVE
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4464], 4459, 32);
#endif

#define ZOO_UNARY_OP(name, number) const int ZOO_UNARY_##name = number;
#define ZOO_BINARY_OP(name, number) const int ZOO_BINARY_##name = number;
#define ZOO_REDUCE_OP(name, number) const int ZOO_REDUCE_##name = number;
#define ZOO_RNG_DIST(name, number) const int ZOO_RNG_##name = number;
#define ZOO_POOL_OP(name, number) const int ZOO_POOL_##name = number;
#include "../../ops.def"

#include "exact.glsl"

// The invocation's index in a 1-D problem. The host lays out more workgroups than one
// row of the grid allows (65535 on many devices) as a 2-D grid, row by row.
uint vk_index() {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

// The workgroup's index when the host launches one workgroup per item, as a 2-D grid.
uint vk_group_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
