//! CSV beside every figure: a header row, then one row per value, numbers in full precision.

/// A CSV table being built.
pub struct Csv {
    text: String,
    columns: usize,
}

impl Csv {
    pub fn new(header: &[&str]) -> Self {
        let mut csv = Csv { text: String::new(), columns: header.len() };
        csv.push(header.iter().map(|h| h.to_string()).collect());
        csv
    }

    /// Appends a row of as many cells as the header has.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.columns, "csv: a row of {} cells under {} columns", cells.len(), self.columns);
        self.push(cells);
    }

    fn push(&mut self, cells: Vec<String>) {
        let quoted: Vec<String> =
            cells.into_iter().map(|c| if c.contains([',', '"', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c }).collect();
        self.text.push_str(&quoted.join(","));
        self.text.push('\n');
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// A number as CSV shows it: the shortest decimal that reads back the same, empty for NaN.
pub fn num(v: f64) -> String {
    if v.is_nan() { String::new() } else { format!("{v}") }
}
