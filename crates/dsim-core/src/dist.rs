//! Delay distributions for network links, sampled with our own code over raw `u64`
//! draws (see the module docs of [`crate::rng`]).
//!
//! Every sampler here is built only from [`crate::rng::unit_f64`],
//! [`crate::rng::unit_f64_nonzero`] and [`crate::rng::below`] (and raw `next_u64` words
//! for a full-width uniform range and the ziggurat), with `libm` for `ln`, `exp`, `sqrt`,
//! `pow` and `erfc`. We never call `f64::ln` and friends, whose last bits may differ across
//! platforms and Rust versions, nor `rand`'s distributions, whose values may change in a
//! minor release. A dependency upgrade therefore never changes a seeded run.
//!
//! Sampling is stateless: each sample uses fresh draws (the normal is a ziggurat whose
//! tables are computed once, with `libm`, and never change), so the value of a sample
//! depends only on the distribution and the stream position, never on earlier samples.
//!
//! Every sample is rounded to whole nanoseconds and clamped to [`MAX_DELAY_NS`], so that
//! adding a delay to a virtual time can never overflow.

use crate::error::ConfigError;
use crate::rng::{SimRng, below, unit_f64, unit_f64_nonzero};
use crate::time::SimDuration;
use rand_core::RngCore;
use std::sync::OnceLock;

/// The largest delay any sample returns: `u64::MAX / 4` ns, about 146 years of virtual
/// time. Heavy-tailed distributions (Pareto, log-normal) can draw astronomically large
/// values; clamping them here leaves three quarters of the `u64` range as headroom so
/// that `now + delay` cannot overflow in the engine. [`Delay::validate`] rejects
/// constant and uniform delays above this limit, so the clamp only ever touches the tail
/// of a continuous distribution (with negligible probability for realistic parameters).
pub const MAX_DELAY_NS: u64 = u64::MAX / 4;

/// A distribution of message delays. All parameters are in nanoseconds (as `f64` where
/// the distribution is continuous); sampled values are rounded to whole nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Delay {
    /// Always exactly `ns`.
    Constant {
        /// The delay.
        ns: u64,
    },
    /// Uniform over `[min_ns, max_ns]`, integers, both ends included.
    Uniform {
        /// Smallest delay.
        min_ns: u64,
        /// Largest delay.
        max_ns: u64,
    },
    /// Normal with the given mean and standard deviation, truncated at 0 by resampling.
    Normal {
        /// Mean before truncation; must be >= 0.
        mean_ns: f64,
        /// Standard deviation before truncation; must be >= 0.
        std_dev_ns: f64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean delay.
        mean_ns: f64,
    },
    /// Log-normal: `median_ns * exp(sigma * Z)` with `Z` standard normal.
    LogNormal {
        /// Median delay.
        median_ns: f64,
        /// Shape: standard deviation of the log.
        sigma: f64,
    },
    /// Pareto (type I): `scale_ns / U^(1/shape)`, heavy-tailed.
    Pareto {
        /// Minimum delay.
        scale_ns: f64,
        /// Tail index alpha; mean is finite for alpha > 1, variance for alpha > 2.
        shape: f64,
    },
}

impl Delay {
    /// Checks the parameters: finite, non-negative, in range.
    ///
    /// The rules, per variant:
    /// - `Constant`: `ns <= MAX_DELAY_NS`.
    /// - `Uniform`: `min_ns <= max_ns <= MAX_DELAY_NS`.
    /// - `Normal`: `mean_ns` and `std_dev_ns` finite and `>= 0` (a non-negative mean
    ///   keeps the truncation-by-resampling acceptance rate at 1/2 or more).
    /// - `Exponential`: `mean_ns` finite and `> 0`.
    /// - `LogNormal`: `median_ns` finite and `> 0`; `sigma` finite and `>= 0`.
    /// - `Pareto`: `scale_ns` finite and `> 0`; `shape` finite and `> 0`.
    ///
    /// Returns [`ConfigError::Parameter`] naming the first offending parameter, or
    /// [`ConfigError::Invalid`] when a uniform range is empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Delay::Constant { ns } => at_most_max("latency.constant", ns),
            Delay::Uniform { min_ns, max_ns } => {
                if min_ns > max_ns {
                    return Err(ConfigError::Invalid(format!(
                        "latency.uniform: min ({min_ns} ns) must not exceed max ({max_ns} ns)"
                    )));
                }
                at_most_max("latency.uniform.max", max_ns)
            }
            Delay::Normal {
                mean_ns,
                std_dev_ns,
            } => {
                non_negative("latency.normal.mean", mean_ns)?;
                non_negative("latency.normal.std_dev", std_dev_ns)
            }
            Delay::Exponential { mean_ns } => positive("latency.exponential.mean", mean_ns),
            Delay::LogNormal { median_ns, sigma } => {
                positive("latency.lognormal.median", median_ns)?;
                non_negative("latency.lognormal.sigma", sigma)
            }
            Delay::Pareto { scale_ns, shape } => {
                positive("latency.pareto.scale", scale_ns)?;
                positive("latency.pareto.shape", shape)
            }
        }
    }

    /// Draws one delay, rounded to whole nanoseconds and clamped to [`MAX_DELAY_NS`].
    ///
    /// Call [`Delay::validate`] first: sampling parameters that fail validation panics
    /// (a negative or NaN sample, an empty uniform range, a negative normal mean) rather
    /// than returning a meaningless delay.
    ///
    /// Draws per sample: none for `Constant`; one or more (rejection) for `Uniform`;
    /// one for `Normal` and `LogNormal` about 99% of the time (see [`standard_normal`];
    /// `Normal` resamples negative values); one for `Exponential` and `Pareto`.
    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        // The two common link models inline; the others are out of line.
        match *self {
            Delay::LogNormal { median_ns, sigma } => SimDuration(round_to_ns(
                median_ns * libm::exp(sigma * standard_normal(rng)),
            )),
            Delay::Constant { ns } => SimDuration(ns.min(MAX_DELAY_NS)),
            _ => self.sample_other(rng),
        }
    }

    /// [`Delay::sample`] for the variants it does not inline.
    #[inline(never)]
    fn sample_other(&self, rng: &mut SimRng) -> SimDuration {
        let ns = match *self {
            Delay::Constant { ns } => ns.min(MAX_DELAY_NS),
            Delay::Uniform { min_ns, max_ns } => {
                assert!(
                    min_ns <= max_ns,
                    "uniform delay with min {min_ns} > max {max_ns}: validate before sampling"
                );
                let span = max_ns - min_ns;
                let offset = if span == u64::MAX {
                    // The full u64 range: `span + 1` would overflow, and every raw draw
                    // is already uniform over it.
                    rng.next_u64()
                } else {
                    below(rng, span + 1)
                };
                (min_ns + offset).min(MAX_DELAY_NS)
            }
            Delay::Normal {
                mean_ns,
                std_dev_ns,
            } => {
                // Invariant from validate(): with mean >= 0 each attempt is accepted with
                // probability >= 1/2, so this loop ends quickly. A negative or NaN mean
                // could spin (almost) forever.
                assert!(
                    mean_ns >= 0.0 && std_dev_ns.is_finite(),
                    "normal delay with mean {mean_ns}, std dev {std_dev_ns}: validate before sampling"
                );
                loop {
                    let x = mean_ns + std_dev_ns * standard_normal(rng);
                    if x >= 0.0 {
                        break round_to_ns(x);
                    }
                }
            }
            Delay::Exponential { mean_ns } => {
                // Inversion: -mean * ln(U), U in (0, 1] so ln is finite.
                round_to_ns(-mean_ns * libm::log(unit_f64_nonzero(rng)))
            }
            Delay::LogNormal { median_ns, sigma } => {
                round_to_ns(median_ns * libm::exp(sigma * standard_normal(rng)))
            }
            Delay::Pareto { scale_ns, shape } => {
                // Inversion: scale / U^(1/shape), U in (0, 1] so the result is >= scale
                // and finite before the clamp.
                let u = unit_f64_nonzero(rng);
                round_to_ns(scale_ns / libm::pow(u, 1.0 / shape))
            }
        };
        SimDuration(ns)
    }

    /// The closed-form mean in nanoseconds, or `None` when it is infinite.
    ///
    /// For `Normal` this is the mean of the normal truncated at 0 (what `sample`
    /// draws), not the `mean_ns` parameter. Ignores the rounding to whole nanoseconds
    /// (at most half a nanosecond) and the clamp at [`MAX_DELAY_NS`].
    pub fn mean_ns(&self) -> Option<f64> {
        let mean = match *self {
            Delay::Constant { ns } => ns as f64,
            Delay::Uniform { min_ns, max_ns } => (min_ns as f64 + max_ns as f64) / 2.0,
            Delay::Normal {
                mean_ns,
                std_dev_ns,
            } => truncated_normal_moments(mean_ns, std_dev_ns).0,
            Delay::Exponential { mean_ns } => mean_ns,
            Delay::LogNormal { median_ns, sigma } => median_ns * libm::exp(sigma * sigma / 2.0),
            Delay::Pareto { scale_ns, shape } => {
                if shape <= 1.0 {
                    return None;
                }
                shape * scale_ns / (shape - 1.0)
            }
        };
        Some(mean).filter(|m| m.is_finite())
    }

    /// The closed-form variance in ns², or `None` when it is infinite.
    ///
    /// For `Uniform` this is the variance of the discrete uniform over the integers
    /// `min_ns..=max_ns`, `(n² - 1) / 12`; for `Normal` that of the normal truncated at 0.
    /// Continuous variants ignore the rounding to whole nanoseconds (which adds about
    /// 1/12 ns²) and the clamp at [`MAX_DELAY_NS`].
    pub fn variance_ns2(&self) -> Option<f64> {
        let variance = match *self {
            Delay::Constant { .. } => 0.0,
            Delay::Uniform { min_ns, max_ns } => {
                let n = (max_ns as f64 - min_ns as f64) + 1.0;
                (n * n - 1.0) / 12.0
            }
            Delay::Normal {
                mean_ns,
                std_dev_ns,
            } => truncated_normal_moments(mean_ns, std_dev_ns).1,
            Delay::Exponential { mean_ns } => mean_ns * mean_ns,
            Delay::LogNormal { median_ns, sigma } => {
                let s2 = sigma * sigma;
                libm::expm1(s2) * libm::exp(2.0 * libm::log(median_ns) + s2)
            }
            Delay::Pareto { scale_ns, shape } => {
                if shape <= 2.0 {
                    return None;
                }
                let d = shape - 1.0;
                scale_ns * scale_ns * shape / (d * d * (shape - 2.0))
            }
        };
        Some(variance).filter(|v| v.is_finite())
    }

    /// A representative "typical" delay (the median where known), used to weigh routes.
    ///
    /// - `Constant`: the value; `Uniform`: the midpoint.
    /// - `Normal`: the `mean_ns` parameter, an approximation: truncation at 0 moves the
    ///   true median up a little, noticeably only when the mean is within about two
    ///   standard deviations of 0.
    /// - `Exponential`: `mean * ln 2`; `LogNormal`: the median;
    ///   `Pareto`: `scale * 2^(1/shape)`.
    pub fn typical_ns(&self) -> f64 {
        match *self {
            Delay::Constant { ns } => ns as f64,
            Delay::Uniform { min_ns, max_ns } => (min_ns as f64 + max_ns as f64) / 2.0,
            Delay::Normal { mean_ns, .. } => mean_ns,
            Delay::Exponential { mean_ns } => mean_ns * core::f64::consts::LN_2,
            Delay::LogNormal { median_ns, .. } => median_ns,
            Delay::Pareto { scale_ns, shape } => scale_ns * libm::pow(2.0, 1.0 / shape),
        }
    }
}

/// Layers of the ziggurat behind [`standard_normal`].
const ZIGGURAT_LAYERS: usize = 256;

/// Where the tail of the 256-layer ziggurat begins (Marsaglia and Tsang, "The ziggurat
/// method for generating random variables", 2000): the right edge of the base layer.
const ZIGGURAT_TAIL_START: f64 = 3.654_152_885_361_009;

/// The tables of the ziggurat for the unnormalised density `f(x) = exp(-x²/2)`, x >= 0:
/// 256 layers of equal area `v`. Layer 0 is the base: the rectangle `[0, R) × [0, f(R))`
/// plus the tail beyond `R`, drawn as one rectangle of "virtual" width `v / f(R)`.
/// Layer `i >= 1` is the rectangle `[0, x[i]) × [f(x[i]), f(x[i+1]))`.
struct Ziggurat {
    /// Right edges, decreasing: `x[0] = v / f(R)`, `x[1] = R`, ..., `x[256] = 0`.
    x: [f64; ZIGGURAT_LAYERS + 1],
    /// `f(x[i])`, increasing up to `f[256] = 1`.
    f: [f64; ZIGGURAT_LAYERS + 1],
}

impl Ziggurat {
    /// Computes the tables from `R` with `libm` (so every platform gets the same bits):
    /// `v = R f(R) + ∫_R^∞ f`, then each edge from the one below it, since layer `i`
    /// has area `x[i] (f(x[i+1]) - f(x[i])) = v`.
    fn new() -> Ziggurat {
        let density = |x: f64| libm::exp(-0.5 * x * x);
        let r = ZIGGURAT_TAIL_START;
        // ∫_R^∞ exp(-x²/2) dx = sqrt(π/2) erfc(R / sqrt 2).
        const SQRT_FRAC_PI_2: f64 = 1.253_314_137_315_500_3;
        let area = r * density(r) + SQRT_FRAC_PI_2 * libm::erfc(r / core::f64::consts::SQRT_2);
        let mut x = [0.0; ZIGGURAT_LAYERS + 1];
        let mut f = [0.0; ZIGGURAT_LAYERS + 1];
        x[0] = area / density(r);
        x[1] = r;
        for i in 2..ZIGGURAT_LAYERS {
            x[i] = libm::sqrt(-2.0 * libm::log(area / x[i - 1] + density(x[i - 1])));
        }
        x[ZIGGURAT_LAYERS] = 0.0;
        for i in 0..=ZIGGURAT_LAYERS {
            f[i] = density(x[i]);
        }
        Ziggurat { x, f }
    }

    /// The tables, computed on first use.
    #[inline]
    fn get() -> &'static Ziggurat {
        static TABLES: OnceLock<Ziggurat> = OnceLock::new();
        TABLES.get_or_init(Ziggurat::new)
    }
}

/// A standard normal value by the ziggurat method (Marsaglia and Tsang 2000), with 256
/// layers of equal area under `exp(-x²/2)`, whose edges `x[0..=256]` are computed once,
/// with `libm`, from the tail start `R = 3.654152885361009`.
///
/// Each attempt takes one draw: its low 8 bits pick a layer and its top 53 bits a
/// uniform `u` in `[-1, 1)`, whose sign is the sign of the result. The point
/// `x = u x[layer]` lies under the density outright about 99% of the time, and is
/// returned; otherwise the base layer samples the tail beyond `R` (Marsaglia's method,
/// two draws and two `ln` per attempt) and the other layers test the wedge with one more
/// draw and one `exp`, starting over on a rejection. The result is exact (no
/// approximation of the normal) and depends only on the stream position: sampling
/// keeps no state between calls.
#[inline]
pub fn standard_normal(rng: &mut SimRng) -> f64 {
    let tables = Ziggurat::get();
    let bits = rng.next_u64();
    let layer = (bits & 0xFF) as usize;
    let (u, x) = ziggurat_point(tables, bits, layer);
    if x.abs() < tables.x[layer + 1] {
        return x;
    }
    standard_normal_outside(rng, tables, layer, u, x)
}

/// The point of one ziggurat attempt: `u` in `[-1, 1)` from the top 53 bits of the draw
/// (an integer below 2^53, exact in f64), and `x = u x[layer]`.
#[inline]
fn ziggurat_point(tables: &Ziggurat, bits: u64, layer: usize) -> (f64, f64) {
    let u = ((bits >> 11) as i64) as f64 * (1.0 / (1u64 << 52) as f64) - 1.0;
    (u, u * tables.x[layer])
}

/// The rest of [`standard_normal`] when the first point fell outside its layer's
/// inner rectangle: the tail, or the wedge test, and new attempts after a rejection.
#[cold]
#[inline(never)]
fn standard_normal_outside(
    rng: &mut SimRng,
    tables: &Ziggurat,
    mut layer: usize,
    mut u: f64,
    mut x: f64,
) -> f64 {
    loop {
        if x.abs() < tables.x[layer + 1] {
            return x;
        }
        if layer == 0 {
            return normal_tail(rng, u < 0.0);
        }
        // The wedge between the layer's rectangle and the density: accept by height.
        let low = tables.f[layer];
        let high = tables.f[layer + 1];
        if low + (high - low) * unit_f64(rng) < libm::exp(-0.5 * x * x) {
            return x;
        }
        let bits = rng.next_u64();
        layer = (bits & 0xFF) as usize;
        (u, x) = ziggurat_point(tables, bits, layer);
    }
}

/// A value of the normal tail beyond [`ZIGGURAT_TAIL_START`] (Marsaglia 1964): with
/// `a = -ln(U1) / R` and `b = -ln(U2)`, accept `R + a` when `2b >= a²`.
#[cold]
fn normal_tail(rng: &mut SimRng, negative: bool) -> f64 {
    loop {
        let a = -libm::log(unit_f64_nonzero(rng)) / ZIGGURAT_TAIL_START;
        let b = -libm::log(unit_f64_nonzero(rng));
        if 2.0 * b >= a * a {
            let x = ZIGGURAT_TAIL_START + a;
            return if negative { -x } else { x };
        }
    }
}

/// The standard normal density.
fn normal_pdf(x: f64) -> f64 {
    // 1 / sqrt(2π)
    const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    FRAC_1_SQRT_2PI * libm::exp(-0.5 * x * x)
}

/// `1 - Φ(x)`, the standard normal upper tail, via `erfc` to keep precision.
fn normal_upper_tail(x: f64) -> f64 {
    0.5 * libm::erfc(x / core::f64::consts::SQRT_2)
}

/// Mean and variance of `N(mu, sd²)` truncated below at 0.
///
/// With `α = -mu / sd`, `λ = φ(α) / (1 - Φ(α))`: mean `mu + sd λ`, variance
/// `sd² (1 + α λ - λ²)`.
fn truncated_normal_moments(mu: f64, sd: f64) -> (f64, f64) {
    if sd == 0.0 {
        // Degenerate: every sample is mu (validate keeps mu >= 0, so nothing is cut).
        return (mu, 0.0);
    }
    let alpha = -mu / sd;
    let lambda = normal_pdf(alpha) / normal_upper_tail(alpha);
    (
        mu + sd * lambda,
        sd * sd * (1.0 + alpha * lambda - lambda * lambda),
    )
}

/// Rounds a non-negative delay to whole nanoseconds (half away from zero, as
/// `libm::round` does), clamped to [`MAX_DELAY_NS`].
#[inline]
fn round_to_ns(x: f64) -> u64 {
    assert!(
        x >= 0.0,
        "sampled delay {x} ns is negative or NaN: validate the distribution before sampling"
    );
    // MAX_DELAY_NS as f64 rounds up to 2^62.
    if x >= MAX_DELAY_NS as f64 {
        return MAX_DELAY_NS;
    }
    // Below 2^62 both the truncation and the fraction `x - whole` are exact, so this is
    // the correctly rounded value with no call into libm.
    let whole = x as i64;
    let fraction = x - whole as f64;
    (whole as u64 + u64::from(fraction >= 0.5)).min(MAX_DELAY_NS)
}

/// `value` is finite and `>= 0`.
fn non_negative(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if !value.is_finite() {
        Err(ConfigError::Parameter {
            field,
            problem: "must be finite (not NaN or infinite)",
            value,
        })
    } else if value < 0.0 {
        Err(ConfigError::Parameter {
            field,
            problem: "must not be negative",
            value,
        })
    } else {
        Ok(())
    }
}

/// `value` is finite and `> 0`.
fn positive(field: &'static str, value: f64) -> Result<(), ConfigError> {
    non_negative(field, value)?;
    if value == 0.0 {
        Err(ConfigError::Parameter {
            field,
            problem: "must be greater than zero",
            value,
        })
    } else {
        Ok(())
    }
}

/// An integer delay parameter is at most [`MAX_DELAY_NS`].
fn at_most_max(field: &'static str, ns: u64) -> Result<(), ConfigError> {
    if ns > MAX_DELAY_NS {
        Err(ConfigError::Parameter {
            field,
            problem: "must be at most u64::MAX / 4 ns (about 146 years)",
            value: ns as f64,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream_rng};

    const N: usize = 100_000;

    /// `n` samples of `delay` from the network stream of `seed`, as f64 nanoseconds.
    fn draw(delay: &Delay, seed: u64, n: usize) -> Vec<f64> {
        assert!(delay.validate().is_ok(), "test distribution must be valid");
        let mut rng = stream_rng(seed, Stream::Network);
        (0..n).map(|_| delay.sample(&mut rng).0 as f64).collect()
    }

    /// Sample mean and (unbiased) sample variance.
    fn mean_and_variance(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let variance = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, variance)
    }

    /// Asserts the sample mean is within 5 standard errors (`sqrt(variance / n)`) of
    /// the closed-form mean. The draws are seeded, so this either always passes or
    /// always fails; 5 sigma leaves room for the fixed seed's luck while still catching
    /// any real bias (a wrong formula or sampler is off by far more than 5 SE at n =
    /// 100,000).
    fn assert_mean_close(delay: &Delay, xs: &[f64]) -> (f64, f64) {
        let (mean, variance) = mean_and_variance(xs);
        let expected = delay.mean_ns().expect("finite mean");
        let expected_var = delay.variance_ns2().expect("finite variance");
        let se = (expected_var / xs.len() as f64).sqrt();
        assert!(
            (mean - expected).abs() <= 5.0 * se,
            "{delay:?}: sample mean {mean} vs closed form {expected} (5 SE = {})",
            5.0 * se
        );
        (mean, variance)
    }

    /// Asserts the sample variance is within 5 standard errors of the closed form,
    /// where the standard error of a sample variance is `sqrt((μ4 - σ⁴) / n)` and μ4 is
    /// the distribution's central fourth moment, given as `kurtosis * σ⁴`.
    fn assert_variance_close(delay: &Delay, sample_var: f64, n: usize, kurtosis: f64) {
        let expected = delay.variance_ns2().expect("finite variance");
        let se = expected * ((kurtosis - 1.0) / n as f64).sqrt();
        assert!(
            (sample_var - expected).abs() <= 5.0 * se,
            "{delay:?}: sample variance {sample_var} vs closed form {expected} (5 SE = {})",
            5.0 * se
        );
    }

    /// The fraction of samples at or below `typical_ns` (the median) is 1/2 within 5
    /// standard errors (`sqrt(1/4 / n)`, so ±0.0079 at n = 100,000).
    fn assert_median_close(delay: &Delay, xs: &[f64]) {
        let median = delay.typical_ns();
        let below = xs.iter().filter(|&&x| x <= median).count() as f64 / xs.len() as f64;
        let bound = 5.0 * (0.25 / xs.len() as f64).sqrt();
        assert!(
            (below - 0.5).abs() <= bound,
            "{delay:?}: {below} of samples <= typical {median}, expected 0.5 ± {bound}"
        );
    }

    #[test]
    fn constant_always_returns_its_value() {
        // Any draw-dependent behaviour (or a wrong variant arm) would give other values.
        let delay = Delay::Constant { ns: 3_000_000 };
        let xs = draw(&delay, 1, 1_000);
        assert!(xs.iter().all(|&x| x == 3_000_000.0));
        assert_eq!(delay.mean_ns(), Some(3_000_000.0));
        assert_eq!(delay.variance_ns2(), Some(0.0));
        assert_eq!(delay.typical_ns(), 3_000_000.0);
    }

    #[test]
    fn uniform_matches_closed_form_mean_and_variance() {
        let delay = Delay::Uniform {
            min_ns: 1_000_000,
            max_ns: 5_000_000,
        };
        let xs = draw(&delay, 1, N);
        // An off-by-one in the range (max excluded, or min + span + 1) would move the
        // bounds; a biased mapping would move the mean by far more than 5 SE (~18 µs).
        assert!(xs.iter().all(|&x| (1_000_000.0..=5_000_000.0).contains(&x)));
        // Both ends are reached: with 100,000 draws over 4,000,001 values the smallest
        // and largest samples are within 1 µs of the ends unless the range is wrong
        // (the chance of a miss by luck is about e^-25).
        let lowest = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = xs.iter().copied().fold(0.0, f64::max);
        assert!(
            lowest < 1_001_000.0 && highest > 4_999_000.0,
            "{lowest}..{highest}"
        );
        let (_, var) = assert_mean_close(&delay, &xs);
        // Uniform kurtosis is 9/5, so the variance SE is 0.28% and 5 SE is 1.4%.
        assert_variance_close(&delay, var, N, 1.8);
        assert_median_close(&delay, &xs);
    }

    #[test]
    fn uniform_small_range_includes_both_ends() {
        // If max were excluded (below(span) instead of below(span + 1)) 7 would never
        // appear; each of the 3 values expects 1000 hits, 5 sigma is about 75.
        let delay = Delay::Uniform {
            min_ns: 5,
            max_ns: 7,
        };
        let mut rng = stream_rng(9, Stream::Network);
        let mut counts = [0u32; 3];
        for _ in 0..3_000 {
            counts[(delay.sample(&mut rng).0 - 5) as usize] += 1;
        }
        for count in counts {
            assert!((925..1075).contains(&count), "counts {counts:?}");
        }
    }

    #[test]
    fn normal_matches_closed_form_mean_and_variance() {
        // Mean 10 ms, sd 2 ms: truncation at 0 is 5 sd away, so the moments are those
        // of the plain normal to within parts per million (and the closed form includes
        // the truncation anyway).
        let delay = Delay::Normal {
            mean_ns: 10_000_000.0,
            std_dev_ns: 2_000_000.0,
        };
        let xs = draw(&delay, 2, N);
        // A wrong ziggurat (tables for the wrong number of layers, a layer's edges
        // swapped, the tail drawn without its sign) changes the spread by far more than
        // the 2.2% bound below.
        let (_, var) = assert_mean_close(&delay, &xs);
        // Normal kurtosis 3: variance SE is 0.45%, 5 SE is 2.2%.
        assert_variance_close(&delay, var, N, 3.0);
        assert_median_close(&delay, &xs);
    }

    #[test]
    fn exponential_matches_closed_form_mean_and_variance() {
        let delay = Delay::Exponential {
            mean_ns: 4_000_000.0,
        };
        let xs = draw(&delay, 3, N);
        // Inverting with ln(1 - U) vs ln(U) is harmless, but any scale error (log2, a
        // missing minus sign giving a panic, mean used as rate) would be far outside.
        let (_, var) = assert_mean_close(&delay, &xs);
        // Exponential kurtosis 9: variance SE is 0.89%, 5 SE is 4.5%.
        assert_variance_close(&delay, var, N, 9.0);
        // typical_ns = mean ln 2 is the median.
        assert_median_close(&delay, &xs);
    }

    #[test]
    fn lognormal_matches_closed_form_mean_and_variance() {
        let sigma: f64 = 0.5;
        let delay = Delay::LogNormal {
            median_ns: 2_000_000.0,
            sigma,
        };
        let xs = draw(&delay, 4, N);
        let (_, var) = assert_mean_close(&delay, &xs);
        // The log-normal fourth moment is finite for every sigma: kurtosis is
        // e^(4s²) + 2e^(3s²) + 3e^(2s²) - 3, which is 8.90 at s = 0.5, so the variance
        // SE is 0.89% and 5 SE is 4.4%. Using sigma² where sigma belongs (or exp(s²)
        // instead of exp(s²/2) in the mean) would miss by far more.
        let s2 = sigma * sigma;
        let kurtosis = (4.0 * s2).exp() + 2.0 * (3.0 * s2).exp() + 3.0 * (2.0 * s2).exp() - 3.0;
        assert!((kurtosis - 8.898).abs() < 0.01);
        assert_variance_close(&delay, var, N, kurtosis);
        assert_median_close(&delay, &xs);
    }

    #[test]
    fn pareto_matches_closed_form_mean() {
        // Shape 3.5: mean and variance finite, so the sample mean obeys the CLT and the
        // 5 SE bound holds. The fourth moment is infinite (shape <= 4), so the sample
        // variance has no standard error and we assert no bound on it; the median and
        // the support check test the shape of the tail instead.
        let delay = Delay::Pareto {
            scale_ns: 1_000_000.0,
            shape: 3.5,
        };
        let xs = draw(&delay, 5, N);
        // A sampler using U^shape instead of U^(1/shape) would cluster just above the
        // scale and miss the mean (1.4 ms) by far more than 5 SE (~10 µs).
        assert_mean_close(&delay, &xs);
        assert!(
            xs.iter().all(|&x| x >= 1_000_000.0),
            "Pareto below its scale"
        );
        assert_median_close(&delay, &xs);
    }

    #[test]
    fn ziggurat_layers_have_equal_areas_and_close_at_the_top() {
        // Every layer must have the same area v, or the ziggurat draws some heights more
        // often than the density says. The edges come from a recurrence started at R;
        // with a wrong R (say the 128-layer 3.4426) the top layer, which the recurrence
        // does not force, would miss v by far more than 1e-6, and the last edge would
        // not reach 0 smoothly.
        let tables = Ziggurat::get();
        let r = ZIGGURAT_TAIL_START;
        let area = tables.x[0] * libm::exp(-0.5 * r * r);
        for i in 1..ZIGGURAT_LAYERS {
            let layer = tables.x[i] * (tables.f[i + 1] - tables.f[i]);
            assert!(
                (layer - area).abs() <= 1e-6 * area,
                "layer {i}: area {layer} vs {area}"
            );
            assert!(tables.x[i + 1] < tables.x[i], "edges decrease at {i}");
        }
        assert_eq!(tables.x[1], r);
        assert_eq!(tables.x[ZIGGURAT_LAYERS], 0.0);
        assert_eq!(tables.f[ZIGGURAT_LAYERS], 1.0);
        // Pinned: the tables are part of every seeded run. Marsaglia and Tsang give
        // v = 4.92867323399e-3 for 256 layers.
        assert!((area - 4.928_673_233_99e-3).abs() < 1e-13, "{area}");
    }

    #[test]
    fn standard_normal_matches_the_normal_cdf_in_body_wedges_and_tail() {
        // The fast path, the wedges and the tail each cover a part of the line; a bug in
        // any of them (a wrong wedge test, a missing sign in the tail, a layer index
        // sharing bits with u) shifts the distribution where that part lives. Each
        // probability is checked within 5 standard errors sqrt(p (1 - p) / n).
        let n = 1_000_000;
        let mut rng = stream_rng(11, Stream::Network);
        let mut zs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        zs.sort_by(f64::total_cmp);
        let cdf = |x: f64| 0.5 * libm::erfc(-x / core::f64::consts::SQRT_2);
        let check = |what: &str, seen: usize, expected: f64| {
            let seen = seen as f64 / n as f64;
            let bound = 5.0 * (expected * (1.0 - expected) / n as f64).sqrt();
            assert!(
                (seen - expected).abs() <= bound,
                "{what}: {seen}, expected {expected} ± {bound}"
            );
        };
        for q in [
            -4.0, -3.7, -3.0, -2.2, -1.5, -1.0, -0.4, 0.0, 0.3, 0.9, 1.7, 2.5, 3.0, 3.7, 4.0,
        ] {
            check(
                &format!("P(Z <= {q})"),
                zs.partition_point(|&z| z <= q),
                cdf(q),
            );
        }
        // Two-sided tails, where the wedges of the wide lower layers matter most:
        // accepting every wedge point (skipping the exp test) puts about 14% too much
        // mass beyond 3, some 7 standard errors at this n.
        for q in [2.5, 3.0, 3.3, ZIGGURAT_TAIL_START] {
            let beyond = zs.iter().filter(|z| z.abs() > q).count();
            check(&format!("P(|Z| > {q})"), beyond, 2.0 * cdf(-q));
        }
        // The tail sampler runs, on both sides: the sign is kept.
        let beyond_r = |z: &&f64| z.abs() > ZIGGURAT_TAIL_START;
        assert!(zs.iter().filter(beyond_r).any(|&z| z < 0.0));
        assert!(zs.iter().filter(beyond_r).any(|&z| z > 0.0));
    }

    #[test]
    fn pareto_moments_exist_only_for_large_enough_shape() {
        // The mean is infinite at shape <= 1 and the variance at shape <= 2: a closed
        // form returned there would be negative or infinite nonsense.
        let p = |shape| Delay::Pareto {
            scale_ns: 1.0,
            shape,
        };
        assert_eq!(p(1.0).mean_ns(), None);
        assert_eq!(p(0.5).mean_ns(), None);
        assert_eq!(p(2.0).mean_ns(), Some(2.0));
        assert_eq!(p(2.0).variance_ns2(), None);
        assert_eq!(p(3.0).variance_ns2(), Some(0.75));
    }

    #[test]
    fn normal_truncated_at_zero_has_half_normal_mean() {
        // Mean 0, sd 1 ms: resampling the negative half leaves a half-normal, with mean
        // sd * sqrt(2/π) ≈ 0.798 ms and variance sd² (1 - 2/π). If negative values were
        // clamped to 0 instead of resampled, the sample mean would be 0.399 ms; if they
        // were reflected it would match, but then the closed form below would disagree
        // with the truncation formula.
        let sd = 1_000_000.0;
        let delay = Delay::Normal {
            mean_ns: 0.0,
            std_dev_ns: sd,
        };
        let half_normal_mean = sd * (2.0 / core::f64::consts::PI).sqrt();
        let half_normal_var = sd * sd * (1.0 - 2.0 / core::f64::consts::PI);
        let closed_mean = delay.mean_ns().expect("finite");
        let closed_var = delay.variance_ns2().expect("finite");
        assert!((closed_mean - half_normal_mean).abs() < 1e-6 * half_normal_mean);
        assert!((closed_mean - 797_884.56).abs() < 0.01, "{closed_mean}");
        assert!((closed_var - half_normal_var).abs() < 1e-6 * half_normal_var);

        let xs = draw(&delay, 6, N);
        let (_, var) = assert_mean_close(&delay, &xs);
        // Half-normal kurtosis is 3.87 (excess 0.869): 5 SE on the variance is 2.7%.
        assert_variance_close(&delay, var, N, 3.869);
    }

    #[test]
    fn samples_are_clamped_so_time_cannot_overflow() {
        // Shape 0.05: U^(-20) exceeds 2^62 whenever U < 2^-3.1, about 11% of draws.
        // Without the clamp these would round to u64::MAX (or overflow the engine's
        // `now + delay`).
        let delay = Delay::Pareto {
            scale_ns: 1_000_000.0,
            shape: 0.05,
        };
        let mut rng = stream_rng(7, Stream::Network);
        let xs: Vec<u64> = (0..1_000).map(|_| delay.sample(&mut rng).0).collect();
        assert!(xs.iter().all(|&x| x <= MAX_DELAY_NS));
        assert!(xs.contains(&MAX_DELAY_NS), "expected some clamped samples");
        // An unvalidated full-range uniform must not overflow computing span + 1.
        let full = Delay::Uniform {
            min_ns: 0,
            max_ns: u64::MAX,
        };
        assert!(full.validate().is_err());
        assert!(full.sample(&mut rng).0 <= MAX_DELAY_NS);
    }

    /// The first five samples for seed 42 on the network stream.
    fn first_five(delay: &Delay) -> [u64; 5] {
        let mut rng = stream_rng(42, Stream::Network);
        core::array::from_fn(|_| delay.sample(&mut rng).0)
    }

    // Golden values. Any change to the seeded values of a sampler (the draws it uses,
    // their order, the formula, the rounding, the libm functions) changes every seeded
    // run and its fingerprint. It must fail here, loudly, and be a deliberate, reviewed
    // change: update these numbers only together with the golden fingerprints.

    #[test]
    fn uniform_first_samples_are_pinned() {
        let delay = Delay::Uniform {
            min_ns: 1_000_000,
            max_ns: 5_000_000,
        };
        assert_eq!(first_five(&delay), GOLDEN_UNIFORM);
    }

    #[test]
    fn constant_first_samples_are_pinned() {
        assert_eq!(
            first_five(&Delay::Constant { ns: 1_500_000 }),
            [1_500_000; 5]
        );
    }

    #[test]
    fn normal_first_samples_are_pinned() {
        let delay = Delay::Normal {
            mean_ns: 10_000_000.0,
            std_dev_ns: 2_000_000.0,
        };
        assert_eq!(first_five(&delay), GOLDEN_NORMAL);
    }

    #[test]
    fn exponential_first_samples_are_pinned() {
        let delay = Delay::Exponential {
            mean_ns: 4_000_000.0,
        };
        assert_eq!(first_five(&delay), GOLDEN_EXPONENTIAL);
    }

    #[test]
    fn lognormal_first_samples_are_pinned() {
        let delay = Delay::LogNormal {
            median_ns: 2_000_000.0,
            sigma: 0.5,
        };
        assert_eq!(first_five(&delay), GOLDEN_LOGNORMAL);
    }

    #[test]
    fn pareto_first_samples_are_pinned() {
        let delay = Delay::Pareto {
            scale_ns: 1_000_000.0,
            shape: 3.5,
        };
        assert_eq!(first_five(&delay), GOLDEN_PARETO);
    }

    // Computed once with rand_chacha 0.9.0, rand_core 0.9.5, libm 0.2.16 (Normal and
    // LogNormal recomputed when the ziggurat replaced Box–Muller). Consistency check:
    // Normal and LogNormal share their ziggurat draws (the first z is 1.2868:
    // 10 ms + 2 ms z = 12,573,593 and 2 ms e^(0.5 z) = 3,805,873), and Exponential and
    // Pareto share their U (the first is 0.7909: -4 ms ln U = 938,339 and
    // 1 ms U^(-1/3.5) = 1,069,321).
    const GOLDEN_UNIFORM: [u64; 5] = [4_163_597, 1_624_061, 4_302_584, 4_691_640, 1_863_080];
    const GOLDEN_NORMAL: [u64; 5] = [12_573_593, 7_212_741, 10_803_560, 12_072_368, 7_631_341];
    const GOLDEN_EXPONENTIAL: [u64; 5] = [938_339, 7_431_207, 766_357, 320_895, 6_134_170];
    const GOLDEN_LOGNORMAL: [u64; 5] = [3_805_873, 996_339, 2_444_981, 3_357_642, 1_106_257];
    const GOLDEN_PARETO: [u64; 5] = [1_069_321, 1_700_293, 1_056_266, 1_023_186, 1_549_845];

    /// The `field` of a `ConfigError::Parameter`, or a description of another error.
    fn rejected_field(delay: Delay) -> &'static str {
        match delay.validate() {
            Err(ConfigError::Parameter { field, .. }) => field,
            Err(ConfigError::Invalid(_)) => "invalid",
            Err(_) => "other error",
            Ok(()) => "accepted",
        }
    }

    #[test]
    fn validate_rejects_nan_parameters() {
        // A NaN slips through `< 0` comparisons; without an explicit check it would
        // reach the sampler and panic mid-run instead of failing at load time.
        assert_eq!(
            rejected_field(Delay::Normal {
                mean_ns: f64::NAN,
                std_dev_ns: 1.0
            }),
            "latency.normal.mean"
        );
        assert_eq!(
            rejected_field(Delay::LogNormal {
                median_ns: 1.0,
                sigma: f64::NAN
            }),
            "latency.lognormal.sigma"
        );
        assert_eq!(
            rejected_field(Delay::Exponential { mean_ns: f64::NAN }),
            "latency.exponential.mean"
        );
    }

    #[test]
    fn validate_rejects_infinite_parameters() {
        // An infinite parameter would make every sample clamp to MAX_DELAY_NS (or NaN).
        assert_eq!(
            rejected_field(Delay::Pareto {
                scale_ns: f64::INFINITY,
                shape: 2.0
            }),
            "latency.pareto.scale"
        );
        assert_eq!(
            rejected_field(Delay::Normal {
                mean_ns: 1.0,
                std_dev_ns: f64::INFINITY
            }),
            "latency.normal.std_dev"
        );
    }

    #[test]
    fn validate_rejects_negative_parameters() {
        // A negative normal mean could make truncation-by-resampling loop for a very
        // long time; a negative scale gives negative delays.
        assert_eq!(
            rejected_field(Delay::Normal {
                mean_ns: -1.0,
                std_dev_ns: 1.0
            }),
            "latency.normal.mean"
        );
        assert_eq!(
            rejected_field(Delay::LogNormal {
                median_ns: 1.0,
                sigma: -0.1
            }),
            "latency.lognormal.sigma"
        );
        assert_eq!(
            rejected_field(Delay::Pareto {
                scale_ns: -1.0,
                shape: 2.0
            }),
            "latency.pareto.scale"
        );
    }

    #[test]
    fn validate_rejects_out_of_range_parameters() {
        // Each of these is finite and non-negative, but outside the variant's domain.
        assert_eq!(
            rejected_field(Delay::Pareto {
                scale_ns: 1.0,
                shape: 0.0
            }),
            "latency.pareto.shape"
        );
        assert_eq!(
            rejected_field(Delay::Exponential { mean_ns: 0.0 }),
            "latency.exponential.mean"
        );
        assert_eq!(
            rejected_field(Delay::LogNormal {
                median_ns: 0.0,
                sigma: 1.0
            }),
            "latency.lognormal.median"
        );
        assert_eq!(
            rejected_field(Delay::Uniform {
                min_ns: 10,
                max_ns: 9
            }),
            "invalid"
        );
        assert_eq!(
            rejected_field(Delay::Constant {
                ns: MAX_DELAY_NS + 1
            }),
            "latency.constant"
        );
    }

    #[test]
    fn validate_error_reports_value_and_problem() {
        // The message is what a user sees for a bad scenario file: it must name the
        // field, say what is wrong and echo the value.
        let err = Delay::LogNormal {
            median_ns: 1.0,
            sigma: -0.5,
        }
        .validate()
        .expect_err("negative sigma");
        assert_eq!(
            err.to_string(),
            "latency.lognormal.sigma must not be negative, found -0.5"
        );
    }

    #[test]
    fn validate_accepts_good_parameters() {
        // Boundary values that are legal: zero constant, single-point uniform, zero
        // normal mean and sd, zero sigma, shape below 1 (infinite mean is allowed).
        let good = [
            Delay::Constant { ns: 0 },
            Delay::Constant { ns: MAX_DELAY_NS },
            Delay::Uniform {
                min_ns: 5,
                max_ns: 5,
            },
            Delay::Normal {
                mean_ns: 0.0,
                std_dev_ns: 0.0,
            },
            Delay::Exponential { mean_ns: 1.0 },
            Delay::LogNormal {
                median_ns: 1_000.0,
                sigma: 0.0,
            },
            Delay::Pareto {
                scale_ns: 1.0,
                shape: 0.5,
            },
        ];
        for delay in good {
            assert_eq!(delay.validate(), Ok(()), "{delay:?}");
        }
    }

    #[test]
    fn typical_is_the_median() {
        // Pinned closed forms: a wrong exponent (2^shape) or log base would change them.
        let exp = Delay::Exponential { mean_ns: 1_000.0 };
        assert!((exp.typical_ns() - 693.147_180_56).abs() < 1e-6);
        let pareto = Delay::Pareto {
            scale_ns: 1_000.0,
            shape: 2.0,
        };
        assert!((pareto.typical_ns() - 1_414.213_562_37).abs() < 1e-6);
        let uniform = Delay::Uniform {
            min_ns: 10,
            max_ns: 20,
        };
        assert_eq!(uniform.typical_ns(), 15.0);
    }
}
