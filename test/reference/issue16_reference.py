"""Reference values for the issue-16 detectors, computed from the formulas (numpy / scipy), not from Vigil's code.

Run:  python3 test/reference/issue16_reference.py
The printed numbers are pasted into test/unit/detectors/ratio-sequential.test.ts and gauge-sequential.test.ts.

ratio-sequential (combine: independent): per look j with exposures in both cohorts and events, x_j | m_j is
Binomial(m_j, theta_j(r)), theta_j(r) = rho_j r / (rho_j r + 1 - rho_j), rho_j = d_c / (d_c + d_b). The mixture
e-value M_t = sum_k w_k prod_j pmf(x_j; m_j, theta_j(r0 g_k)) / pmf(x_j; m_j, theta_j(r0)) on the grid
g_k = exp(ln 1.02 + (k-1)/(K-1) ln(20/1.02)), w_k ~ exp(-(ln g_k)^2 / (2 * 0.5^2)); p_t = min_s<=t 1/M_s.
Mantel-Haenszel estimate sum x (1 - rho) / sum (m - x) rho. worse: lower = the same test with the cohorts swapped
and r0 = 1/(1 - tolerance); the estimate is inverted.

gauge-sequential: T(r) = sum_j w_j (ybar_c - r ybar_b) / W, V(r) = sum over instances (clusters) of
(sum_j a_ij(r) e_ij)^2 x G/(G-1) per cohort, with a_ij the coefficient of y_ij in T(r) and e_ij the residual from
its cohort's look mean (a one-instance cohort: the other cohort's pooled within-look variance x (sum_j a_ij)^2),
floored per cohort by the variance of independent instance-looks s2_w sum_j (w_j/W)^2 / n_j;
log M = log of the equal-weight average over k = -2..2 of the one-sided normal mixtures (Howard et al. 2021) of
d = +-T(r0), s2 = V(r0), prior variance tau2 x 4^k (tau2 = Howard's tuning): logsumexp of the five minus log 5;
the bounds are the roots in r of that averaged log M (and of its mirror) at log(1/alpha)."""

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp
from scipy.stats import binom, norm

np.set_printoptions(precision=17)


def fmt(x):
    return repr(float(x))


# ----------------------------------------------------------------------------------------------------------------
# ratio-sequential
# (canary events, canary exposures, baseline events, baseline exposures) per look
RATIO_LOOKS = [
    (14, 1000, 20, 1000),
    (9, 500, 25, 1500),
    (30, 1200, 22, 800),
    (0, 300, 5, 300),
    (12, 0, 3, 100),
    (40, 1000, 70, 1000),
    (25, 10, 12, 10),
]


def grid(K=48, scale=0.5):
    lg = np.log(1.02) + np.arange(K) / (K - 1) * np.log(20 / 1.02)
    lw = -(lg ** 2) / (2 * scale ** 2)
    return lg, lw - logsumexp(lw)


def ratio_path(looks, r0, swap):
    lg, lw = grid()
    llr = np.zeros_like(lg)
    p = 1.0
    num = den = 0.0
    rows = []
    for xc, dc, xb, db in looks:
        if swap:
            xc, dc, xb, db = xb, db, xc, dc
        m = xc + xb
        if dc > 0 and db > 0 and m > 0:
            rho = dc / (dc + db)
            th = lambda r: rho * r / (rho * r + 1 - rho)
            for k, g in enumerate(np.exp(lg)):
                llr[k] += binom.logpmf(xc, m, th(r0 * g)) - binom.logpmf(xc, m, th(r0))
            num += xc * (1 - rho)
            den += (m - xc) * rho
        log_m = logsumexp(lw + llr)
        p = min(p, np.exp(-log_m), 1.0)
        est = num / den if den > 0 else float('nan')
        rows.append((log_m, p, est))
    return rows


print('# ratio-sequential, combine independent, worse lower, tolerance 0.05: swapped, r0 = 1/0.95;'
      ' look, logM, p, canary/baseline estimate (1 / swapped MH)')
for j, (lm, p, est) in enumerate(ratio_path(RATIO_LOOKS, 1 / 0.95, True), 1):
    print(j, fmt(lm), fmt(p), fmt(1 / est))
print('# ratio-sequential, combine independent, worse higher, tolerance 0 (r0 = 1): look, logM, p, MH estimate')
for j, (lm, p, est) in enumerate(ratio_path(RATIO_LOOKS, 1.0, False), 1):
    print(j, fmt(lm), fmt(p), fmt(est))
print('# ratio-sequential, combine independent, worse higher, tolerance 0.1, the cohorts EXCHANGED (canary gets the'
      ' baseline columns): look, logM, p, MH estimate')
for j, (lm, p, est) in enumerate(ratio_path(RATIO_LOOKS, 1.1, True), 1):
    print(j, fmt(lm), fmt(p), fmt(est))

# ----------------------------------------------------------------------------------------------------------------
# gauge-sequential
# per look: canary and baseline instances, each a list of (series sum, series count) cells
GAUGE_LOOKS = [
    ({'c1': [(300, 3), (50, 1)], 'c2': [(110, 1)]}, {'b1': [(100, 1)], 'b2': [(190, 2)], 'b3': [(105, 1)]}),
    ({'c1': [(240, 2), (40, 1)], 'c2': [(250, 2)], 'c3': [(140, 1)]}, {'b1': [(98, 1)], 'b2': [(99, 1)]}),
    ({'c1': [(160, 1)]}, {}),
    ({'c1': [(130, 1), (20, 1)], 'c2': [(124, 1)]}, {'b1': [(210, 2)], 'b2': [(92, 1)], 'b3': [(111, 1)], 'b4': [(300, 3)]}),
    ({'c2': [(118, 1)], 'c3': [(131, 1)]}, {'b1': [(102, 1)], 'b3': [(108, 1)]}),
    ({'c1': [(150, 1), (45, 3)], 'c2': [(126, 1)], 'c3': [(139, 1)]}, {'b1': [(101, 1)], 'b2': [(97, 1)], 'b4': [(103, 1)]}),
]


def levels(cohort):
    return {i: sum(s / c for s, c in cells) for i, cells in cohort.items()}


def tau2_howard(vplan, nopt, a):
    l = np.log(1 / a)
    return vplan * (2 * l + np.log(1 + 2 * l)) / nopt


def nm_one_sided(d, s2, tau2):
    return (np.log(2) + 0.5 * np.log(s2 / (s2 + tau2)) + tau2 * d * d / (2 * s2 * (s2 + tau2))
            + norm.logcdf(np.sqrt(tau2) * d / np.sqrt(s2 * (s2 + tau2))))


def nm_scales(d, s2, tau2):
    """The equal-weight average of the one-sided mixtures at tau2 x 4^k, k = -2..2, on the log scale."""
    return logsumexp([nm_one_sided(d, s2, tau2 * 4.0 ** k) for k in range(-2, 3)]) - np.log(5)


def gauge_stats(looks_so_far):
    """T(r), V(r) as closures and the estimate, from an explicit list of (look, instance, cohort, y)."""
    compared = []
    for c, b in looks_so_far:
        lc, lb = levels(c), levels(b)
        if lc and lb:
            compared.append((lc, lb))
    if not compared:
        return None
    w = np.array([len(lc) * len(lb) / (len(lc) + len(lb)) for lc, lb in compared])
    W = w.sum()
    ybc = np.array([np.mean(list(lc.values())) for lc, _ in compared])
    ybb = np.array([np.mean(list(lb.values())) for _, lb in compared])
    # per cluster: the vector over looks of (coefficient without r, residual), zero where absent
    def clusters(which):
        out = {}
        for j, pair in enumerate(compared):
            lv = pair[which]
            mean = np.mean(list(lv.values()))
            for i, y in lv.items():
                coef = w[j] / (W * len(lv))
                out.setdefault(i, []).append((coef, y - mean))
        return out
    cc, cb = clusters(0), clusters(1)
    def within(cl_looks):
        ss = sum((y - np.mean(list(lv.values()))) ** 2 for lv in cl_looks for y in lv.values())
        df = sum(len(lv) - 1 for lv in cl_looks)
        return ss, df
    ssc, dfc = within([lc for lc, _ in compared])
    ssb, dfb = within([lb for _, lb in compared])
    def part(cl, cohort_looks, own_ss, own_df, other_ss, other_df):
        G = len(cl)
        s2w = own_ss / own_df if own_df > 0 else (other_ss / other_df if other_df > 0 else None)
        if s2w is None:
            return None
        # floor: independent instance-looks, Var(sum_j w_j/W ybar_j) = s2w sum_j (w_j/W)^2 / n_j
        iid = s2w * sum((w[j] / W) ** 2 / len(lv) for j, lv in enumerate(cohort_looks))
        if G >= 2:
            return max(sum(sum(a * e for a, e in v) ** 2 for v in cl.values()) * G / (G - 1), iid)
        if G == 1 and other_df > 0:
            return max(other_ss / other_df * sum(sum(a for a, _ in v) ** 2 for v in cl.values()), iid)
        return None
    Vc = part(cc, [lc for lc, _ in compared], ssc, dfc, ssb, dfb)
    Vb = part(cb, [lb for _, lb in compared], ssb, dfb, ssc, dfc)
    if Vc is None or Vb is None:
        return None
    T = lambda r: float(np.sum(w * (ybc - r * ybb)) / W)
    V = lambda r: Vc + r * r * Vb
    est = np.sum(w * ybc) / np.sum(w * ybb)
    return T, V, est, (ssc + ssb) / (dfc + dfb)


def gauge_path(looks, r0, sign, vplan, nopt, alpha=0.05):
    tau2 = tau2_howard(vplan, nopt, 2 * alpha)
    p = 1.0
    rows = []
    bar = np.log(1 / alpha)
    for t in range(1, len(looks) + 1):
        st = gauge_stats(looks[:t])
        if st is None:
            rows.append(None)
            continue
        T, V, est, _ = st
        lm = nm_scales(sign * T(r0), V(r0), tau2)
        p = min(p, np.exp(-lm), 1.0)
        worse = lambda r: nm_scales(T(r), V(r), tau2) - bar
        better = lambda r: nm_scales(-T(r), V(r), tau2) - bar
        lower = brentq(worse, 0, est, xtol=1e-14) if worse(0) >= 0 else None
        upper = None
        lo = est
        for k in range(1, 31):
            hi = est * 2 ** k
            if better(hi) >= 0:
                upper = brentq(better, lo, hi, xtol=1e-14)
                break
            lo = hi
        rows.append((T(r0), V(r0), lm, p, est, lower, upper))
    return rows


def show(title, rows):
    print(title)
    for j, row in enumerate(rows, 1):
        print(j, 'none' if row is None else ' '.join('none' if x is None else fmt(x) for x in row))


show('# gauge-sequential, worse higher, tolerance 0.05, planningVariance 200, nOpt 10:'
     ' look, T(r0), V(r0), logM, p, estimate, lower, upper', gauge_path(GAUGE_LOOKS, 1.05, 1, 200, 10))
show('# gauge-sequential, worse lower, tolerance 0.1, planningVariance 200, nOpt 10 (same looks):'
     ' look, T(r0), V(r0), logM, p, estimate, lower, upper', gauge_path(GAUGE_LOOKS, 0.9, -1, 200, 10))
ONE_CANARY = [({'c1': c.get('c1', [(120, 1)])}, b) for c, b in GAUGE_LOOKS]
show('# gauge-sequential, one canary instance (c1 only; 120 where c1 is absent), worse higher, tolerance 0,'
     ' planningVariance 200, nOpt 10: look, T(1), V(1), logM, p, estimate, lower, upper',
     gauge_path(ONE_CANARY, 1.0, 1, 200, 10))
st = gauge_stats(GAUGE_LOOKS)
print('# gauge-sequential planning variance from the data after all looks: 2 x pooled within-look variance', fmt(2 * st[3]))
