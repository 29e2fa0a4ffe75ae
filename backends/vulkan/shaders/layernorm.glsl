// The row sums of layer norm's shaders (layernorm.comp, layernorm_backward_dx.comp):
// one workgroup per row, two sums of the row's d terms at once (a vec2), the same in
// every invocation afterwards. Exact mode keeps canon.h's order: invocation i adds
// group i of 256 terms from zero, left to right, and invocation 0 adds the group sums
// as the terms of canon.h's levels 1 to 3, as the CPU's zoo_canon_sum does. Fast mode
// strides the invocations over the row and adds their sums as a tree. The includer
// defines `vec2 ln_terms(uint k)`, the two terms of column k (declared here); the
// workgroup size is a power of two (vk_pipelines.c halves it to fit).

const uint LN_GROUP = 256u; // canon.h's ZOO_SUM_GROUP

vec2 ln_terms(uint k);

// the parameter (gamma, beta) of element k of row r (backend.h's layernorm): channel
// (r % groups) * cpg + k / inner, cpg = d / inner; layer norm passes groups = inner = 1
uint ln_param(uint r, uint k, uint groups, uint d, uint inner) {
    return (r % groups) * (d / inner) + k / inner;
}

shared vec2 ln_part[gl_WorkGroupSize.x];

// canon.h's sum of the group sums g_0, g_1, ... in invocation 0: the open groups of
// levels 1, 2, 3 and how many terms levels 1 and 2 hold
struct ln_levels {
    vec2 s1, s2, s3;
    uint n1, n2;
};

void ln_add_group(inout ln_levels a, vec2 g) {
    precise vec2 s1 = a.s1 + g;
    a.s1 = s1;
    if (++a.n1 < LN_GROUP) return;
    precise vec2 s2 = a.s2 + a.s1;
    a.s2 = s2;
    a.s1 = vec2(0.0);
    a.n1 = 0u;
    if (++a.n2 < LN_GROUP) return;
    precise vec2 s3 = a.s3 + a.s2;
    a.s3 = s3;
    a.s2 = vec2(0.0);
    a.n2 = 0u;
}

vec2 ln_row_sums(uint d) {
    uint lid = gl_LocalInvocationID.x, size = gl_WorkGroupSize.x;
    if (ZOO_EXACT) {
        uint groups = (d + LN_GROUP - 1u) / LN_GROUP;
        ln_levels a = ln_levels(vec2(0.0), vec2(0.0), vec2(0.0), 0u, 0u);
        for (uint base = 0u; base < groups; base += size) {
            uint g = base + lid;
            if (g < groups) {
                precise vec2 acc = vec2(0.0);
                uint end = min(d, (g + 1u) * LN_GROUP);
                for (uint k = g * LN_GROUP; k < end; k++) acc = acc + ln_terms(k);
                ln_part[lid] = acc;
            }
            barrier();
            if (lid == 0u) {
                uint n = min(size, groups - base);
                for (uint i = 0u; i < n; i++) ln_add_group(a, ln_part[i]);
            }
            barrier();
        }
        // the open groups, highest level last (canon.h's zoo_canon_sum_result)
        precise vec2 r = a.s2 + a.s1;
        r = a.s3 + r;
        if (lid == 0u) ln_part[0] = r;
    } else {
        vec2 acc = vec2(0.0);
        for (uint k = lid; k < d; k += size) acc += ln_terms(k);
        ln_part[lid] = acc;
        barrier();
        for (uint half_ = size / 2u; half_ > 0u; half_ /= 2u) {
            if (lid < half_) ln_part[lid] += ln_part[lid + half_];
            barrier();
        }
    }
    barrier();
    vec2 s = ln_part[0];
    barrier(); // every invocation has read it before the next sum writes ln_part
    return s;
}
