// Shared by the compute shaders: op numbers (they must match the enums in
// backends/backend.h; vk_kernels.c checks the counts) and the flat thread index.
// Include it after the shader's layout(local_size_x_id = ...) line: before that line
// glslang takes gl_WorkGroupSize to be the constant (1, 1, 1).

#define UNARY_COPY 0
#define UNARY_AFFINE 1
#define UNARY_POW 2
#define UNARY_RELU 3
#define UNARY_LEAKY_RELU 4
#define UNARY_TANH 5
#define UNARY_SIGMOID 6
#define UNARY_GELU 7
#define UNARY_SILU 8
#define UNARY_EXP 9
#define UNARY_LOG 10
#define UNARY_SQRT 11
#define UNARY_ABS 12

#define BINARY_ADD 0
#define BINARY_SUB 1
#define BINARY_MUL 2
#define BINARY_DIV 3
#define BINARY_EQ 4

#define REDUCE_SUM 0
#define REDUCE_MEAN 1
#define REDUCE_MAX 2

#define RNG_UNIFORM 0
#define RNG_NORMAL 1
#define RNG_BERNOULLI 2

// The invocation's index in a 1-D problem. The host lays out more workgroups than one
// row of the grid allows (65535 on many devices) as a 2-D grid, row by row.
uint vk_index() {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

// The workgroup's index when the host launches one workgroup per item, as a 2-D grid.
uint vk_group_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
