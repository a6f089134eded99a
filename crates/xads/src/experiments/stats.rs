//! The statistics of experiment results: intervals, the probability each variant is best, and a
//! verdict that stays valid when results are looked at every hour.
//!
//! **Why a sequential test.** Dashboards are refreshed hourly; a fixed-horizon test (or "call it
//! when P(best) > 95 %") checked that often declares false winners far more than 5 % of the time.
//! The verdict therefore uses the mixture sequential probability ratio test (mSPRT, Johari et al.,
//! "Always Valid Inference", 2017) on the difference between each treatment and the control, with
//! a normal mixing distribution N(0, τ²): its p-value is valid at every look, so peeking is free.
//! Treatments are compared to the control with a Bonferroni split of α. The simulations in the
//! tests check the false-winner rate of A/A runs looked at hourly (≤ 5 %) and the power for a
//! real 20 % CTR lift.
//!
//! **Metrics.** CTR = clicks / impressions and conversion rate = conversions / clicks are
//! proportions (Wilson 95 % intervals, binomial variance). CPC and CPA are costs: they are tested
//! as their inverse rates — clicks (or conversions) per USD, with Poisson variance — so "lower
//! cost" means "higher rate"; their intervals come from the delta method.
//!
//! **P(best)** is Bayesian and descriptive only (never the verdict): Beta(1+x, 1+n−x) posteriors
//! for proportions, Gamma(1+x, spend) for per-USD rates, 4 000 Monte-Carlo draws from a
//! generator seeded by the experiment, so the same data always shows the same numbers.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The metric an experiment is judged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryMetric {
    /// Clicks per impression (higher is better).
    Ctr,
    /// Conversions per click (higher is better).
    ConversionRate,
    /// USD per click (lower is better).
    Cpc,
    /// USD per conversion (lower is better).
    Cpa,
}

impl PrimaryMetric {
    /// Every metric an experiment can be judged on, in the API's order.
    pub const ALL: [PrimaryMetric; 4] = [
        PrimaryMetric::Ctr,
        PrimaryMetric::ConversionRate,
        PrimaryMetric::Cpc,
        PrimaryMetric::Cpa,
    ];

    /// The API's name (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            PrimaryMetric::Ctr => "ctr",
            PrimaryMetric::ConversionRate => "conversion_rate",
            PrimaryMetric::Cpc => "cpc",
            PrimaryMetric::Cpa => "cpa",
        }
    }
}

/// One variant's totals over the experiment so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
    /// Spend in USD.
    pub spend_usd: f64,
}

/// A point estimate with a 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The estimate (`None` when undefined, e.g. CPA without conversions).
    pub value: Option<f64>,
    /// Lower bound.
    pub low: Option<f64>,
    /// Upper bound.
    pub high: Option<f64>,
}

const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `x` successes in `n` trials.
pub fn wilson(x: u64, n: u64) -> Estimate {
    if n == 0 {
        return Estimate {
            value: None,
            low: None,
            high: None,
        };
    }
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Estimate {
        value: Some(p),
        low: Some((centre - half).max(0.0)),
        high: Some((centre + half).min(1.0)),
    }
}

/// Cost per event (`spend / events`) with a delta-method 95 % interval (Poisson events).
pub fn cost_per(spend: f64, events: u64) -> Estimate {
    if events == 0 {
        return Estimate {
            value: None,
            low: None,
            high: None,
        };
    }
    let k = events as f64;
    let c = spend / k;
    // Var(spend/K) ≈ c² · Var(K)/K² = c²/K for Poisson K.
    let half = Z95 * c / k.sqrt();
    Estimate {
        value: Some(c),
        low: Some((c - half).max(0.0)),
        high: Some(c + half),
    }
}

/// The rate a metric is tested on, as (successes, exposure, is_proportion).
/// A variant's estimate of `metric` with its 95 % interval: Wilson for the rates, the delta
/// method for the costs.
pub fn estimate(metric: PrimaryMetric, t: &Totals) -> Estimate {
    match metric {
        PrimaryMetric::Ctr => wilson(t.clicks, t.impressions),
        PrimaryMetric::ConversionRate => wilson(t.conversions, t.clicks),
        PrimaryMetric::Cpc => cost_per(t.spend_usd, t.clicks),
        PrimaryMetric::Cpa => cost_per(t.spend_usd, t.conversions),
    }
}

fn rate_terms(metric: PrimaryMetric, t: &Totals) -> (f64, f64, bool) {
    match metric {
        PrimaryMetric::Ctr => (t.clicks as f64, t.impressions as f64, true),
        PrimaryMetric::ConversionRate => (t.conversions as f64, t.clicks as f64, true),
        PrimaryMetric::Cpc => (t.clicks as f64, t.spend_usd, false),
        PrimaryMetric::Cpa => (t.conversions as f64, t.spend_usd, false),
    }
}

/// The always-valid mSPRT p-value for "treatment's rate ≠ control's rate" on the data so far.
/// Returns 1 when there is no data to compare.
pub fn msprt_p_value(metric: PrimaryMetric, control: &Totals, treatment: &Totals) -> f64 {
    let (xc, nc, prop) = rate_terms(metric, control);
    let (xt, nt, _) = rate_terms(metric, treatment);
    if nc <= 0.0 || nt <= 0.0 || xc + xt <= 0.0 {
        return 1.0;
    }
    let (rc, rt) = (xc / nc, xt / nt);
    let pooled = (xc + xt) / (nc + nt);
    // Variance of the difference under the pooled rate (stable at small counts).
    let var = if prop {
        pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt)
    } else {
        pooled * (1.0 / nc + 1.0 / nt)
    };
    if var <= 0.0 {
        return 1.0;
    }
    // Mixing scale: effects of the order of 20 % of the baseline rate are what we look for.
    let tau2 = (0.2 * pooled).powi(2);
    let diff = rt - rc;
    let log_lambda =
        0.5 * (var / (var + tau2)).ln() + diff * diff * tau2 / (2.0 * var * (var + tau2));
    (-log_lambda).exp().min(1.0)
}

/// The verdict on the data so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// One variant is better than the others with confidence.
    Winner,
    /// Enough data, no detectable difference (yet).
    NoDifference,
    /// Some variant has not reached the minimum data.
    InsufficientData,
}

impl Verdict {
    /// The API's name of the verdict.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Winner => "winner",
            Verdict::NoDifference => "no_difference",
            Verdict::InsufficientData => "insufficient_data",
        }
    }
}

/// The rules the verdict applies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Overall false-winner rate (default 0.05).
    pub alpha: f64,
    /// Minimum impressions per variant before any verdict.
    pub min_impressions: u64,
    /// Minimum conversions per variant before any verdict (conversion metrics).
    pub min_conversions: u64,
}

/// A verdict with its winner (index into the variants) and the p-values of each treatment.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The winning variant, when there is one.
    pub winner: Option<usize>,
    /// Always-valid p-value of each variant against the control (`None` for the control).
    pub p_values: Vec<Option<f64>>,
}

fn better(metric: PrimaryMetric, a: &Totals, b: &Totals) -> bool {
    let (xa, na, _) = rate_terms(metric, a);
    let (xb, nb, _) = rate_terms(metric, b);
    na > 0.0 && nb > 0.0 && xa / na > xb / nb
}

/// Applies the sequential rule to `variants` (`control` is the index of the control).
pub fn decide(
    metric: PrimaryMetric,
    rules: &Rules,
    control: usize,
    variants: &[Totals],
) -> Decision {
    let p_values: Vec<Option<f64>> = variants
        .iter()
        .enumerate()
        .map(|(i, t)| (i != control).then(|| msprt_p_value(metric, &variants[control], t)))
        .collect();
    let needs_conversions = matches!(metric, PrimaryMetric::ConversionRate | PrimaryMetric::Cpa);
    let enough = variants.iter().all(|t| {
        t.impressions >= rules.min_impressions
            && (!needs_conversions || t.conversions >= rules.min_conversions)
    });
    if !enough {
        return Decision {
            verdict: Verdict::InsufficientData,
            winner: None,
            p_values,
        };
    }
    let treatments = (variants.len() - 1).max(1) as f64;
    let threshold = rules.alpha / treatments;
    let significant = |i: usize| p_values[i].is_some_and(|p| p <= threshold);
    // A treatment that beats the control significantly: the best such one wins.
    let mut winners: Vec<usize> = (0..variants.len())
        .filter(|&i| {
            i != control && significant(i) && better(metric, &variants[i], &variants[control])
        })
        .collect();
    winners.sort_by(|&a, &b| {
        let (xa, na, _) = rate_terms(metric, &variants[a]);
        let (xb, nb, _) = rate_terms(metric, &variants[b]);
        (xb / nb).total_cmp(&(xa / na))
    });
    if let Some(&w) = winners.first() {
        return Decision {
            verdict: Verdict::Winner,
            winner: Some(w),
            p_values,
        };
    }
    // The control beats every treatment significantly.
    let control_wins = (0..variants.len())
        .filter(|&i| i != control)
        .all(|i| significant(i) && better(metric, &variants[control], &variants[i]));
    if control_wins && variants.len() > 1 {
        return Decision {
            verdict: Verdict::Winner,
            winner: Some(control),
            p_values,
        };
    }
    Decision {
        verdict: Verdict::NoDifference,
        winner: None,
        p_values,
    }
}

/// Posterior probability that each variant is best (descriptive), from `draws` Monte-Carlo draws
/// seeded by `seed`.
pub fn p_best(metric: PrimaryMetric, variants: &[Totals], seed: u64, draws: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wins = vec![0usize; variants.len()];
    for _ in 0..draws {
        let mut best = (f64::NEG_INFINITY, 0);
        for (i, t) in variants.iter().enumerate() {
            let (x, n, prop) = rate_terms(metric, t);
            let draw = if prop {
                let a = gamma(&mut rng, 1.0 + x);
                let b = gamma(&mut rng, 1.0 + (n - x).max(0.0));
                a / (a + b)
            } else {
                gamma(&mut rng, 1.0 + x) / n.max(1e-9)
            };
            if draw > best.0 {
                best = (draw, i);
            }
        }
        wins[best.1] += 1;
    }
    wins.iter().map(|&w| w as f64 / draws as f64).collect()
}

/// A Gamma(shape, 1) draw (Marsaglia–Tsang; boosted for shape < 1).
fn gamma(rng: &mut StdRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_metric_names_are_serdes() {
        for m in PrimaryMetric::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_a_hand_calculation() {
        // 30 clicks in 1 000 impressions: p = 0.03; Wilson 95 %: [0.02107, 0.04257].
        let e = wilson(30, 1000);
        assert_eq!(e.value, Some(0.03));
        assert!(close(e.low.unwrap(), 0.021_07, 1e-4), "{e:?}");
        assert!(close(e.high.unwrap(), 0.042_57, 1e-4), "{e:?}");
        assert_eq!(wilson(0, 0).value, None);
    }

    #[test]
    fn cost_interval_matches_a_hand_calculation() {
        // 100 USD for 25 conversions: CPA 4.0, ± 1.96 · 4 / 5 = ± 1.568.
        let e = cost_per(100.0, 25);
        assert_eq!(e.value, Some(4.0));
        assert!(close(e.low.unwrap(), 2.432, 1e-3) && close(e.high.unwrap(), 5.568, 1e-3));
        assert_eq!(cost_per(10.0, 0).value, None);
    }

    #[test]
    fn msprt_matches_a_hand_calculation() {
        // Control 200/10 000, treatment 260/10 000: pooled 0.023, var = 0.023·0.977·2e-4
        // = 4.4942e-6, τ² = (0.0046)² = 2.116e-5, var + τ² = 2.56542e-5, diff = 0.006.
        // log Λ = ½ ln(4.4942e-6 / 2.56542e-5) + 3.6e-5 · 2.116e-5 / (2 · 4.4942e-6 · 2.56542e-5)
        //       = −0.87096 + 3.30352 = 2.43256 → p = e^−2.43256 = 0.08781.
        let c = Totals {
            impressions: 10_000,
            clicks: 200,
            ..Default::default()
        };
        let t = Totals {
            impressions: 10_000,
            clicks: 260,
            ..Default::default()
        };
        let p = msprt_p_value(PrimaryMetric::Ctr, &c, &t);
        assert!(close(p, 0.087_81, 5e-5), "{p}");
        assert_eq!(
            msprt_p_value(PrimaryMetric::Ctr, &Totals::default(), &t),
            1.0
        );
    }

    /// A tiny deterministic Poisson/binomial simulator for the sequential-validity checks.
    fn simulate(seed: u64, ctr_a: f64, ctr_b: f64, hours: usize, per_hour: u64) -> bool {
        let mut rng = StdRng::seed_from_u64(seed);
        let rules = Rules {
            alpha: 0.05,
            min_impressions: 1_000,
            min_conversions: 0,
        };
        let mut v = [Totals::default(), Totals::default()];
        for _ in 0..hours {
            for (i, ctr) in [ctr_a, ctr_b].into_iter().enumerate() {
                // Binomial(per_hour, ctr) via its normal approximation, rounded and clamped.
                let mean = per_hour as f64 * ctr;
                let sd = (mean * (1.0 - ctr)).sqrt();
                let clicks = (mean + sd * normal(&mut rng))
                    .round()
                    .clamp(0.0, per_hour as f64) as u64;
                v[i].impressions += per_hour;
                v[i].clicks += clicks;
            }
            // Looked at every hour: a winner called at any look counts.
            if decide(PrimaryMetric::Ctr, &rules, 0, &v).verdict == Verdict::Winner {
                return true;
            }
        }
        false
    }

    #[test]
    fn a_a_runs_looked_at_hourly_call_a_winner_at_most_5_percent_of_the_time() {
        let runs = 1_000;
        let false_winners = (0..runs)
            .filter(|&s| simulate(s, 0.02, 0.02, 168, 400))
            .count();
        let rate = false_winners as f64 / runs as f64;
        println!("A/A false-winner rate with hourly looks over a week: {rate:.3}");
        assert!(rate <= 0.05, "{rate}");
    }

    #[test]
    fn a_real_20_percent_ctr_lift_is_found_in_most_runs() {
        let runs = 500;
        let found = (0..runs)
            .filter(|&s| simulate(10_000 + s, 0.02, 0.024, 168, 400))
            .count();
        let power = found as f64 / runs as f64;
        println!(
            "power for a 20% CTR lift (2.0% → 2.4%, 400 impressions/variant/hour, one week): {power:.3}"
        );
        assert!(power >= 0.8, "{power}");
    }

    #[test]
    fn verdict_rules() {
        let rules = Rules {
            alpha: 0.05,
            min_impressions: 1_000,
            min_conversions: 10,
        };
        let small = Totals {
            impressions: 500,
            clicks: 10,
            ..Default::default()
        };
        let v = [small.clone(), small];
        assert_eq!(
            decide(PrimaryMetric::Ctr, &rules, 0, &v).verdict,
            Verdict::InsufficientData
        );
        let c = Totals {
            impressions: 100_000,
            clicks: 2_000,
            conversions: 100,
            spend_usd: 2_000.0,
        };
        let t = Totals {
            impressions: 100_000,
            clicks: 2_600,
            conversions: 100,
            spend_usd: 2_000.0,
        };
        let d = decide(PrimaryMetric::Ctr, &rules, 0, &[c.clone(), t.clone()]);
        assert_eq!((d.verdict, d.winner), (Verdict::Winner, Some(1)));
        // The same data judged by CPA (equal conversions and spend): no difference.
        assert_eq!(
            decide(PrimaryMetric::Cpa, &rules, 0, &[c.clone(), t.clone()]).verdict,
            Verdict::NoDifference
        );
        // Control better than the only treatment: the control wins.
        let d = decide(PrimaryMetric::Ctr, &rules, 1, &[c, t]);
        assert_eq!((d.verdict, d.winner), (Verdict::Winner, Some(1)));
    }

    #[test]
    fn p_best_is_deterministic_and_sums_to_one() {
        let a = Totals {
            impressions: 10_000,
            clicks: 200,
            ..Default::default()
        };
        let b = Totals {
            impressions: 10_000,
            clicks: 260,
            ..Default::default()
        };
        let p = p_best(PrimaryMetric::Ctr, &[a.clone(), b.clone()], 7, 4_000);
        assert_eq!(p, p_best(PrimaryMetric::Ctr, &[a, b], 7, 4_000));
        assert!(close(p.iter().sum::<f64>(), 1.0, 1e-9));
        // P(B best) for 2.6 % vs 2.0 % on 10 000 each is about 0.998.
        assert!(p[1] > 0.99, "{p:?}");
    }
}
