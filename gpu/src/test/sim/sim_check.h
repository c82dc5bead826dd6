// The simulator tests' comparison: relative L2 error of a kernel's output against a float64 reference, one line
// printed per check, failures counted.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

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
    std::printf("%s %-44s %.3e (tol %.0e)\n", err <= tol ? "ok  " : "FAIL", name.c_str(), err, tol);
}
