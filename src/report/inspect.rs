//! The `inspect` report: what the teacher's soft targets carry and how the student follows them.

use super::csv::{Csv, num};
use super::html::Page;
use super::plot::{self, Labels};
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::study::Inspection;
use std::path::{Path, PathBuf};

/// A model as the report's header shows it.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub spec: String,
    pub params: usize,
    /// Its checkpoint and the checkpoint's size in bytes, when it was read from one.
    pub checkpoint: Option<(PathBuf, u64)>,
}

/// What the report says about where its numbers came from.
#[derive(Clone, Debug)]
pub struct ReportHeader {
    pub teacher: ModelInfo,
    pub student: Option<ModelInfo>,
    /// The data set, in words.
    pub data: String,
}

/// Writes `dir/report.html` and its CSV files, each written whole (temporary file, then
/// rename), the page last. Returns the files written.
pub fn write_inspection(dir: &Path, inspection: &Inspection, header: &ReportHeader) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (page, files) = build(inspection, header)?;
    let mut written = Vec::new();
    for (name, text) in files.iter().chain([&("report.html".to_string(), page)]) {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

fn build(r: &Inspection, header: &ReportHeader) -> Result<(String, Vec<(String, String)>)> {
    let classes: Vec<String> = (0..r.classes).map(|c| c.to_string()).collect();
    let (t, alpha) = (r.config.temperature, r.config.alpha);
    const TITLE: &str = "Inside a distillation";
    let mut page = Page::new(TITLE);
    let mut files = Vec::new();
    let describe = |m: &ModelInfo| match &m.checkpoint {
        Some((path, bytes)) => format!("{} ({} parameters; {}, {bytes} bytes)", m.spec, m.params, path.display()),
        None => format!("{} ({} parameters)", m.spec, m.params),
    };
    let mut facts = vec![("teacher", describe(&header.teacher))];
    if let Some(s) = &header.student {
        facts.push(("student", describe(s)));
    }
    facts.push(("data", format!("{} ({} test examples)", header.data, r.examples)));
    let mut errors = format!("teacher {} ({:.2}%)", r.teacher_errors, 100.0 * r.teacher_errors as f64 / r.examples as f64);
    if let Some(s) = &r.student {
        errors += &format!(", student {} ({:.2}%)", s.errors, 100.0 * s.errors as f64 / r.examples as f64);
    }
    facts.push(("test errors", errors));
    let temperatures: Vec<String> = r.config.temperatures.iter().map(|t| t.to_string()).collect();
    facts.push(("temperatures", temperatures.join(", ")));
    facts.push(("T and alpha of the matrices and gradients", format!("T = {t}, alpha = {alpha}")));
    facts.push(("measured in", format!("{:.2} s", r.seconds)));
    page.facts(&facts);

    // 1. Soft targets.
    let st = &r.soft_targets;
    let mut csv = Csv::new(&["example", "kind", "label", "teacher_class", "temperature", "class", "probability"]);
    let mut figures = Vec::new();
    let image_dims = image_dims(&r.example_dims);
    for e in &st.examples {
        let name = format!("#{} ({}), label {}", e.index, e.kind.describe(), e.label);
        let series: Vec<(String, Vec<f64>)> = st.temperatures.iter().zip(&e.probs).map(|(t, p)| (format!("T = {t}"), p.clone())).collect();
        let labels = Labels { title: &name, x: "class", y: "teacher probability" };
        let bars = plot::grouped_bars(labels, &classes, &series, (480, 250))?;
        // The digit beside its bars, in one figure.
        figures.push(match image_dims {
            Some((h, w)) => plot::image(&format!("test example #{}", e.index), &e.image, h, w, (120, 140))? + &bars,
            None => bars,
        });
        for (t, p) in st.temperatures.iter().zip(&e.probs) {
            for (c, v) in p.iter().enumerate() {
                csv.row(vec![
                    e.index.to_string(),
                    e.kind.describe().into(),
                    e.label.to_string(),
                    e.predicted.to_string(),
                    t.to_string(),
                    c.to_string(),
                    num(*v),
                ]);
            }
        }
    }
    page.section(
        "soft-targets",
        "1. Soft targets",
        "The teacher's distribution over the classes at each temperature, for its most and least confident test examples and those it finds most like a second class. Raising T lifts the small probabilities that carry which wrong classes an example resembles.",
        &figures,
        &["soft_targets.csv"],
    );
    files.push(("soft_targets.csv".into(), csv.finish()));

    // 2. Entropy.
    let en = &r.entropy;
    let points = |v: &[f64]| en.temperatures.iter().zip(v).map(|(&t, &h)| (t as f64, h)).collect::<Vec<_>>();
    let log_x = en.temperatures.len() > 1 && en.temperatures.iter().all(|&t| t > 0.0);
    let figures = vec![
        plot::lines(
            Labels { title: "Mean entropy of softmax(z / T)", x: "temperature T", y: "entropy (nats)" },
            &[("entropy".into(), points(&en.entropy))],
            log_x,
            (480, 300),
        )?,
        plot::lines(
            Labels { title: "Effective number of classes", x: "temperature T", y: "exp(entropy)" },
            &[("effective classes".into(), points(&en.effective_classes))],
            log_x,
            (480, 300),
        )?,
    ];
    let mut csv = Csv::new(&["temperature", "mean_entropy_nats", "effective_classes"]);
    for ((t, h), k) in en.temperatures.iter().zip(&en.entropy).zip(&en.effective_classes) {
        csv.row(vec![t.to_string(), num(*h), num(*k)]);
    }
    page.section(
        "entropy",
        "2. Entropy against temperature",
        "How soft the teacher's targets are at each T: the mean entropy over the test set, and exp of it, the number of classes they effectively spread over (1: one-hot; all classes: uniform).",
        &figures,
        &["entropy.csv"],
    );
    files.push(("entropy.csv".into(), csv.finish()));

    // 3. Dark knowledge.
    let title = format!("Teacher's mean probability at T = {t}");
    let figure =
        plot::heat_map(Labels { title: &title, x: "class", y: "true class" }, &classes, &classes, &r.dark_knowledge, 3, (620, 520))?;
    let mut csv = Csv::new(&["true_class", "class", "mean_probability"]);
    for (e, v) in r.dark_knowledge.iter().enumerate() {
        csv.row(vec![(e / r.classes).to_string(), (e % r.classes).to_string(), num(*v)]);
    }
    page.section(
        "dark-knowledge",
        "3. Dark knowledge",
        "For the test examples of each true class (row), the teacher's mean probability on every other class (column); the diagonal is left out. Bright cells are the classes the teacher thinks resemble each other: what the soft targets teach beyond the label.",
        &[figure],
        &["dark_knowledge.csv"],
    );
    files.push(("dark_knowledge.csv".into(), csv.finish()));

    match &r.student {
        None => page.note("No student given (--student): sections 4 and 5 compare a student with its teacher."),
        Some(s) => {
            // 4. Student against teacher.
            let c = &s.classes;
            let rate = |e: &[usize]| {
                e.iter()
                    .zip(&c.class_counts)
                    .map(|(&e, &n)| if n == 0 { f64::NAN } else { 100.0 * e as f64 / n as f64 })
                    .collect::<Vec<_>>()
            };
            let series = vec![("teacher".to_string(), rate(&c.teacher_errors)), ("student".to_string(), rate(&c.student_errors))];
            let disagreement: Vec<f64> = c.disagreement.iter().map(|&n| n as f64).collect();
            let disagreement: Vec<f64> =
                disagreement.iter().enumerate().map(|(e, &v)| if e / r.classes == e % r.classes { f64::NAN } else { v }).collect();
            let figures = vec![
                plot::grouped_bars(
                    Labels { title: "Test error by true class", x: "true class", y: "test error (%)" },
                    &classes,
                    &series,
                    (620, 300),
                )?,
                plot::heat_map(
                    Labels { title: "Where they disagree (examples)", x: "student's class", y: "teacher's class" },
                    &classes,
                    &classes,
                    &disagreement,
                    0,
                    (560, 480),
                )?,
                plot::heat_map(
                    Labels { title: "Mean |z_s - z_t| by true class", x: "logit of class", y: "true class" },
                    &classes,
                    &classes,
                    &c.logit_gap,
                    2,
                    (560, 480),
                )?,
            ];
            let mut errors_csv = Csv::new(&["class", "examples", "teacher_errors", "student_errors"]);
            for k in 0..r.classes {
                errors_csv.row(vec![
                    k.to_string(),
                    c.class_counts[k].to_string(),
                    c.teacher_errors[k].to_string(),
                    c.student_errors[k].to_string(),
                ]);
            }
            let mut dis_csv = Csv::new(&["teacher_class", "student_class", "examples"]);
            let mut gap_csv = Csv::new(&["true_class", "logit_class", "mean_abs_logit_gap"]);
            for e in 0..r.classes * r.classes {
                let (i, j) = ((e / r.classes).to_string(), (e % r.classes).to_string());
                dis_csv.row(vec![i.clone(), j.clone(), c.disagreement[e].to_string()]);
                gap_csv.row(vec![i, j, num(c.logit_gap[e])]);
            }
            page.section(
                "student",
                "4. Student against teacher",
                "Each model's test error per true class; on the examples where they pick different classes, which class each picks; and how far the student's logits are from the teacher's, by true class and logit.",
                &figures,
                &["per_class_errors.csv", "disagreement.csv", "logit_gap.csv"],
            );
            files.push(("per_class_errors.csv".into(), errors_csv.finish()));
            files.push(("disagreement.csv".into(), dis_csv.finish()));
            files.push(("logit_gap.csv".into(), gap_csv.finish()));

            // 5. Gradient split.
            let g = &s.gradients;
            // Norms span decades (a well-fit example's hard part is near 0): their logarithms.
            let log10 = |v: &[f64]| v.iter().map(|x| if *x > 0.0 { x.log10() } else { f64::NAN }).collect::<Vec<_>>();
            let norms = vec![("hard part".to_string(), log10(&g.hard_norm)), ("soft part".to_string(), log10(&g.soft_norm))];
            let share = vec![("soft part on the true class".to_string(), g.soft_true_share.clone())];
            let figures = vec![
                plot::histograms(
                    Labels { title: "Per-example gradient norm on the logits", x: "log10 of the L2 norm", y: "examples" },
                    &norms,
                    40,
                    (560, 320),
                )?,
                plot::histograms(
                    Labels { title: "Share of the soft part on the true class", x: "share of |gradient|", y: "examples" },
                    &share,
                    40,
                    (560, 320),
                )?,
            ];
            let mut csv = Csv::new(&["example", "hard_norm", "soft_norm", "soft_true_class_share"]);
            for i in 0..g.hard_norm.len() {
                csv.row(vec![i.to_string(), num(g.hard_norm[i]), num(g.soft_norm[i]), num(g.soft_true_share[i])]);
            }
            let mean =
                |v: &[f64]| v.iter().filter(|x| x.is_finite()).sum::<f64>() / v.iter().filter(|x| x.is_finite()).count().max(1) as f64;
            page.section(
                "gradients",
                "5. The gradient on the student's logits",
                &format!(
                    "Hinton's loss at T = {t}, alpha = {alpha}, split per test example into its hard part (1 - alpha)(softmax(z_s) - y) and its soft part alpha T (softmax(z_s / T) - softmax(z_t / T)). The soft part's share on the true class rescales the example; the rest carries the relations between classes. Means: hard {:.4}, soft {:.4}, soft share on the true class {:.3}.",
                    mean(&g.hard_norm),
                    mean(&g.soft_norm),
                    mean(&g.soft_true_share)
                ),
                &figures,
                &["gradients.csv"],
            );
            files.push(("gradients.csv".into(), csv.finish()));
        }
    }
    Ok((page.finish(TITLE), files))
}

/// Height and width of one-channel images, if the examples are.
fn image_dims(dims: &[usize]) -> Option<(usize, usize)> {
    match *dims {
        [h, w] => Some((h, w)),
        [h, w, 1] | [1, h, w] => Some((h, w)),
        _ => None,
    }
}
