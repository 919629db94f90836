//! The `bench kernels` report: each kernel's share of the limit it was held to, and the GEMMs
//! on a roofline of the machine's FMA peaks and memory bandwidth, all measured in the run,
//! beside `kernels.csv`.

use super::csv::{Csv, num};
use super::html::Page;
use super::plot::{self, Labels, Roof};
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::kernel_bench::{ADD, COPY, KernelBenchRecord, KernelTiming};
use crate::pytorch_figures::{PytorchFigures, pytorch_us};
use std::path::{Path, PathBuf};

/// Writes `dir/kernels.csv` and `dir/report.html` for `record` (`command`: how it was run), and
/// with PyTorch's figures `dir/against_pytorch.csv`, each written whole, the page last; returns
/// their paths.
pub fn write_kernel_report(
    dir: &Path, record: &KernelBenchRecord, command: &str, pytorch: Option<&PytorchFigures>,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    let against: Vec<(&KernelTiming, f64)> = match pytorch {
        Some(figures) => record.kernels.iter().filter_map(|k| Some((k, pytorch_us(figures, k)?))).collect(),
        None => Vec::new(),
    };
    if pytorch.is_some() {
        let mut csv = Csv::new(&["kernel", "shape", "retort_us", "pytorch_us", "times_faster"]);
        for (k, theirs) in &against {
            csv.row(vec![k.kernel.clone(), k.shape.clone(), num(k.median_us), num(*theirs), num(theirs / k.median_us)]);
        }
        let path = dir.join("against_pytorch.csv");
        write_atomic(&path, csv.finish().as_bytes())?;
        written.push(path);
    }
    let mut csv = Csv::new(&["kernel", "shape", "path", "median_us", "gflops", "gbps", "bytes", "roofline_us", "percent_of_roofline"]);
    let opt = |v: Option<f64>| v.map_or(String::new(), num);
    for k in &record.kernels {
        csv.row(vec![
            k.kernel.clone(),
            k.shape.clone(),
            k.path.clone(),
            num(k.median_us),
            opt(k.gflops),
            opt(k.gbps),
            opt(k.bytes),
            opt(k.roofline_us),
            opt(k.percent_of_roofline),
        ]);
    }
    let (table, report) = (dir.join("kernels.csv"), dir.join("report.html"));
    write_atomic(&table, csv.finish().as_bytes())?;
    write_atomic(&report, page(record, command, pytorch.map(|p| (p, against.as_slice())))?.as_bytes())?;
    written.extend([table, report]);
    Ok(written)
}

/// A kernel's name in a figure: what it is and its shape, without the shape's gloss.
fn short_name(k: &KernelTiming) -> String {
    let shape = k.shape.split(", ").next().unwrap_or(&k.shape);
    format!("{} {shape}", k.kernel)
}

/// Whether `k` is one of the limits themselves (the copy and the add), not a kernel held to one.
fn is_roofline(k: &KernelTiming) -> bool {
    k.kernel == COPY || k.kernel == ADD
}

/// PyTorch's figures, and each kernel of the run they match with PyTorch's time in us.
type Against<'a> = (&'a PytorchFigures, &'a [(&'a KernelTiming, f64)]);

fn page(record: &KernelBenchRecord, command: &str, pytorch: Option<Against>) -> Result<String> {
    const TITLE: &str = "Each kernel against the machine's limit";
    let mut page = Page::new(TITLE);
    let mut facts =
        vec![("device", record.device_name.clone()), ("timed by", format!("{} clock, the median of repeated calls", record.timer))];
    for p in &record.fma_peaks {
        facts.push(("FMA peak", format!("{:.1} GFLOP/s with {} (measured in this run)", p.gflops, p.path)));
    }
    let bandwidth = memory_bandwidth(record);
    if let Some((gbps, shape)) = &bandwidth {
        facts.push(("memory", format!("{gbps:.1} GB/s: a copy of {shape} (measured in this run)")));
    }
    facts.push(("command", command.to_string()));
    page.facts(&facts);

    let held: Vec<&KernelTiming> = record.kernels.iter().filter(|k| !is_roofline(k) && k.percent_of_roofline.is_some()).collect();
    if !held.is_empty() {
        let names: Vec<String> = held.iter().map(|k| short_name(k)).collect();
        let shares: Vec<f64> = held.iter().map(|k| k.percent_of_roofline.unwrap_or(f64::NAN)).collect();
        let labels = Labels { title: "Share of the roofline", x: "% of its roofline", y: "kernel" };
        let bars = plot::bars_across(labels, &names, &shares, false, (900, (90 + 26 * names.len()) as u32))?;
        page.section(
            "shares",
            "1. Against the limit of each",
            "Each kernel's time as a share of the least this machine could take for it, measured in the same run: a matmul against the widest FMA peak, softmax against a copy of its bytes (one matrix in, one out), the KD pass against an add (two in, the gradient out). 100% is the limit; a kernel bound by its arithmetic rather than its bytes stays below it however well it streams, and on the smallest shapes the limit is a call's overhead more than its bytes.",
            &[bars],
            &["kernels.csv"],
        );
    }

    let gemms: Vec<(String, f64, f64)> = record
        .kernels
        .iter()
        .filter_map(|k| {
            let (gflops, bytes) = (k.gflops?, k.bytes?);
            let flops = gflops * 1e9 * k.median_us * 1e-6;
            // All are matmuls: the legend names their shapes.
            let name = short_name(k);
            Some((name.strip_prefix("matmul ").unwrap_or(&name).to_string(), flops / bytes, gflops))
        })
        .collect();
    if !gemms.is_empty() {
        let mut roofs: Vec<Roof> =
            record.fma_peaks.iter().map(|p| Roof::Compute { name: format!("{} peak", p.path), gflops: p.gflops }).collect();
        if let Some((gbps, _)) = bandwidth {
            roofs.push(Roof::Memory { name: "copy bandwidth".into(), gbps });
        }
        let labels = Labels { title: "The GEMMs on the roofline", x: "FLOP per byte moved (operands and product once)", y: "GFLOP/s" };
        let plot = plot::roofline(labels, &roofs, &gemms, (900, 520))?;
        let roofs_are = if record.fma_peaks.is_empty() {
            "Dashed: the copy's bandwidth, measured in this run (the device's arithmetic peak is not measured); no kernel can sit above it at its intensity."
        } else {
            "Dashed: the FMA peak of each vector width and the copy's bandwidth, both measured in this run; no kernel can sit above the lower of the two at its intensity."
        };
        let caption = format!(
            "Each matmul's rate against its arithmetic intensity: its flops over the bytes of its operands read and its product written once. {roofs_are}"
        );
        page.section("roofline", "2. The GEMMs on the roofline", &caption, &[plot], &["kernels.csv"]);
    }

    if let Some((figures, against)) = pytorch {
        let caption = format!(
            "PyTorch's time for the same work over ours, from the figures given ({}): softmax as torch.softmax(x / T, 1), the fused KD pass as PyTorch's loss forward and backward, a matmul as torch.mm. Right of the line at 1, ours is faster; left of it, PyTorch. Figures from another sitting carry the machine's drift between the two; scripts/bench_cpu.sh pairs each run with PyTorch's right after it.",
            figures.measured_by
        );
        if against.is_empty() {
            page.section("pytorch", "3. Against PyTorch", &caption, &[], &["against_pytorch.csv"]);
            page.note("No kernel of this run matches a line of PyTorch's figures.");
        } else {
            let names: Vec<String> = against.iter().map(|(k, _)| short_name(k)).collect();
            let ratios: Vec<f64> = against.iter().map(|(k, theirs)| theirs / k.median_us).collect();
            let labels = Labels { title: "Against PyTorch", x: "PyTorch's time over ours", y: "kernel" };
            let bars = plot::bars_across(labels, &names, &ratios, true, (900, (90 + 26 * names.len()) as u32))?;
            page.section("pytorch", "3. Against PyTorch", &caption, &[bars], &["against_pytorch.csv"]);
        }
    }
    Ok(page.finish(TITLE))
}

/// The device's copy bandwidth, GB/s, from the largest copy timed, and that copy's shape.
fn memory_bandwidth(record: &KernelBenchRecord) -> Option<(f64, String)> {
    record
        .kernels
        .iter()
        .filter(|k| k.kernel == COPY)
        .filter_map(|k| Some((k.gbps?, k.bytes?, k.shape.split(", ").next().unwrap_or(&k.shape).to_string())))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(gbps, _, shape)| (gbps, shape))
}
