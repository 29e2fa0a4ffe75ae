// The members of backend.h's zoo_conv2d_geom, in its order, to open a push-constant
// block: x [n, cin, h, w] -> y [n, cout, oh, ow] with kernels [kh, kw]; output (oy, ox)
// reads input row oy*stride_h - pad_h + ky*dil_h and column ox*stride_w - pad_w + kx*dil_w.
#define CONV_GEOM                                                                   \
    int n, cin, h, w, cout, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;

// the output o < count whose window (from o*stride - pad) reads position i with its
// tap k, at k*dil: o*stride = i + pad - k*dil; -1 when there is none
int conv_source(int i, int pad, int k, int dil, int stride, int count) {
    int t = i + pad - k * dil;
    if (t < 0 || t % stride != 0) return -1;
    int o = t / stride;
    return o < count ? o : -1;
}
