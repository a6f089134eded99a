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
//! **Metrics.** CTR = clicks / impressions, conversion rate = conversions / clicks and install
//! rate = installs / impressions (post-view installs need no click, so clicks would not bound
//! them) are proportions (Wilson 95 % intervals, binomial variance). CPC, CPA and CPI are costs:
//! they are tested as their inverse rates — clicks (conversions, installs) per USD, with Poisson
//! variance — so "lower cost" means "higher rate"; their intervals come from the delta method.
//!
//! **P(best)** is Bayesian and descriptive only (never the verdict): Beta posteriors for
//! proportions, Gamma for per-USD rates, from one prior shared by every variant (centred on the
//! pooled rate, worth one observation: `experiments::RESULTS_METHOD` states it), 4 000 Monte-Carlo draws from a
//! generator seeded by the experiment, so the same data always shows the same numbers. It is
//! null until every variant has data: a uniform prior against a concentrated posterior once
//! showed a variant with 0 impressions as 99 % likely best.

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
    /// App installs per impression (higher is better).
    InstallRate,
    /// USD per app install (lower is better).
    Cpi,
}

impl PrimaryMetric {
    /// Every metric an experiment can be judged on, in the API's order.
    pub const ALL: [PrimaryMetric; 6] = [
        PrimaryMetric::Ctr,
        PrimaryMetric::ConversionRate,
        PrimaryMetric::Cpc,
        PrimaryMetric::Cpa,
        PrimaryMetric::InstallRate,
        PrimaryMetric::Cpi,
    ];

    /// The API's name (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            PrimaryMetric::Ctr => "ctr",
            PrimaryMetric::ConversionRate => "conversion_rate",
            PrimaryMetric::Cpc => "cpc",
            PrimaryMetric::Cpa => "cpa",
            PrimaryMetric::InstallRate => "install_rate",
            PrimaryMetric::Cpi => "cpi",
        }
    }

    /// The conversion events of `t` the metric counts (the stop rule's `min_conversions`
    /// applies to them): conversions, installs, or none.
    fn events(self, t: &Totals) -> Option<u64> {
        match self {
            PrimaryMetric::ConversionRate | PrimaryMetric::Cpa => Some(t.conversions),
            PrimaryMetric::InstallRate | PrimaryMetric::Cpi => Some(t.installs),
            PrimaryMetric::Ctr | PrimaryMetric::Cpc => None,
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
    /// Conversions (web).
    pub conversions: u64,
    /// App installs (post-view plus post-engagement; 0 where X was not asked).
    pub installs: u64,
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
        PrimaryMetric::InstallRate => wilson(t.installs, t.impressions),
        PrimaryMetric::Cpi => cost_per(t.spend_usd, t.installs),
    }
}

fn rate_terms(metric: PrimaryMetric, t: &Totals) -> (f64, f64, bool) {
    match metric {
        PrimaryMetric::Ctr => (t.clicks as f64, t.impressions as f64, true),
        PrimaryMetric::ConversionRate => (t.conversions as f64, t.clicks as f64, true),
        PrimaryMetric::Cpc => (t.clicks as f64, t.spend_usd, false),
        PrimaryMetric::Cpa => (t.conversions as f64, t.spend_usd, false),
        PrimaryMetric::InstallRate => (t.installs as f64, t.impressions as f64, true),
        PrimaryMetric::Cpi => (t.installs as f64, t.spend_usd, false),
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
    /// Minimum conversion events per variant before any verdict (conversion metrics count
    /// conversions, install metrics installs).
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
    let enough = variants.iter().all(|t| {
        t.impressions >= rules.min_impressions
            && metric.events(t).is_none_or(|n| n >= rules.min_conversions)
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

/// Whether a variant has any exposure for `metric` (impressions for CTR, clicks for conversion
/// rate, spend for the costs): without it its posterior is the prior alone.
pub fn has_data(metric: PrimaryMetric, t: &Totals) -> bool {
    rate_terms(metric, t).1 > 0.0
}

/// The prior every variant shares for P(best): centred on the pooled rate of all variants and
/// worth one unit of evidence, so it favours no variant and cannot outweigh any variant's own
/// data. For proportions Beta(p̄, 1 − p̄) (one trial's worth), p̄ = (x + ½) / (n + 1) pooled
/// over the variants; for per-USD rates Gamma(1, 1/r̄) (one expected event's worth, the spend
/// that buys it at the pooled rate r̄ = (x + ½) / spend).
fn shared_prior(metric: PrimaryMetric, variants: &[Totals]) -> (f64, f64) {
    let (x, n) = variants.iter().fold((0.0, 0.0), |(x, n), t| {
        let (xi, ni, _) = rate_terms(metric, t);
        (x + xi, n + ni)
    });
    if rate_terms(metric, &Totals::default()).2 {
        let p = (x + 0.5) / (n + 1.0);
        (p, 1.0 - p)
    } else {
        let r = (x + 0.5) / n.max(1e-9);
        (1.0, 1.0 / r)
    }
}

/// Posterior probability that each variant is best (descriptive), from `draws` Monte-Carlo draws
/// seeded by `seed`; `None` until every variant has data ([`has_data`]): before that the
/// comparison would rank a prior against evidence. Posteriors start from [`shared_prior`].
pub fn p_best(
    metric: PrimaryMetric,
    variants: &[Totals],
    seed: u64,
    draws: usize,
) -> Option<Vec<f64>> {
    if variants.is_empty() || !variants.iter().all(|t| has_data(metric, t)) {
        return None;
    }
    let (a0, b0) = shared_prior(metric, variants);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wins = vec![0usize; variants.len()];
    for _ in 0..draws {
        let mut best = (f64::NEG_INFINITY, 0);
        for (i, t) in variants.iter().enumerate() {
            let (x, n, prop) = rate_terms(metric, t);
            let draw = if prop {
                let a = gamma(&mut rng, a0 + x);
                let b = gamma(&mut rng, b0 + (n - x).max(0.0));
                a / (a + b)
            } else {
                gamma(&mut rng, a0 + x) / (b0 + n)
            };
            if draw > best.0 {
                best = (draw, i);
            }
        }
        wins[best.1] += 1;
    }
    Some(wins.iter().map(|&w| w as f64 / draws as f64).collect())
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
            installs: 400,
            spend_usd: 2_000.0,
        };
        let t = Totals {
            impressions: 100_000,
            clicks: 2_600,
            conversions: 100,
            installs: 400,
            spend_usd: 2_000.0,
        };
        let d = decide(PrimaryMetric::Ctr, &rules, 0, &[c.clone(), t.clone()]);
        assert_eq!((d.verdict, d.winner), (Verdict::Winner, Some(1)));
        // The same data judged by CPA (equal conversions and spend): no difference.
        assert_eq!(
            decide(PrimaryMetric::Cpa, &rules, 0, &[c.clone(), t.clone()]).verdict,
            Verdict::NoDifference
        );
        // Nor by installs: equal installs and spend.
        for m in [PrimaryMetric::InstallRate, PrimaryMetric::Cpi] {
            assert_eq!(
                decide(m, &rules, 0, &[c.clone(), t.clone()]).verdict,
                Verdict::NoDifference,
                "{m:?}"
            );
        }
        // Install metrics judge installs: twice the installs for the same spend and impressions
        // wins on install rate and CPI, whatever the conversions say.
        let more_installs = Totals {
            installs: 800,
            conversions: 0,
            ..c.clone()
        };
        for m in [PrimaryMetric::InstallRate, PrimaryMetric::Cpi] {
            let d = decide(m, &rules, 0, &[c.clone(), more_installs.clone()]);
            assert_eq!((d.verdict, d.winner), (Verdict::Winner, Some(1)), "{m:?}");
        }
        // Their minimum counts installs: 9 installs are not enough, with any conversions.
        let few = Totals {
            installs: 9,
            conversions: 1_000,
            ..c.clone()
        };
        assert_eq!(
            decide(PrimaryMetric::Cpi, &rules, 0, &[c.clone(), few.clone()]).verdict,
            Verdict::InsufficientData
        );
        assert_ne!(
            decide(PrimaryMetric::Cpa, &rules, 0, &[c.clone(), few]).verdict,
            Verdict::InsufficientData
        );
        let e = estimate(PrimaryMetric::Cpi, &c);
        assert_eq!(e.value, Some(5.0), "2 000 USD for 400 installs");
        assert_eq!(estimate(PrimaryMetric::InstallRate, &c).value, Some(0.004));
        // Control better than the only treatment: the control wins.
        let d = decide(PrimaryMetric::Ctr, &rules, 1, &[c, t]);
        assert_eq!((d.verdict, d.winner), (Verdict::Winner, Some(1)));
    }

    fn ctr(impressions: u64, clicks: u64) -> Totals {
        Totals {
            impressions,
            clicks,
            ..Default::default()
        }
    }

    /// P(each variant best) by numerical integration, independent of the Monte-Carlo code:
    /// P(i best) = ∫ f_i(x) Π_{j≠i} F_j(x) dx over densities `log_density` (unnormalised,
    /// normalised here on the grid, taking x and ln x). `x_of(s)` maps the grid variable
    /// s ∈ (0, 1) to (x, ln x, ln dx/ds), the logs computed without underflow.
    fn integrate_p_best(
        log_densities: &[&dyn Fn(f64, f64) -> f64],
        x_of: &dyn Fn(f64) -> (f64, f64, f64),
        cells: usize,
    ) -> Vec<f64> {
        let h = 1.0 / cells as f64;
        // Each variant's probability mass per cell (midpoint rule), normalised.
        let mass: Vec<Vec<f64>> = log_densities
            .iter()
            .map(|ld| {
                let logs: Vec<f64> = (0..cells)
                    .map(|c| {
                        let (x, ln_x, ln_dxds) = x_of((c as f64 + 0.5) * h);
                        ld(x, ln_x) + ln_dxds
                    })
                    .collect();
                let top = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
                let total: f64 = w.iter().sum();
                w.into_iter().map(|m| m / total).collect()
            })
            .collect();
        // CDF at each cell's midpoint: the mass below it plus half its own.
        let cdf: Vec<Vec<f64>> = mass
            .iter()
            .map(|m| {
                let mut below = 0.0;
                m.iter()
                    .map(|&mi| {
                        let f = below + mi / 2.0;
                        below += mi;
                        f
                    })
                    .collect()
            })
            .collect();
        (0..mass.len())
            .map(|i| {
                (0..cells)
                    .map(|c| {
                        let others: f64 = (0..mass.len())
                            .filter(|&j| j != i)
                            .map(|j| cdf[j][c])
                            .product();
                        mass[i][c] * others
                    })
                    .sum()
            })
            .collect()
    }

    /// The CTR reference: Beta posteriors under the shared prior as the note states it
    /// (Beta(p̄, 1 − p̄), p̄ = (clicks + ½) / (impressions + 1) pooled), integrated over
    /// x = s^200 so that the spike near 0 of a Beta with a tiny first parameter is resolved.
    fn ctr_reference(variants: &[Totals]) -> Vec<f64> {
        let clicks: f64 = variants.iter().map(|t| t.clicks as f64).sum();
        let imps: f64 = variants.iter().map(|t| t.impressions as f64).sum();
        let p = (clicks + 0.5) / (imps + 1.0);
        let params: Vec<(f64, f64)> = variants
            .iter()
            .map(|t| {
                (
                    p + t.clicks as f64,
                    1.0 - p + (t.impressions - t.clicks) as f64,
                )
            })
            .collect();
        let densities: Vec<Box<dyn Fn(f64, f64) -> f64>> = params
            .iter()
            .map(|&(a, b)| {
                Box::new(move |x: f64, ln_x: f64| (a - 1.0) * ln_x + (b - 1.0) * (-x).ln_1p())
                    as Box<dyn Fn(f64, f64) -> f64>
            })
            .collect();
        let refs: Vec<&dyn Fn(f64, f64) -> f64> = densities.iter().map(|d| d.as_ref()).collect();
        const K: f64 = 200.0;
        integrate_p_best(
            &refs,
            &|s: f64| {
                let ln_x = K * s.ln();
                (ln_x.exp(), ln_x, K.ln() + (K - 1.0) * s.ln())
            },
            400_000,
        )
    }

    fn assert_matches(got: &[f64], want: &[f64]) {
        println!("P(best): Monte Carlo {got:?}, numerical integration {want:?}");
        // 4 000 draws: a standard error of at most 0.008; 0.03 is more than 3.5 of them.
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                close(*g, *w, 0.03),
                "Monte Carlo {got:?}, integration {want:?}"
            );
        }
        assert!(close(want.iter().sum::<f64>(), 1.0, 1e-3), "{want:?}");
    }

    #[test]
    fn p_best_is_null_until_every_variant_has_data() {
        // The case: a treatment with 0 impressions was shown as 99 % likely best
        // against a control with 386 impressions and 4 clicks.
        let control = ctr(386, 4);
        assert_eq!(
            p_best(PrimaryMetric::Ctr, &[control.clone(), ctr(0, 0)], 7, 4_000),
            None
        );
        // Before any data every variant showed ~50 %.
        assert_eq!(
            p_best(PrimaryMetric::Ctr, &[ctr(0, 0), ctr(0, 0)], 7, 4_000),
            None
        );
        // Conversion rate needs clicks; the costs need spend.
        let no_clicks = ctr(1_000, 0);
        assert_eq!(
            p_best(
                PrimaryMetric::ConversionRate,
                &[control.clone(), no_clicks.clone()],
                7,
                4_000
            ),
            None
        );
        assert_eq!(
            p_best(PrimaryMetric::Cpc, &[control.clone(), no_clicks], 7, 4_000),
            None
        );
        // Once the treatment has one impression, P(best) is defined again.
        assert!(p_best(PrimaryMetric::Ctr, &[control, ctr(1, 0)], 7, 4_000).is_some());
    }

    #[test]
    fn p_best_with_tiny_samples_matches_numerical_integration() {
        for variants in [
            // The treatment has seen 3 impressions, no click: the uniform prior ranked it
            // first (Beta(1, 4) against 1 %); the shared prior keeps it below the control.
            vec![ctr(386, 4), ctr(3, 0)],
            // One impression, one click: real, if thin, evidence of a high CTR.
            vec![ctr(386, 4), ctr(1, 1)],
            // 20 impressions and a click against 386 and 4.
            vec![ctr(386, 4), ctr(20, 1)],
            // Three variants, each with a handful.
            vec![ctr(10, 0), ctr(12, 1), ctr(9, 2)],
        ] {
            let got = p_best(PrimaryMetric::Ctr, &variants, 11, 4_000).unwrap();
            assert_matches(&got, &ctr_reference(&variants));
        }
        let thin = p_best(PrimaryMetric::Ctr, &[ctr(386, 4), ctr(3, 0)], 11, 4_000).unwrap();
        assert!(thin[1] < 0.5, "{thin:?}");
    }

    #[test]
    fn a_variant_without_evidence_of_clicks_is_never_ranked_above_one_with_clicks() {
        // Whatever the control's CTR, a treatment with one impression and no click is ranked
        // below it (a uniform prior put it first whenever the control's CTR was below ~40 %).
        for (n, x) in [
            (386, 4),
            (100, 1),
            (10_000, 20),
            (50, 5),
            (5, 1),
            (1_000_000, 3),
        ] {
            let p = p_best(PrimaryMetric::Ctr, &[ctr(n, x), ctr(1, 0)], 3, 4_000).unwrap();
            assert!(p[1] < p[0], "control {x}/{n}: {p:?}");
        }
    }

    #[test]
    fn p_best_with_equal_data_is_even_and_one_far_ahead_is_near_certain() {
        let equal = vec![ctr(5_000, 100), ctr(5_000, 100)];
        let got = p_best(PrimaryMetric::Ctr, &equal, 5, 4_000).unwrap();
        let want = ctr_reference(&equal);
        assert!(close(want[0], 0.5, 1e-3), "{want:?}");
        assert_matches(&got, &want);

        let ahead = vec![ctr(10_000, 200), ctr(10_000, 260), ctr(10_000, 190)];
        let got = p_best(PrimaryMetric::Ctr, &ahead, 5, 4_000).unwrap();
        let want = ctr_reference(&ahead);
        assert!(want[1] > 0.99, "{want:?}");
        assert_matches(&got, &want);
    }

    #[test]
    fn p_best_of_costs_matches_numerical_integration() {
        // CPC: clicks per USD with the shared Gamma(1, 1/r̄) prior, r̄ = (clicks + ½) / spend.
        let variants = vec![
            Totals {
                clicks: 40,
                spend_usd: 20.0,
                ..Default::default()
            },
            Totals {
                clicks: 55,
                spend_usd: 22.0,
                ..Default::default()
            },
            Totals {
                clicks: 0,
                spend_usd: 1.5,
                ..Default::default()
            },
        ];
        let r = (95.0 + 0.5) / 43.5;
        let params: Vec<(f64, f64)> = variants
            .iter()
            .map(|t| (1.0 + t.clicks as f64, 1.0 / r + t.spend_usd))
            .collect();
        let densities: Vec<Box<dyn Fn(f64, f64) -> f64>> = params
            .iter()
            .map(|&(a, b)| {
                Box::new(move |x: f64, ln_x: f64| (a - 1.0) * ln_x - b * x)
                    as Box<dyn Fn(f64, f64) -> f64>
            })
            .collect();
        let refs: Vec<&dyn Fn(f64, f64) -> f64> = densities.iter().map(|d| d.as_ref()).collect();
        // Rates up to 40 clicks per USD (every posterior's mean is under 3).
        let want = integrate_p_best(
            &refs,
            &|s: f64| (40.0 * s, (40.0 * s).ln(), 40f64.ln()),
            400_000,
        );
        let got = p_best(PrimaryMetric::Cpc, &variants, 9, 4_000).unwrap();
        assert_matches(&got, &want);
        // The variant that spent 1.50 USD for no click is not ranked first.
        assert!(got[2] < got[1], "{got:?}");
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
        let p = p_best(PrimaryMetric::Ctr, &[a.clone(), b.clone()], 7, 4_000).unwrap();
        assert_eq!(
            Some(p.clone()),
            p_best(PrimaryMetric::Ctr, &[a, b], 7, 4_000)
        );
        assert!(close(p.iter().sum::<f64>(), 1.0, 1e-9));
        // P(B best) for 2.6 % vs 2.0 % on 10 000 each is about 0.998.
        assert!(p[1] > 0.99, "{p:?}");
    }
}
