//! The progress bar both long-running commands draw on a terminal (stderr, redrawn in place).

/// The bar's line for `done` of `total`, without a newline: `\r[####....] done/total what`.
pub fn line(done: u64, total: u64, what: &str) -> String {
    let width = 40u64;
    let filled = (done.min(total) * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    format!(
        "\r[{}{}] {done}/{total} {what}",
        "#".repeat(usize::try_from(filled).unwrap_or(0)),
        ".".repeat(usize::try_from(width - filled).unwrap_or(0))
    )
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn the_bar_fills_in_proportion_and_never_overflows() {
        assert_eq!(
            line(0, 10, "payments"),
            format!("\r[{}] 0/10 payments", ".".repeat(40))
        );
        assert_eq!(
            line(5, 10, "x"),
            format!("\r[{}{}] 5/10 x", "#".repeat(20), ".".repeat(20))
        );
        assert_eq!(line(12, 10, "x"), format!("\r[{}] 12/10 x", "#".repeat(40)));
        assert_eq!(line(0, 0, "x"), format!("\r[{}] 0/0 x", "#".repeat(40)));
    }
}
