//! netem's delay distributions: the tables tc sends the kernel, and the draw netem makes
//! from them, so that the userspace delay line shapes jitter exactly as the kernel does.
//!
//! A table holds 4096 signed samples of the distribution's inverse CDF in units of
//! 1/8192 of a standard deviation; a delay is `delay + jitter * table[random % 4096] /
//! 8192` (the kernel's `tabledist`). tc reads the tables from files iproute2 generates
//! at build time (`netem/normal.c`, `pareto.c`, `paretonormal.c`) and installs under
//! `/usr/lib/tc` or `/usr/lib/<arch>/tc`. netlab computes them the same way instead of
//! reading those files, so it needs no iproute2 at run time and no copy of the data;
//! a test checks that they equal the installed files value for value where they exist.

use std::sync::OnceLock;

use super::Distribution;

/// `NETEM_DIST_SCALE`: table values are standard deviations times this.
pub const SCALE: i64 = 8192;
/// Entries per table.
pub const TABLE_SIZE: usize = 4096;

/// The generators' resolution: the normal CDF is sampled at 16384 points.
const POINTS: usize = 16384;
/// The Pareto shape parameter iproute2 uses.
const PARETO_A: f64 = 3.0;

/// The table netem draws from for `d`; `None` for uniform, which needs none.
pub fn table(d: Distribution) -> Option<&'static [i16]> {
    static NORMAL: OnceLock<Vec<i16>> = OnceLock::new();
    static PARETO: OnceLock<Vec<i16>> = OnceLock::new();
    static PARETONORMAL: OnceLock<Vec<i16>> = OnceLock::new();
    match d {
        Distribution::Uniform => None,
        Distribution::Normal => Some(NORMAL.get_or_init(normal)),
        Distribution::Pareto => Some(PARETO.get_or_init(pareto)),
        Distribution::ParetoNormal => Some(PARETONORMAL.get_or_init(paretonormal)),
    }
}

/// C's `rint` in the default rounding mode: halves go to the even neighbour.
fn rint(x: f64) -> f64 {
    x.round_ties_even()
}

fn clamp_i16(v: i64) -> i16 {
    v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// For each of the 16384 CDF points, the last x (stepping from -10 by 0.00005, as
/// `normal.c` does, accumulation error included) whose normal CDF rounds to it.
fn normal_points() -> Vec<f64> {
    let mut points = vec![0.0f64; POINTS + 1];
    let mut x = -10.0f64;
    while x < 10.05 {
        let cdf = 0.5 + 0.5 * libm::erf(x / std::f64::consts::SQRT_2);
        let i = rint(POINTS as f64 * cdf) as usize;
        points[i] = x;
        x += 0.00005;
    }
    points
}

fn normal() -> Vec<i16> {
    let points = normal_points();
    (0..POINTS).step_by(4).map(|i| clamp_i16(rint(points[i] * SCALE as f64) as i64)).collect()
}

/// `pareto.c`'s value for the i-th of 65536 steps down from 1.
fn pareto_value(i: i64) -> i64 {
    let d = i as f64 / 65536.0;
    let d = (1.0 / d.powf(1.0 / PARETO_A) - 1.5) * (4.0 / 3.0) * SCALE as f64;
    rint(d.min(32767.0)) as i64
}

fn pareto() -> Vec<i16> {
    (0..TABLE_SIZE as i64).map(|k| clamp_i16(pareto_value(65536 - 16 * k))).collect()
}

fn paretonormal() -> Vec<i16> {
    let points = normal_points();
    (0..POINTS)
        .step_by(4)
        .map(|i| {
            let normal = rint(points[i] * SCALE as f64) as i64;
            let pareto = pareto_value(65536 - 4 * i as i64);
            // C's integer division truncates toward zero, as Rust's does.
            clamp_i16((normal + 3 * pareto) / 4)
        })
        .collect()
}

/// A delay drawn as netem's `tabledist` draws it: `mu` give or take `sigma` (both in
/// nanoseconds), shaped by `d`, from the random value `rnd`. Can be negative (the caller
/// clamps: a frame cannot leave before it came).
pub fn draw(mu: i64, sigma: i64, d: Distribution, rnd: u64) -> i64 {
    if sigma <= 0 {
        return mu;
    }
    match table(d) {
        None => mu - sigma + (rnd % (2 * sigma as u64)) as i64,
        Some(t) => {
            let v = i64::from(t[(rnd % t.len() as u64) as usize]);
            // sigma * v / SCALE, split as the kernel splits it to stay within 64 bits.
            let mut x = (sigma % SCALE) * v;
            x += if x >= 0 { SCALE / 2 } else { -SCALE / 2 };
            x / SCALE + (sigma / SCALE) * v + mu
        }
    }
}

/// Reads a table in tc's `.dist` format: `#` comment lines, then numbers separated by
/// white space (what `tc` itself parses).
pub fn parse_dist_file(text: &str) -> Result<Vec<i16>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for word in line.split_whitespace() {
            out.push(word.parse().map_err(|_| format!("`{word}` is not a 16-bit table value"))?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where distributions' tables live on common systems (tc looks in its build's
    /// LIBDIR/tc, or $TC_LIB_DIR).
    fn installed(name: &str) -> Option<String> {
        let dirs = [std::env::var("TC_LIB_DIR").unwrap_or_default(), "/usr/lib/tc".into(), "/usr/lib64/tc".into()];
        let arch = format!("/usr/lib/{}-linux-gnu/tc", std::env::consts::ARCH);
        dirs.iter()
            .chain(std::iter::once(&arch))
            .filter(|d| !d.is_empty())
            .find_map(|d| std::fs::read_to_string(format!("{d}/{name}.dist")).ok())
    }

    #[test]
    fn tables_equal_iproutes_installed_ones() {
        let mut compared = 0;
        for d in [Distribution::Normal, Distribution::Pareto, Distribution::ParetoNormal] {
            let ours = table(d).unwrap();
            assert_eq!(ours.len(), TABLE_SIZE);
            let Some(text) = installed(d.name()) else { continue };
            let theirs = parse_dist_file(&text).unwrap();
            let differ: Vec<usize> = (0..TABLE_SIZE).filter(|&i| ours[i] != theirs[i]).collect();
            assert_eq!(theirs.len(), TABLE_SIZE, "{d}");
            assert!(differ.is_empty(), "{d}: {} values differ, first at {:?}", differ.len(), differ.first());
            compared += 1;
        }
        if compared == 0 {
            eprintln!("no iproute2 .dist files here: the tables were checked for shape only");
        }
    }

    #[test]
    fn tables_have_their_distributions_shape() {
        let normal = table(Distribution::Normal).unwrap();
        let mean = normal.iter().map(|&v| f64::from(v)).sum::<f64>() / TABLE_SIZE as f64;
        let var = normal.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / TABLE_SIZE as f64;
        assert!(mean.abs() < 50.0, "normal mean {mean}");
        assert!((var.sqrt() / SCALE as f64 - 1.0).abs() < 0.02, "normal sd {}", var.sqrt());
        assert!(normal.windows(2).all(|w| w[0] <= w[1]), "an inverse CDF rises");
        let pareto = table(Distribution::Pareto).unwrap();
        assert!(pareto.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(pareto[0], -5461, "the smallest Pareto value is -2/3 of a deviation");
        assert_eq!(*pareto.last().unwrap(), 32767, "its tail is cut at the table's maximum");
    }

    #[test]
    fn draws_follow_the_kernels_arithmetic() {
        assert_eq!(draw(20_000_000, 0, Distribution::Normal, 12345), 20_000_000);
        // Uniform: mu - sigma + rnd % 2 sigma.
        assert_eq!(draw(100, 10, Distribution::Uniform, 0), 90);
        assert_eq!(draw(100, 10, Distribution::Uniform, 19), 109);
        assert_eq!(draw(100, 10, Distribution::Uniform, 20), 90);
        // A table value of -32768 (normal's first) is -4 sigma.
        assert_eq!(draw(0, 8192, Distribution::Normal, 0), -32768);
        let t = table(Distribution::Normal).unwrap();
        let sigma = 5_000_000i64;
        let got = draw(20_000_000, sigma, Distribution::Normal, 1000);
        let want = 20_000_000 + (sigma as f64 * f64::from(t[1000]) / SCALE as f64).round() as i64;
        assert!((got - want).abs() <= 1, "{got} vs {want}");
    }

    #[test]
    fn dist_files_parse_like_tc() {
        assert_eq!(parse_dist_file("# comment\n 1 -2 3\n\n4\n"), Ok(vec![1, -2, 3, 4]));
        assert!(parse_dist_file("1 x").unwrap_err().contains("`x`"));
        assert!(parse_dist_file("40000").is_err());
    }
}
