//! Losses: the fused KD loss (cross-entropy is its `alpha = 0` case) and its decomposed twin,
//! the same loss composed of primitives, which the fused one is tested and benchmarked against.
//!
//! `L = 1/B sum_rows [alpha t^2 KL(softmax(zt/t) || softmax(zs/t)) + (1 - alpha) CE(zs, y)]`.
//! Batch mean: the sum over classes is not averaged (a known trap elsewhere).

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::{Labels, Tensor};

impl Graph {
    /// The distillation loss of student logits `zs` against teacher logits `zt` (a constant:
    /// no gradient flows to the teacher) and `labels`, through the fused kernel.
    pub fn kd_loss(&mut self, zs: Var, zt: Var, labels: &Labels, t: f32, alpha: f32) -> Var {
        self.kd_loss_collecting(zs, zt, labels, t, alpha, true)
    }

    /// [`Graph::kd_loss`], adding its parts to the graph's sums (see [`Graph::collect_parts`])
    /// when `collect`.
    fn kd_loss_collecting(&mut self, zs: Var, zt: Var, labels: &Labels, t: f32, alpha: f32, collect: bool) -> Var {
        assert_eq!(
            self.shape(zs),
            self.shape(zt),
            "kd_loss: student logits {:?} and teacher logits {:?} differ",
            self.shape(zs),
            self.shape(zt)
        );
        let (rows, cols) = self.value(zs).rows_cols();
        assert_eq!(labels.len(), rows, "kd_loss: {} labels for {rows} rows", labels.len());
        let mut out = Tensor::empty(&self.device, &[1]);
        // The gradient comes from the same pass as the loss; backward only scales it.
        let needs = self.needs_grad(zs);
        let mut grad = needs.then(|| Tensor::empty(&self.device, &[rows, cols]));
        let mut parts = if collect { self.parts.take() } else { None };
        self.device.kd_loss(
            rows,
            cols,
            self.value(zs).storage(),
            self.value(zt).storage(),
            labels.storage(),
            t,
            alpha,
            out.storage_mut(),
            grad.as_mut().map(|g| g.storage_mut()),
            parts.as_mut().map(|(sums, _)| sums.storage_mut()),
        );
        if let Some((sums, _)) = parts {
            self.parts = Some((sums, true));
        }
        self.push(out, Op::KdLoss { zs, grad }, needs)
    }

    /// Hands the graph `sums` (`retort_kernels::kd_parts::PARTS` values) for the next KD loss
    /// to add its rows' parts to, from its own pass; [`Graph::take_parts`] gives it back.
    pub fn collect_parts(&mut self, sums: Tensor) {
        self.parts = Some((sums, false));
    }

    /// The tensor given to [`Graph::collect_parts`], and whether a loss added to it.
    pub fn take_parts(&mut self) -> Option<(Tensor, bool)> {
        self.parts.take()
    }

    /// Mean cross-entropy of `logits` against `labels`: the KD loss with `alpha = 0`.
    pub fn cross_entropy(&mut self, logits: Var, labels: &Labels) -> Var {
        // Its parts (a model against itself) are nobody's figures: the graph's sums stay.
        self.kd_loss_collecting(logits, logits, labels, 1.0, 0.0, false)
    }

    /// The KD loss composed of primitives (softmax, log-softmax, mul, add, scale, sum): the
    /// decomposed twin of [`Graph::kd_loss`]. `onehot`: `rows x cols` constant of the labels.
    pub fn kd_loss_composed(&mut self, zs: Var, zt: Var, onehot: Var, t: f32, alpha: f32) -> Var {
        let rows = self.value(zs).rows_cols().0 as f32;
        let log_ps_t = self.log_softmax(zs, t);
        let pt = self.softmax(zt, t);
        let log_pt = self.log_softmax(zt, t);
        let neg_log_ps_t = self.scale(log_ps_t, -1.0);
        let log_ratio = self.add(log_pt, neg_log_ps_t);
        let kl_terms = self.mul(pt, log_ratio);
        let kl = self.sum(kl_terms);
        let log_ps = self.log_softmax(zs, 1.0);
        let ce_terms = self.mul(onehot, log_ps);
        let neg_ce = self.sum(ce_terms);
        let soft = self.scale(kl, alpha * t * t / rows);
        let hard = self.scale(neg_ce, -(1.0 - alpha) / rows);
        self.add(soft, hard)
    }
}

pub(crate) fn backward(g: &Graph, zs: Var, grad: Option<&Tensor>, dloss: &Tensor, grads: &mut Gradients) {
    let grad = grad.expect("kd_loss: a gradient asked of a loss recorded without one");
    grads.write(g, zs, |dzs| g.device.scale(grad.storage(), 1.0, Some(dloss.storage()), dzs));
}

/// `rows x classes` one-hot rows of `labels`, for the composed loss.
pub fn one_hot(labels: &[u32], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        out[i * classes + y as usize] = 1.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_hot;
    use crate::autograd::Graph;
    use crate::backend::Device;
    use crate::ops::gradcheck::gradcheck_on;
    use crate::tensor::{Labels, Tensor};
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::{Rng, Tolerance, assert_close, f64s};

    device_test!(fused_gradient_matches_finite_differences, |device| {
        let mut rng = Rng::new(26);
        let dev = device.clone();
        for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33)] {
            for &(t, alpha) in &[(1.0f32, 0.0f32), (0.5, 0.5), (20.0, 0.9), (100.0, 1.0)] {
                let (zs, zt, y) = (rng.vec(r * c, -3.0, 3.0), rng.vec(r * c, -3.0, 3.0), rng.labels(r, c));
                let labels = Labels::from_slice(&dev, &y);
                let zt_tensor = Tensor::from_slice(&dev, &[r, c], &zt);
                let zt64 = f64s(&zt);
                gradcheck_on(
                    device,
                    &format!("kd_loss {r}x{c} t={t} alpha={alpha}"),
                    &[(vec![r, c], zs)],
                    |g, v| {
                        let zt = g.constant(zt_tensor.clone());
                        g.kd_loss(v[0], zt, &labels, t, alpha)
                    },
                    |x| vec![reference::kd_loss(r, c, &x[0], &zt64, &y, t as f64, alpha as f64)],
                );
            }
        }
    });

    /// The fused loss and gradient against autograd through the composition of primitives.
    #[test]
    fn fused_matches_decomposed_twin() {
        let mut rng = Rng::new(27);
        let dev = Device::cpu();
        for &(r, c) in &[(1usize, 1usize), (7, 10), (33, 7), (4, 1000)] {
            for &(t, alpha) in &[(1.0f32, 0.0f32), (0.5, 0.3), (4.0, 0.9), (20.0, 0.9), (100.0, 1.0)] {
                for scale in [3.0f32, 30.0] {
                    let (zs, zt, y) = (rng.vec(r * c, -scale, scale), rng.vec(r * c, -scale, scale), rng.labels(r, c));
                    let labels = Labels::from_slice(&dev, &y);
                    let run = |fused: bool| {
                        let mut g = Graph::new(&dev, true, 0);
                        let s = g.param(&Tensor::from_slice(&dev, &[r, c], &zs));
                        let tv = g.constant(Tensor::from_slice(&dev, &[r, c], &zt));
                        let loss = if fused {
                            g.kd_loss(s, tv, &labels, t, alpha)
                        } else {
                            let oh = g.constant(Tensor::from_slice(&dev, &[r, c], &one_hot(&y, c)));
                            g.kd_loss_composed(s, tv, oh, t, alpha)
                        };
                        let grads = g.backward(loss);
                        (g.value(loss).item(), grads.get(s).unwrap().to_vec())
                    };
                    let ((lf, gf), (lc, gc)) = (run(true), run(false));
                    let op = format!("kd fused vs composed {r}x{c} t={t} alpha={alpha} scale={scale}");
                    assert_close(&format!("{op}: loss"), &[lf], &[lc as f64], Tolerance { abs: 1e-3, rel: 2e-3 });
                    assert_close(&format!("{op}: grad"), &gf, &f64s(&gc), Tolerance { abs: 1e-5, rel: 1e-3 });
                }
            }
        }
    }
}
