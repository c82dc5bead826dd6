// The training-step kernels (gpu/src/main/cuda/train.cu) on the CPU simulator against float64
// formulas, in fp32 and bf16 storage; the deterministic reductions are also run twice under
// different schedules and must agree bit for bit. Built and run by scripts/cuda-sim-test.sh.
#include "cuda_sim.h"
#include "sim_check.h"

#include "../../main/cuda/gsa_gates.cu"
#include "../../main/cuda/train.cu"

#include <string>

using sim::DeviceArray;

static void same(const std::string& name, const std::vector<double>& a, const std::vector<double>& b) {
    bool eq = a.size() == b.size();
    for (size_t i = 0; eq && i < a.size(); i++) eq = std::memcmp(&a[i], &b[i], sizeof(double)) == 0;
    if (!eq) failures++;
    std::printf("%s %-44s\n", eq ? "ok  " : "FAIL", (name + " (bit-identical rerun)").c_str());
}

template <typename T> static T store(double v);
template <> float store<float>(double v) { return (float)v; }
template <> bf16 store<bf16>(double v) { return __float2bfloat16_rn((float)v); }
static double load(float v) { return v; }
static double load(bf16 v) { return __bfloat162float(v); }

static std::mt19937 rng(5);
static std::normal_distribution<double> nd(0, 1);

template <typename T>
static void embedding(const char* type, double tol) {
    const int n = 300, dim = 72, vocab = 50;
    std::vector<int> ids(n);
    for (int i = 0; i < n; i++) ids[i] = (int)(rng() % 17) * 3;  // repeats, and ids that never occur
    // The host side: positions sorted by id (stable), the start of each id's run, the distinct ids.
    std::vector<int> order(n);
    for (int i = 0; i < n; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return ids[a] < ids[b]; });
    std::vector<int> starts, uniq;
    for (int j = 0; j < n; j++) {
        if (j == 0 || ids[order[j]] != ids[order[j - 1]]) {
            starts.push_back(j);
            uniq.push_back(ids[order[j]]);
        }
    }
    starts.push_back(n);
    const int nu = (int)uniq.size();
    DeviceArray<int> dorder(n), dstarts(nu + 1), duniq(nu);
    for (int i = 0; i < n; i++) dorder[i] = order[i];
    for (int i = 0; i <= nu; i++) dstarts[i] = starts[i];
    for (int i = 0; i < nu; i++) duniq[i] = uniq[i];
    DeviceArray<T> dout(n * dim);
    DeviceArray<float> table(vocab * dim);
    std::vector<double> ref(vocab * dim);
    for (int i = 0; i < vocab * dim; i++) table[i] = 0.25f, ref[i] = 0.25;
    for (int i = 0; i < n * dim; i++) dout[i] = store<T>(nd(rng));
    for (int t = 0; t < n; t++)
        for (int i = 0; i < dim; i++) ref[ids[t] * dim + i] += load(dout[t * dim + i]);
    sim::launch({(unsigned)nu, 1, 1}, {64, 1, 1}, 0, [&] {
        if constexpr (std::is_same_v<T, float>) embedding_bwd_sorted_f32(table.ptr(), dorder.ptr(), dstarts.ptr(), duniq.ptr(), dout.ptr(), nu, dim);
        else embedding_bwd_sorted_bf16(table.ptr(), dorder.ptr(), dstarts.ptr(), duniq.ptr(), dout.ptr(), nu, dim);
    });
    table.check("embedding table");
    std::vector<double> got(vocab * dim);
    for (int i = 0; i < vocab * dim; i++) got[i] = table[i];
    check(std::string("embedding_bwd_sorted ") + type, got, ref, tol);
}

// RMSNorm (silu = false) or the output gate (silu = true), backward: dx accumulated onto a start
// value, dw through the per-block partials and colsum_add_f32.
template <typename T>
static void normBackward(const char* type, bool silu, double tol) {
    const int rows = 45, dim = 96, blocks = 4, threads = 128, warps = threads / 32;
    DeviceArray<T> x(rows * dim), w(dim), dy(rows * dim), dx(rows * dim);
    DeviceArray<float> rstd(rows), partials(blocks * dim), dw(dim);
    std::vector<double> rdx(rows * dim), rdw(dim);
    for (int i = 0; i < rows * dim; i++) {
        x[i] = store<T>(nd(rng) * 2);
        dy[i] = store<T>(nd(rng));
        dx[i] = store<T>(nd(rng));
    }
    for (int i = 0; i < dim; i++) w[i] = store<T>(1 + 0.3 * nd(rng)), dw[i] = 0.5f, rdw[i] = 0.5;
    for (int r = 0; r < rows; r++) {
        std::vector<double> in(dim);
        double ss = 0;
        for (int i = 0; i < dim; i++) {
            const double v = load(x[r * dim + i]);
            in[i] = silu ? v / (1 + std::exp(-v)) : v;
            ss += in[i] * in[i];
        }
        const double rs = 1 / std::sqrt(ss / dim + 1e-5);
        rstd[r] = (float)rs;
        double dot = 0;
        for (int i = 0; i < dim; i++) {
            dot += load(dy[r * dim + i]) * load(w[i]) * in[i] * rs;
            rdw[i] += load(dy[r * dim + i]) * in[i] * rs;
        }
        dot /= dim;
        for (int i = 0; i < dim; i++) {
            const double v = load(x[r * dim + i]), sg = 1 / (1 + std::exp(-v));
            double d = rs * (load(dy[r * dim + i]) * load(w[i]) - in[i] * rs * dot);
            if (silu) d *= sg * (1 + v * (1 - sg));
            rdx[r * dim + i] = d + load(dx[r * dim + i]);
        }
    }
    std::vector<double> runs[2];
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < dim; i++) dw[i] = 0.5f;
        DeviceArray<T> dxr(rows * dim);
        for (int i = 0; i < rows * dim; i++) dxr[i] = dx[i];
        sim::rng.seed(100 + run);  // another schedule
        sim::launch({blocks, 1, 1}, {threads, 1, 1}, warps * dim * 4, [&] {
            if constexpr (std::is_same_v<T, float>) {
                if (silu) gsa_ogate_bwd_det_f32(dxr.ptr(), partials.ptr(), dy.ptr(), x.ptr(), w.ptr(), rstd.ptr(), rows, dim, 1);
                else rmsnorm_bwd_det_f32(dxr.ptr(), partials.ptr(), dy.ptr(), x.ptr(), w.ptr(), rstd.ptr(), rows, dim, 1);
            } else {
                if (silu) gsa_ogate_bwd_det_bf16(dxr.ptr(), partials.ptr(), dy.ptr(), x.ptr(), w.ptr(), rstd.ptr(), rows, dim, 1);
                else rmsnorm_bwd_det_bf16(dxr.ptr(), partials.ptr(), dy.ptr(), x.ptr(), w.ptr(), rstd.ptr(), rows, dim, 1);
            }
        });
        sim::launch({2, 1, 1}, {32, 1, 1}, 0, [&] { colsum_add_f32(dw.ptr(), partials.ptr(), blocks, dim); });
        dxr.check("dx");
        partials.check("partials");
        std::vector<double> gx(rows * dim), gw(dim);
        for (int i = 0; i < rows * dim; i++) gx[i] = load(dxr[i]);
        for (int i = 0; i < dim; i++) gw[i] = dw[i];
        const std::string name = std::string(silu ? "gsa_ogate_bwd_det " : "rmsnorm_bwd_det ") + type;
        if (run == 0) {
            check(name + " dx (accumulate)", gx, rdx, tol);
            check(name + " dw", gw, rdw, 1e-6);
        }
        runs[run] = gw;
        runs[run].insert(runs[run].end(), gx.begin(), gx.end());
    }
    same(std::string(silu ? "gsa_ogate_bwd_det " : "rmsnorm_bwd_det ") + type, runs[0], runs[1]);
}

template <typename T>
static void mseAddArgmax(const char* type, double tol) {
    const int rows = 19, dim = 130;
    DeviceArray<T> y(rows * dim), a(rows * dim), dy(rows * dim), sum(rows * dim);
    DeviceArray<float> loss(rows);
    std::vector<double> rl(rows), rdy(rows * dim), rsum(rows * dim);
    const double scale = 0.37;
    for (int i = 0; i < rows * dim; i++) y[i] = store<T>(nd(rng)), a[i] = store<T>(nd(rng));
    for (int r = 0; r < rows; r++) {
        double e = 0;
        for (int i = 0; i < dim; i++) {
            const double diff = (double)((float)load(y[r * dim + i]) - (float)load(a[r * dim + i]));
            e += diff * diff;
            rdy[r * dim + i] = scale * diff;
            rsum[r * dim + i] = load(y[r * dim + i]) + load(a[r * dim + i]);
        }
        rl[r] = e / dim;
    }
    sim::launch({3, 1, 1}, {256, 1, 1}, 0, [&] {
        if constexpr (std::is_same_v<T, float>) mse_rows_f32(loss.ptr(), dy.ptr(), y.ptr(), a.ptr(), rows, dim, (float)scale);
        else mse_rows_bf16(loss.ptr(), dy.ptr(), y.ptr(), a.ptr(), rows, dim, (float)scale);
    });
    sim::launch({3, 1, 1}, {64, 1, 1}, 0, [&] {
        if constexpr (std::is_same_v<T, float>) add_f32(sum.ptr(), y.ptr(), a.ptr(), (long long)rows * dim);
        else add_bf16(sum.ptr(), y.ptr(), a.ptr(), (long long)rows * dim);
    });
    std::vector<double> gl(rows), gdy(rows * dim), gsum(rows * dim);
    for (int r = 0; r < rows; r++) gl[r] = loss[r];
    for (int i = 0; i < rows * dim; i++) gdy[i] = load(dy[i]), gsum[i] = load(sum[i]);
    check(std::string("mse_rows loss ") + type, gl, rl, 1e-6);
    check(std::string("mse_rows dy ") + type, gdy, rdy, tol);
    check(std::string("add ") + type, gsum, rsum, tol);

    // Argmax: ties resolved to the first index; student rows equal to the teacher's on even rows.
    const int V = 1000;
    DeviceArray<T> zs(rows * V), zt(rows * V);
    DeviceArray<float> agree(rows);
    std::vector<double> ragree(rows);
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < V; i++) zt[r * V + i] = store<T>(std::floor(nd(rng) * 4));  // many ties
        for (int i = 0; i < V; i++) zs[r * V + i] = r % 2 == 0 ? zt[r * V + i] : store<T>(std::floor(nd(rng) * 4));
        int bs = 0, bt = 0;
        for (int i = 1; i < V; i++) {
            if (load(zs[r * V + i]) > load(zs[r * V + bs])) bs = i;
            if (load(zt[r * V + i]) > load(zt[r * V + bt])) bt = i;
        }
        ragree[r] = bs == bt ? 1 : 0;
    }
    sim::launch({(unsigned)rows, 1, 1}, {128, 1, 1}, 0, [&] {
        if constexpr (std::is_same_v<T, float>) argmax_agree_f32(agree.ptr(), zs.ptr(), zt.ptr(), rows, V);
        else argmax_agree_bf16(agree.ptr(), zs.ptr(), zt.ptr(), rows, V);
    });
    std::vector<double> ga(rows);
    for (int r = 0; r < rows; r++) ga[r] = agree[r];
    check(std::string("argmax_agree ") + type, ga, ragree, 0);
}

static void sums() {
    const int n = 5000, blocks = 3;
    DeviceArray<float> x(n);
    DeviceArray<double> partials(2 * blocks), out(2);
    double rs = 0, rq = 0;
    for (int i = 0; i < n; i++) {
        x[i] = (float)nd(rng);
        rs += x[i];
        rq += (double)x[i] * x[i];
    }
    sim::launch({blocks, 1, 1}, {128, 1, 1}, 0, [&] { sum_partials_f64(partials.ptr(), x.ptr(), n, 0); });
    sim::launch({blocks, 1, 1}, {128, 1, 1}, 0, [&] { sum_partials_f64(partials.ptr() + blocks, x.ptr(), n, 1); });
    sim::launch({1, 1, 1}, {64, 1, 1}, 0, [&] { sum_finalize_f64(out.ptr(), partials.ptr(), blocks); });
    sim::launch({1, 1, 1}, {64, 1, 1}, 0, [&] { sum_finalize_f64(out.ptr() + 1, partials.ptr() + blocks, blocks); });
    check("sum_partials_f64 + sum_finalize_f64 (sum)", {out[0]}, {rs}, 1e-14);
    check("sum_partials_f64 + sum_finalize_f64 (squares)", {out[1]}, {rq}, 1e-14);
}

int main(int argc, char** argv) {
    sim::rng.seed(argc > 1 ? std::atoi(argv[1]) : 1);
    embedding<float>("f32", 1e-6);
    embedding<bf16>("bf16", 1e-6);
    normBackward<float>("f32", false, 1e-6);
    normBackward<float>("f32", true, 1e-6);
    normBackward<bf16>("bf16", false, 1e-2);
    normBackward<bf16>("bf16", true, 1e-2);
    mseAddArgmax<float>("f32", 1e-6);
    mseAddArgmax<bf16>("bf16", 1e-2);
    sums();
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
