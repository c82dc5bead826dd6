// The GSA gate kernels (gpu/src/main/cuda/gsa_gates.cu) on the CPU simulator against float64
// formulas. Built and run by scripts/cuda-sim-test.sh.
#include "cuda_sim.h"

#include "../../main/cuda/gsa_gates.cu"

#include <string>

using sim::DeviceArray;
static int failures = 0;

static void check(const std::string& name, const std::vector<double>& got, const std::vector<double>& ref, double tol) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); i++) {
        if (!std::isfinite(got[i])) { std::printf("FAIL %s non-finite at %zu\n", name.c_str(), i); failures++; return; }
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    const double err = den == 0 ? std::sqrt(num) : std::sqrt(num / den);
    if (err > tol) failures++;
    std::printf("%s %-36s %.3e (tol %.0e)\n", err <= tol ? "ok  " : "FAIL", name.c_str(), err, tol);
}

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
    DeviceArray<float> o(rows * dim), w(dim), y(rows * dim), rstd(rows), dy(rows * dim), dout(rows * dim), dw(dim);
    std::vector<double> ry(rows * dim), rdo(rows * dim), rdw(dim, 0);
    for (int i = 0; i < rows * dim; i++) o[i] = (float)(nd(rng) * 2), dy[i] = (float)nd(rng);
    for (int i = 0; i < dim; i++) w[i] = (float)(1 + 0.3 * nd(rng)), dw[i] = 0.5f, rdw[i] = 0.5;
    for (int r = 0; r < rows; r++) {
        std::vector<double> act(dim);
        double ss = 0;
        for (int i = 0; i < dim; i++) {
            const double x = o[r * dim + i];
            act[i] = x / (1 + std::exp(-x));
            ss += act[i] * act[i];
        }
        const double rs_ = 1 / std::sqrt(ss / dim + eps);
        double dot = 0;
        for (int i = 0; i < dim; i++) {
            ry[r * dim + i] = act[i] * rs_ * w[i];
            dot += dy[r * dim + i] * w[i] * act[i] * rs_;
            rdw[i] += dy[r * dim + i] * act[i] * rs_;
        }
        dot /= dim;
        for (int i = 0; i < dim; i++) {
            const double x = o[r * dim + i], sg = 1 / (1 + std::exp(-x));
            const double da = rs_ * (dy[r * dim + i] * w[i] - act[i] * rs_ * dot);
            rdo[r * dim + i] = da * sg * (1 + x * (1 - sg));
        }
    }
    sim::launch({5, 1, 1}, {256, 1, 1}, 0, [&] { gsa_ogate_fwd_f32(y.ptr(), rstd.ptr(), o.ptr(), w.ptr(), rows, dim, (float)eps); });
    sim::launch({3, 1, 1}, {256, 1, 1}, dim * 4, [&] {
        gsa_ogate_bwd_f32(dout.ptr(), dw.ptr(), dy.ptr(), o.ptr(), w.ptr(), rstd.ptr(), rows, dim, 0);
    });
    std::vector<double> yy(rows * dim), dd(rows * dim), ww(dim);
    for (int i = 0; i < rows * dim; i++) yy[i] = y[i], dd[i] = dout[i];
    for (int i = 0; i < dim; i++) ww[i] = dw[i];
    check("ogate y", yy, ry, 1e-6);
    check("ogate do", dd, rdo, 1e-6);
    check("ogate dw (accumulated)", ww, rdw, 1e-6);
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
