//! The HTML page: a header table, then sections of figures with a caption each, all inline.

/// A page being built.
pub struct Page {
    body: String,
}

/// `&`, `<`, `>` and quotes escaped for HTML text and attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Page {
    pub fn new(title: &str) -> Self {
        Page { body: format!("<h1>{}</h1>\n", escape(title)) }
    }

    /// A two-column table of facts.
    pub fn facts(&mut self, rows: &[(&str, String)]) {
        self.body.push_str("<table class=\"facts\">\n");
        for (k, v) in rows {
            self.body.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(v)));
        }
        self.body.push_str("</table>\n");
    }

    /// A section: its title, what its figures show, the figures (SVG markup), and the CSV files
    /// with their numbers.
    pub fn section(&mut self, id: &str, title: &str, caption: &str, figures: &[String], csv: &[&str]) {
        self.body.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n<p>{}</p>\n<div class=\"figures\">\n",
            escape(id),
            escape(title),
            escape(caption)
        ));
        for f in figures {
            self.body.push_str("<figure>");
            self.body.push_str(f);
            self.body.push_str("</figure>\n");
        }
        self.body.push_str("</div>\n");
        if !csv.is_empty() {
            let links: Vec<String> = csv.iter().map(|f| format!("<a href=\"{0}\">{0}</a>", escape(f))).collect();
            self.body.push_str(&format!("<p class=\"data\">Numbers: {}</p>\n", links.join(", ")));
        }
        self.body.push_str("</section>\n");
    }

    /// A paragraph of text.
    pub fn note(&mut self, text: &str) {
        self.body.push_str(&format!("<p class=\"note\">{}</p>\n", escape(text)));
    }

    pub fn finish(self, title: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
            escape(title),
            self.body
        )
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1280px;margin:1.5em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table.facts{border-collapse:collapse}table.facts th{text-align:left;padding:2px 1.2em 2px 0;font-weight:600}\
table.facts td{padding:2px 1.2em 2px 0}.figures{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}\
figure{margin:0}p.data{font-size:.85em;color:#555}p.note{color:#444}";
