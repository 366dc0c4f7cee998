//! Median, minimum and maximum of a row's samples.

/// Iterations per row (odd, so the median is one sample).
pub const ITERATIONS: usize = 101;

/// A row's figures.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// The middle sample.
    pub median: u64,
    /// The smallest sample.
    pub min: u64,
    /// The largest sample.
    pub max: u64,
}

/// Sorts `v` and summarises it, each figure divided by `per` (rounded).
pub fn summarise(v: &mut [u64], per: u64) -> Summary {
    v.sort_unstable();
    let div = |x: u64| (x + per / 2) / per;
    Summary { median: div(v[v.len() / 2]), min: div(v[0]), max: div(v[v.len() - 1]) }
}
