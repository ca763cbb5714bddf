/*
 * check.h — the little harness the C++ checks under cuda/tests/ share: a CHECK macro that counts
 * failures and prints where they happened, and a chi-square goodness-of-fit of observed outcome
 * counts against exact probabilities.
 */
#ifndef MTP_TESTS_CHECK_H
#define MTP_TESTS_CHECK_H

#include <cmath>
#include <cstdio>
#include <vector>

static int failures = 0;
#define CHECK(cond, ...)                                     \
    do {                                                     \
        if (!(cond)) {                                       \
            std::printf("FAIL %s:%d ", __FILE__, __LINE__); \
            std::printf(__VA_ARGS__);                        \
            std::printf("\n");                               \
            failures++;                                      \
        }                                                    \
    } while (0)

struct Fit {
    double chi2 = 0.0, tv = 0.0, limit = 0.0;
    int dof = -1;
    int impossible = 0; /* outcomes observed although their exact probability is 0 */
};

/* count[i] observations of outcome i in `samples` draws, against exact probabilities exact[i]. */
inline Fit chi_square_fit(const std::vector<double>& exact, const std::vector<double>& count, int samples) {
    Fit f;
    for (size_t i = 0; i < exact.size(); i++) {
        f.tv += std::fabs(count[i] / samples - exact[i]) / 2;
        if (exact[i] == 0.0) {
            if (count[i] != 0) f.impossible++;
            continue;
        }
        const double e = exact[i] * samples;
        f.chi2 += (count[i] - e) * (count[i] - e) / e;
        f.dof++;
    }
    // ≈ 99.9th percentile of chi-square with dof degrees of freedom (dof + 3.09·sqrt(2·dof) + 3.1 bounds it for 5..40)
    f.limit = f.dof + 3.09 * std::sqrt(2.0 * f.dof) + 3.1;
    return f;
}

#endif
