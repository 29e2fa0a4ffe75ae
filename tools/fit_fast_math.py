#!/usr/bin/python3
"""Fits the polynomials of backends/cpu/vecmath.c's tanh and erf (fast mode).

Least squares on Chebyshev nodes against Python's double-precision math.tanh and
math.erf, weighted for relative error; the coefficients are then rounded to float,
the lower ones first, each higher one refitted to absorb the rounding of those below.
Prints the coefficients and the worst error (in float ulps) of the fitted form
evaluated in double; tests/test_canon.c measures the float code itself.

    /usr/bin/python3 tools/fit_fast_math.py
"""
import math

import numpy as np

ULP = 2.0 ** -23  # relative spacing of floats in [1, 2)


def nodes(a, b, n=6000):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos((2 * k + 1) * np.pi / (2 * n))


def fit_rounded(t, y, w, deg):
    """float coefficients c[0..deg] of sum c_i t^i ~ y, weights w"""
    coef = []
    rest = y.copy()
    for i in range(deg + 1):
        V = np.vander(t, deg + 1 - i, increasing=True) * (t[:, None] ** 0)
        c, *_ = np.linalg.lstsq(V * w[:, None], rest * w, rcond=None)
        ci = float(np.float32(c[0]))
        coef.append(ci)
        rest = (rest - ci) / np.where(t == 0, 1, t)
        w = w * np.abs(t)
    return coef


def report(name, xs, got, ref):
    err = np.max(np.abs(got - ref) / np.abs(ref)) / ULP
    print(f"{name}: worst relative error {err:.3f} ulp (fitted form, evaluated in double)")


def main():
    # tanh x = x + x * z * P(z), z = x^2, on |x| <= 1
    x = nodes(1e-4, 1.0)
    z = x * x
    y = (np.tanh(x) - x) / (x * z)
    p = fit_rounded(z, y, x * z / np.tanh(x), 6)
    print("tanh P:", ", ".join(f"{c:.9e}f" for c in p))
    xs = np.linspace(1e-4, 1.0, 100001)
    report("tanh", xs, xs + xs * xs * xs * np.polyval(p[::-1], xs * xs), np.tanh(xs))

    # erf x = x + x * Q(z), z = x^2, on |x| <= 1.2
    x = nodes(1e-4, 1.2)
    z = x * x
    y = np.array([math.erf(v) for v in x]) / x - 1
    q = fit_rounded(z, y, x / np.array([math.erf(v) for v in x]), 7)
    print("erf Q:", ", ".join(f"{c:.9e}f" for c in q))
    xs = np.linspace(1e-4, 1.2, 100001)
    report("erf (small)", xs, xs + xs * np.polyval(q[::-1], xs * xs), np.array([math.erf(v) for v in xs]))

    # erf x = 1 - exp(R(x)), R ~ log(erfc x), on 1.2 <= x <= 3.93 (past that erf rounds to
    # 1). Starting at 1.2, where erfc is under 0.09, lets R be evaluated in float: its
    # rounding costs erfc(x) times as much in erf.
    x = nodes(1.2, 3.93)
    y = np.array([math.log(math.erfc(v)) for v in x])
    w = np.array([math.erfc(v) for v in x])  # an error in R costs erfc(x) times as much
    r = fit_rounded(x - 2.5, y, w / 1e-2, 10)
    print("erf R (in x - 2.5):", ", ".join(f"{c:.9e}f" for c in r))
    xs = np.linspace(1.2, 3.93, 100001)
    report("erf (large)", xs, 1 - np.exp(np.polyval(r[::-1], xs - 2.5)), np.array([math.erf(v) for v in xs]))


if __name__ == "__main__":
    main()
