// The attention kernels (gpu/src/main/cuda/attention.cu) on the CPU simulator against a float64
// reference: forward, log-sum-exp, backward, decode from a ring-buffer cache; the forward of queries
// after earlier positions against the forward over them all. Built and run by
// scripts/cuda-sim-test.sh; exit status 0 when every check passes.
#include "cuda_sim.h"

#include "../../main/cuda/attention.cu"

#include <string>

using sim::DeviceArray;

static int failures = 0;

template <typename T> static T to_storage(float x);
template <> float to_storage<float>(float x) { return x; }
template <> bf16 to_storage<bf16>(float x) { return __float2bfloat16_rn(x); }
static float from_storage(float x) { return x; }
static float from_storage(bf16 x) { return __bfloat162float(x); }

static void check(const std::string& name, const std::vector<double>& got, const std::vector<double>& ref, double tol) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); i++) {
        if (!std::isfinite(got[i])) {
            std::printf("FAIL %-48s non-finite value at %zu\n", name.c_str(), i);
            failures++;
            return;
        }
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    const double err = den == 0 ? std::sqrt(num) : std::sqrt(num / den);
    if (err > tol) failures++;
    std::printf("%s %-48s %.3e (tol %.0e)\n", err <= tol ? "ok  " : "FAIL", name.c_str(), err, tol);
}

template <typename T>
static std::vector<double> stored(std::vector<double> x) {
    for (auto& e : x) e = from_storage(to_storage<T>((float)e));
    return x;
}

template <typename T>
struct Dev {
    DeviceArray<T> a;
    explicit Dev(const std::vector<double>& src) : a(src.size()) {
        for (size_t i = 0; i < src.size(); i++) a[i] = to_storage<T>((float)src[i]);
    }
    explicit Dev(size_t n) : a(n) {
        for (size_t i = 0; i < n; i++) a[i] = to_storage<T>(NAN);
    }
    std::vector<double> read() {
        std::vector<double> r(a.n);
        for (size_t i = 0; i < a.n; i++) r[i] = from_storage(a[i]);
        return r;
    }
};

template <typename T, int D>
static void run_case(int B, int T_, int H, int Hkv, int window, std::mt19937& rng) {
    const bool bf = sizeof(T) == 2;
    const double tol = bf ? 2e-2 : 1e-5;
    const int G = H / Hkv, nb = (T_ + 63) / 64;
    char tag[128];
    std::snprintf(tag, sizeof tag, "%s B%d T%d H%d/%d D%d W%d", bf ? "bf16" : "f32 ", B, T_, H, Hkv, D, window);
    std::printf("-- %s\n", tag);
    std::normal_distribution<double> nd(0, 1);
    auto randn = [&](size_t n, double sd) {
        std::vector<double> x(n);
        for (auto& e : x) e = nd(rng) * sd;
        return stored<T>(x);
    };
    const double scale = 1.0 / std::sqrt((double)D);
    auto q = randn((size_t)B * T_ * H * D, 1.5), k = randn((size_t)B * T_ * Hkv * D, 1.5), v = randn((size_t)B * T_ * Hkv * D, 1);
    auto dO = randn((size_t)B * T_ * H * D, 1);
    // Reference.
    std::vector<double> o(q.size()), lse((size_t)B * T_ * H), dq(q.size(), 0), dk(k.size(), 0), dv(v.size(), 0);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int kv = h / G;
            for (int i = 0; i < T_; i++) {
                const int lo = window > 0 ? std::max(0, i - window + 1) : 0;
                const size_t qo = ((size_t)(b * T_ + i) * H + h) * D;
                std::vector<double> s(i + 1, -INFINITY);
                double mx = -INFINITY;
                for (int j = lo; j <= i; j++) {
                    const size_t ko = ((size_t)(b * T_ + j) * Hkv + kv) * D;
                    double acc = 0;
                    for (int d = 0; d < D; d++) acc += q[qo + d] * k[ko + d];
                    s[j] = acc * scale;
                    mx = std::max(mx, s[j]);
                }
                double sum = 0;
                for (int j = lo; j <= i; j++) sum += std::exp(s[j] - mx);
                lse[(size_t)(b * T_ + i) * H + h] = mx + std::log(sum);
                std::vector<double> p(i + 1, 0), dp(i + 1, 0);
                for (int j = lo; j <= i; j++) p[j] = std::exp(s[j] - mx) / sum;
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int j = lo; j <= i; j++) acc += p[j] * v[((size_t)(b * T_ + j) * Hkv + kv) * D + d];
                    o[qo + d] = acc;
                }
                double dot = 0;
                for (int j = lo; j <= i; j++) {
                    const size_t vo = ((size_t)(b * T_ + j) * Hkv + kv) * D;
                    for (int d = 0; d < D; d++) dp[j] += dO[qo + d] * v[vo + d];
                    dot += p[j] * dp[j];
                }
                for (int j = lo; j <= i; j++) {
                    const size_t ko = ((size_t)(b * T_ + j) * Hkv + kv) * D;
                    const double ds = p[j] * (dp[j] - dot) * scale;
                    for (int d = 0; d < D; d++) {
                        dq[qo + d] += ds * k[ko + d];
                        dk[ko + d] += ds * q[qo + d];
                        dv[ko + d] += p[j] * dO[qo + d];
                    }
                }
            }
        }
    Dev<T> dQ(q), dK(k), dV(v), ddO(dO), dOut(q.size()), gq(q.size()), gk(k.size()), gv(v.size());
    DeviceArray<float> dlse(lse.size()), delta(lse.size());
    for (size_t i = 0; i < lse.size(); i++) dlse[i] = NAN;
    const size_t LD = D + 16 / sizeof(T);
    // As Attention.java sizes them: bf16 double-buffers the streamed pair of tiles (cp.async).
    const size_t tile = 64 * LD * sizeof(T), bufs = bf ? 2 : 1;
    const size_t smemF = (1 + 2 * bufs) * tile, smemQ = (2 + 2 * bufs) * tile, smemK = (2 + 2 * bufs) * tile + 2 * 64 * 4;
    sim::launch({(unsigned)nb, (unsigned)H, (unsigned)B}, {128, 1, 1}, smemF, [&] {
        attn::attn_fwd<T, D>(dOut.a.ptr(), dlse.ptr(), dQ.a.ptr(), dK.a.ptr(), dV.a.ptr(), T_, 0, H, Hkv, window, (float)scale);
    });
    dOut.a.check("o");
    check(std::string(tag) + " o", dOut.read(), o, tol);
    std::vector<double> lg(lse.size());
    for (size_t i = 0; i < lse.size(); i++) lg[i] = dlse[i];
    check(std::string(tag) + " lse", lg, lse, bf ? 1e-3 : 1e-6);

    // The queries after each block boundary, continuing the earlier positions (a prompt after a KV cache): the
    // rows of the pass over every position, bit for bit.
    const std::vector<double> whole = dOut.read();
    for (int past = 64; past < T_; past += 64) {
        const int Tq = T_ - past;
        std::vector<double> qt((size_t)B * Tq * H * D), ot(qt.size());
        for (int b = 0; b < B; b++)
            for (size_t x = 0; x < (size_t)Tq * H * D; x++) {
                qt[(size_t)b * Tq * H * D + x] = q[((size_t)b * T_ + past) * H * D + x];
                ot[(size_t)b * Tq * H * D + x] = whole[((size_t)b * T_ + past) * H * D + x];
            }
        Dev<T> dqt(qt), dot(qt.size());
        sim::launch({(unsigned)((Tq + 63) / 64), (unsigned)H, (unsigned)B}, {128, 1, 1}, smemF, [&] {
            attn::attn_fwd<T, D>(dot.a.ptr(), nullptr, dqt.a.ptr(), dK.a.ptr(), dV.a.ptr(), Tq, past, H, Hkv, window, (float)scale);
        });
        dot.a.check("o after past");
        if (dot.read() != ot) {
            std::printf("FAIL %s after %d: not the whole pass's rows bit for bit\n", tag, past);
            failures++;
        } else {
            std::printf("ok   %s after %d: the whole pass's rows bit for bit\n", tag, past);
        }
    }
    const long long rows = (long long)B * T_ * H;
    sim::launch({(unsigned)((rows + 3) / 4), 1, 1}, {128, 1, 1}, 0, [&] {
        attn::attn_bwd_delta<T>(delta.ptr(), ddO.a.ptr(), dOut.a.ptr(), rows, D);
    });
    sim::launch({(unsigned)nb, (unsigned)H, (unsigned)B}, {128, 1, 1}, smemQ, [&] {
        attn::attn_bwd_dq<T, D>(gq.a.ptr(), dQ.a.ptr(), dK.a.ptr(), dV.a.ptr(), ddO.a.ptr(), dlse.ptr(), delta.ptr(), T_, H, Hkv,
                                window, (float)scale);
    });
    sim::launch({(unsigned)nb, (unsigned)Hkv, (unsigned)B}, {128, 1, 1}, smemK, [&] {
        attn::attn_bwd_dkdv<T, D>(gk.a.ptr(), gv.a.ptr(), dQ.a.ptr(), dK.a.ptr(), dV.a.ptr(), ddO.a.ptr(), dlse.ptr(), delta.ptr(),
                                  T_, H, Hkv, window, (float)scale);
    });
    gq.a.check("dq");
    gk.a.check("dk");
    gv.a.check("dv");
    check(std::string(tag) + " dq", gq.read(), dq, tol);
    check(std::string(tag) + " dk", gk.read(), dk, tol);
    check(std::string(tag) + " dv", gv.read(), dv, tol);

    // Decode the last position from a ring-buffer cache that holds exactly what the window needs.
    const int pos = T_ - 1, cap = window > 0 ? std::min(window, T_) : T_;
    std::vector<double> kc((size_t)B * cap * Hkv * D, 1e30), vc(kc.size(), 1e30), qd((size_t)B * H * D), od((size_t)B * H * D);
    for (int b = 0; b < B; b++) {
        for (int j = std::max(0, pos - cap + 1); j <= pos; j++)
            for (int x = 0; x < Hkv * D; x++) {
                kc[((size_t)b * cap + j % cap) * Hkv * D + x] = k[((size_t)b * T_ + j) * Hkv * D + x];
                vc[((size_t)b * cap + j % cap) * Hkv * D + x] = v[((size_t)b * T_ + j) * Hkv * D + x];
            }
        for (int x = 0; x < H * D; x++) {
            qd[(size_t)b * H * D + x] = q[((size_t)b * T_ + pos) * H * D + x];
            od[(size_t)b * H * D + x] = o[((size_t)b * T_ + pos) * H * D + x];
        }
    }
    Dev<T> dkc(kc), dvc(vc), dqd(qd), dod(od.size());
    sim::launch({(unsigned)H, (unsigned)B, 1}, {128, 1, 1}, 0, [&] {
        attn::attn_decode<T, D>(dod.a.ptr(), dqd.a.ptr(), dkc.a.ptr(), dvc.a.ptr(), cap, pos, H, Hkv, window, (float)scale);
    });
    check(std::string(tag) + " decode", dod.read(), od, tol);
}

int main(int argc, char** argv) {
    const unsigned seed = argc > 1 ? (unsigned)std::atoi(argv[1]) : 1;
    sim::rng.seed(seed);
    std::mt19937 rng(seed * 104729u + 3);
    run_case<float, 64>(1, 65, 2, 2, 0, rng);
    run_case<bf16, 64>(2, 63, 3, 1, 0, rng);
    run_case<bf16, 128>(1, 200, 4, 1, 0, rng);
    run_case<float, 128>(1, 130, 4, 4, 17, rng);
    run_case<bf16, 64>(1, 200, 4, 2, 64, rng);
    run_case<bf16, 64>(1, 1, 2, 1, 0, rng);
    run_case<float, 64>(2, 150, 3, 1, 100, rng);
    // bf16 over several key/query blocks (the cp.async double buffers cycle, GQA heads switch in
    // dk/dv), with blocks wholly inside a window (no per-element mask) beside partial ones.
    run_case<bf16, 64>(1, 300, 4, 2, 0, rng);
    run_case<bf16, 64>(1, 300, 2, 1, 150, rng);
    // bf16 (the async copies) with several sequences: the queries after past positions at batch strides T and past + T.
    run_case<bf16, 64>(2, 130, 4, 2, 0, rng);
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
