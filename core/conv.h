/* Convolution, pooling and batch norm: differentiable ops on NCHW tensors (row-major
 * [batch, channels, height, width]) with PyTorch's semantics and weight layouts. Like
 * the ops in ops.h, each returns a new step-scoped tensor, records its backward when an
 * input requires grad, and exits with a message naming the op on a shape error. */
#ifndef ZOO_CONV_H
#define ZOO_CONV_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-axis settings as (height, width) pairs. Zero-initialize and set what differs:
 * (zoo_conv2d_args){.stride = {2, 2}, .padding = {1, 1}}. */
typedef struct zoo_conv2d_args {
    int stride[2];         /* 0 means 1 */
    int padding[2];        /* zeros added on both sides of the input */
    int dilation[2];       /* spacing of the kernel taps; 0 means 1 */
    int output_padding[2]; /* conv_transpose2d only: extra rows/columns at the bottom/right
                              of the output; each less than its stride or its dilation */
} zoo_conv2d_args;

/* x: [n, cin, h, w], weight: [cout, cin, kh, kw], bias: [cout] or NULL -> [n, cout, oh, ow],
 * oh = (h + 2*padding - dilation*(kh - 1) - 1) / stride + 1 (likewise ow); torch's
 * F.conv2d with groups 1. */
ZOO_API zoo_tensor *zoo_conv2d(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, int stride, int padding, int dilation);
ZOO_API zoo_tensor *zoo_conv2d_ex(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, const zoo_conv2d_args *args);

/* The gradient of conv2d with respect to its input, as a layer (torch's
 * F.conv_transpose2d, groups 1). x: [n, cin, h, w], weight: [cin, cout, kh, kw] (note:
 * in before out, as PyTorch), bias: [cout] or NULL -> [n, cout, oh, ow],
 * oh = (h - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1. */
ZOO_API zoo_tensor *zoo_conv_transpose2d(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, int stride, int padding,
                                 int output_padding);
ZOO_API zoo_tensor *zoo_conv_transpose2d_ex(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, const zoo_conv2d_args *args);

/* x: [n, c, h, w] -> [n, c, oh, ow] over square kernel x kernel windows, oh = (h +
 * 2*padding - kernel) / stride + 1 (floor, torch's ceil_mode False); stride 0 means
 * kernel (torch's default); padding at most kernel/2.
 * max: padding never wins (-inf); the gradient goes to the first maximum of each window.
 * avg: the sum over the window divided by kernel*kernel, padding counted as zeros
 * (torch's count_include_pad True). */
ZOO_API zoo_tensor *zoo_max_pool2d(zoo_tensor *x, int kernel, int stride, int padding);
ZOO_API zoo_tensor *zoo_avg_pool2d(zoo_tensor *x, int kernel, int stride, int padding);

/* Batch norm over the channel axis 1 of x: [n, c, h, w] (also [n, c] or [n, c, l]):
 * y = (x - mean) / sqrt(var + eps) * weight + bias per channel; weight, bias [c] or NULL
 * (1 and 0). training: mean and biased var of this batch over (n, h, w), and
 * running_mean/running_var (persistent [c], or both NULL) are updated in place:
 * running = (1 - momentum)*running + momentum*batch, with the unbiased variance, even in
 * no-grad mode (torch's F.batch_norm). Needs more than one value per channel.
 * eval (training false): the running statistics normalize; they must be given.
 * Gradients reach x, weight and bias. PyTorch's defaults: momentum 0.1, eps 1e-5. */
ZOO_API zoo_tensor *zoo_batch_norm2d(zoo_tensor *x, zoo_tensor *weight, zoo_tensor *bias, zoo_tensor *running_mean,
                             zoo_tensor *running_var, bool training, float momentum, float eps);

#ifdef __cplusplus
}
#endif

#endif
