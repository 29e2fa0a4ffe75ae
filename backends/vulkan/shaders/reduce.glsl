// What the reduction shaders share (reduce.comp, exact mode's passes, and
// reduce_wg.comp, fast mode's workgroups): the push constants, the buffers, and where
// an output's terms lie. x: [d0, d1, d2, d3]; output o has the x elements that reduce
// into it (the dims where out is 1 and x is not), in x's row-major order, as its `len`
// terms.
//   groups: exact mode's group sums per output (reduce.comp); 1 for the final pass
//   cont:   the result continues a sum already in dst: its terms come after dst's
//   count:  the mean's divisor on the last pass, 0 for none

layout(push_constant) uniform Push {
    uint d0, d1, d2, d3, od0, od1, od2, od3;
    uint n_out; int op; uint len, groups, cont;
    float count;
} p;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) buffer O { float dst[]; };

// output o's first term, and the extents (1 where kept) and strides of the dims
struct reduce_plan {
    uint base, r1, r2, r3, s0, s1, s2;
};

reduce_plan reduce_plan_of(uint o) {
    uint t = o;
    uint c3 = t % p.od3;
    t /= p.od3;
    uint c2 = t % p.od2;
    t /= p.od2;
    uint c1 = t % p.od1;
    uint c0 = t / p.od1;
    reduce_plan q;
    q.r1 = p.od1 == 1u ? p.d1 : 1u;
    q.r2 = p.od2 == 1u ? p.d2 : 1u;
    q.r3 = p.od3 == 1u ? p.d3 : 1u;
    q.s2 = p.d3;
    q.s1 = p.d2 * q.s2;
    q.s0 = p.d1 * q.s1;
    q.base = c0 * q.s0 + c1 * q.s1 + c2 * q.s2 + c3;
    return q;
}

// the k-th term of the output q was made for
float reduce_term(reduce_plan q, uint k) {
    uint i3 = k % q.r3;
    k /= q.r3;
    uint i2 = k % q.r2;
    k /= q.r2;
    uint i1 = k % q.r1;
    uint i0 = k / q.r1;
    return x[q.base + i0 * q.s0 + i1 * q.s1 + i2 * q.s2 + i3];
}
