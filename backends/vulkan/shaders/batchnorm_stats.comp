#version 450
// Batch norm's per-channel statistics from its sums (taken by reduce.comp), with the
// CPU's formulas (formulas.h); one invocation per channel. m = n * inner.
//   stage 0, training: save_mean = sum x / m
//   stage 1, training: with sq = sum (x - mean)^2: save_invstd = 1 / sqrt(sq / m + eps),
//            and the running statistics move toward mean and sq / (m - 1) by momentum
//   eval:    save_mean = running_mean, save_invstd = 1 / sqrt(running_var + eps)
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0, local_size_x = 64) in;
#include "common.glsl"
#include "../../formulas.h"

layout(push_constant) uniform Push { uint c, m, training, stage, has_running; float momentum, eps; } p;
layout(binding = 0) readonly buffer S { float sums[]; }; // stage 0: sum x; stage 1: sq
layout(binding = 1) buffer RM { float running_mean[]; };
layout(binding = 2) buffer RV { float running_var[]; };
layout(binding = 3) buffer SM { float save_mean[]; };
layout(binding = 4) buffer SI { float save_invstd[]; };

void main() {
    uint ch = vk_index();
    if (ch >= p.c) return;
    if (p.training == 0u) {
        save_mean[ch] = running_mean[ch];
        save_invstd[ch] = zoo_bn_invstd(running_var[ch], p.eps);
        return;
    }
    if (p.stage == 0u) {
        save_mean[ch] = zoo_div(sums[ch], float(p.m));
        return;
    }
    float sq = sums[ch];
    save_invstd[ch] = zoo_bn_invstd(zoo_div(sq, float(p.m)), p.eps);
    if (p.has_running != 0u) {
        float unbiased = zoo_div(sq, float(p.m - 1u));
        running_mean[ch] = zoo_bn_running(running_mean[ch], save_mean[ch], p.momentum);
        running_var[ch] = zoo_bn_running(running_var[ch], unbiased, p.momentum);
    }
}
