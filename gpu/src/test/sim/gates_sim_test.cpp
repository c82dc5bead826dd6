// The GSA gate kernels (gpu/src/main/cuda/gsa_gates.cu) on the CPU simulator against float64
// formulas (the output gate's backward, gsa_ogate_bwd_det, is train_sim_test's). Built and run by
// scripts/cuda-sim-test.sh.
#include "cuda_sim.h"
#include "sim_check.h"

#include "../../main/cuda/gsa_gates.cu"

#include <string>

using sim::DeviceArray;

int main(int argc, char** argv) {
    sim::rng.seed(argc > 1 ? std::atoi(argv[1]) : 1);
    std::mt19937 rng(5);
    std::normal_distribution<double> nd(0, 1);
    const int n = 1000;
    const double tau = 8;
    DeviceArray<float> f(n), g(n), s(n), dg(n), ds(n), df(n);
    std::vector<double> rg(n), rs(n), rdf(n);
    for (int i = 0; i < n; i++) {
        f[i] = (float)(nd(rng) * (i % 10 == 0 ? 30 : 3));
        dg[i] = (float)nd(rng);
        ds[i] = (float)nd(rng);
        const double fv = f[i], ls = std::min(fv, 0.0) - std::log1p(std::exp(-std::fabs(fv)));
        rg[i] = ls / tau;
        rs[i] = 1 - std::exp(rg[i]);
        rdf[i] = (dg[i] - ds[i] * std::exp(rg[i])) / (1 + std::exp(fv)) / tau;
    }
    sim::launch({2, 1, 1}, {64, 1, 1}, 0, [&] { gsa_gate_fwd_f32(g.ptr(), s.ptr(), f.ptr(), n, (float)(1 / tau)); });
    sim::launch({2, 1, 1}, {64, 1, 1}, 0, [&] { gsa_gate_bwd_f32(df.ptr(), dg.ptr(), ds.ptr(), f.ptr(), n, (float)(1 / tau), 0); });
    std::vector<double> a(n), b(n), c(n);
    for (int i = 0; i < n; i++) a[i] = g[i], b[i] = s[i], c[i] = df[i];
    check("gate g", a, rg, 1e-6);
    check("gate s", b, rs, 1e-6);
    check("gate df", c, rdf, 1e-6);

    const int rows = 37, dim = 200;
    const double eps = 1e-5;
    DeviceArray<float> o(rows * dim), w(dim), y(rows * dim), rstd(rows);
    std::vector<double> ry(rows * dim), rr(rows);
    for (int i = 0; i < rows * dim; i++) o[i] = (float)(nd(rng) * 2);
    for (int i = 0; i < dim; i++) w[i] = (float)(1 + 0.3 * nd(rng));
    for (int r = 0; r < rows; r++) {
        std::vector<double> act(dim);
        double ss = 0;
        for (int i = 0; i < dim; i++) {
            const double x = o[r * dim + i];
            act[i] = x / (1 + std::exp(-x));
            ss += act[i] * act[i];
        }
        rr[r] = 1 / std::sqrt(ss / dim + eps);
        for (int i = 0; i < dim; i++) ry[r * dim + i] = act[i] * rr[r] * w[i];
    }
    sim::launch({5, 1, 1}, {256, 1, 1}, 0, [&] { gsa_ogate_fwd_f32(y.ptr(), rstd.ptr(), o.ptr(), w.ptr(), rows, dim, (float)eps); });
    std::vector<double> yy(rows * dim), gr(rows);
    for (int i = 0; i < rows * dim; i++) yy[i] = y[i];
    for (int r = 0; r < rows; r++) gr[r] = rstd[r];
    check("ogate y", yy, ry, 1e-6);
    check("ogate rstd", gr, rr, 1e-6);
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
