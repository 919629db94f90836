//! How large a model, a tensor or an input file may be before Retort refuses it: checked before
//! anything of that size is allocated, so a typo in a spec or a crafted header is an error line,
//! not an abort. `RETORT_MAX_GB` sets it (default 4).

/// How to raise the limit, for messages.
pub const HOW_TO_RAISE: &str = "RETORT_MAX_GB raises the limit";

/// The most bytes one model, tensor or decoded input may take.
pub fn max_bytes() -> u64 {
    static MAX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let gb = std::env::var("RETORT_MAX_GB").ok().and_then(|v| v.parse::<f64>().ok()).filter(|g| *g > 0.0 && g.is_finite());
        (gb.unwrap_or(4.0) * (1u64 << 30) as f64) as u64
    })
}

/// `n` bytes for a message: `4.0 GB`.
pub fn describe(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64)
}
