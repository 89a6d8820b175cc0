"""Summary statistics for benchmark tables: mean +- std and Welch's t-test, without scipy.

Welch's test compares two means without assuming equal variances:
``t = (m1 - m2) / sqrt(v1/n1 + v2/n2)`` with the Welch-Satterthwaite degrees of freedom
``df = (v1/n1 + v2/n2)^2 / ((v1/n1)^2/(n1-1) + (v2/n2)^2/(n2-1))``. The two-sided p-value is
``P(|T_df| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2)``, where ``I`` is the regularized incomplete beta
function, evaluated here with the continued fraction of Numerical Recipes (Press et al., 6.4).

Example:
>>> result = welch_t_test([0.81, 0.83, 0.82], [0.78, 0.80, 0.79])
>>> round(result.t, 4), round(result.df, 1), round(result.p_value, 4)
(3.6742, 4.0, 0.0213)
"""

import dataclasses
import math


def mean_std(values):
    """(mean, sample standard deviation with ddof=1; 0.0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value.")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def _beta_continued_fraction(a, b, x, max_iterations=300, epsilon=3e-16):
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iterations + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))  # even step
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))  # odd step
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < epsilon:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}.")


def regularized_incomplete_beta(a, b, x):
    """I_x(a, b) = B(x; a, b) / B(a, b) for a, b > 0 and 0 <= x <= 1.

    Example:
    >>> round(regularized_incomplete_beta(2.0, 3.0, 0.4), 6)   # 1 - (0.6^4 + 4 * 0.4 * 0.6^3)
    0.5248
    """
    if a <= 0 or b <= 0:
        raise ValueError(f"a and b must be positive, got a={a}, b={b}.")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}.")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def student_t_two_sided_p(t, df):
    """P(|T| >= |t|) for Student's t with `df` (real, > 0) degrees of freedom."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


@dataclasses.dataclass(frozen=True)
class WelchResult:
    """Welch's t statistic, Welch-Satterthwaite degrees of freedom, two-sided p-value."""

    t: float
    df: float
    p_value: float


def welch_t_test(first, second):
    """Welch's unequal-variances t-test of mean(first) != mean(second).

    Args:
        first, second: sequences of at least two numbers each.

    Returns:
        `WelchResult(t, df, p_value)`. Two samples without any spread give t = +-inf and p = 0 when
        their means differ, and t = 0, p = 1 when they are equal.
    """
    n1, n2 = len(first), len(second)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"Welch's t-test needs at least two values per sample, got {n1} and {n2}.")
    m1, s1 = mean_std(first)
    m2, s2 = mean_std(second)
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    if v1 + v2 == 0.0:
        if m1 == m2:
            return WelchResult(0.0, float(n1 + n2 - 2), 1.0)
        return WelchResult(math.copysign(math.inf, m1 - m2), float(n1 + n2 - 2), 0.0)
    t = (m1 - m2) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    return WelchResult(t, df, student_t_two_sided_p(t, df))
