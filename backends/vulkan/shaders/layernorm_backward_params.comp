#version 450
// Layer norm's dgamma and dbeta terms summed over rows (backend.h), the CPU's first step:
// one invocation per (group of 256 rows, column) adds its group's dy * xhat and dy from
// zero in row order, xhat = (x - mean) * rstd (formulas.h's), into sg and sb [groups, d].
// With one group those are the results; else the host sums the groups (reduce.comp),
// canon.h's next level.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 256) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint rows, d, groups, want_dgamma, want_dbeta; } p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer DY { float dy[]; };
layout(binding = 2) readonly buffer M { float mean[]; };
layout(binding = 3) readonly buffer R { float rstd[]; };
layout(binding = 4) buffer SG { float sg[]; };
layout(binding = 5) buffer SB { float sb[]; };

const uint GROUP = 256u; // canon.h's ZOO_SUM_GROUP

void main() {
    uint i = vk_index();
    if (i >= p.groups * p.d) return;
    uint g = i / p.d, j = i % p.d;
    uint end = min(p.rows, (g + 1u) * GROUP);
    precise float ag = 0.0, ab = 0.0;
    for (uint r = g * GROUP; r < end; r++) {
        uint e = r * p.d + j;
        precise float t = dy[e] * zoo_ln_xhat(x[e], mean[r], rstd[r]);
        ag = ag + t;
        ab = ab + dy[e];
    }
    if (p.want_dgamma != 0u) sg[i] = ag;
    if (p.want_dbeta != 0u) sb[i] = ab;
}
