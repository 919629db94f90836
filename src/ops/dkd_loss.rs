//! Decoupled KD (Zhao et al. 2022) on the tape: the fused op and its decomposed twin, the same
//! loss composed of primitives, which the fused one is tested against.
//!
//! `L = 1/B sum_rows t^2 (alpha TCKD + beta NCKD)`; see `retort_kernels::dkd_loss` for the maths.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::{Labels, Tensor};

impl Graph {
    /// Decoupled KD of student logits `zs` against teacher logits `zt` (a constant) and `labels`,
    /// through the fused kernel.
    pub fn dkd_loss(&mut self, zs: Var, zt: Var, labels: &Labels, t: f32, alpha: f32, beta: f32) -> Var {
        assert_eq!(
            self.shape(zs),
            self.shape(zt),
            "dkd_loss: student logits {:?} and teacher logits {:?} differ",
            self.shape(zs),
            self.shape(zt)
        );
        let (rows, cols) = self.value(zs).rows_cols();
        assert_eq!(labels.len(), rows, "dkd_loss: {} labels for {rows} rows", labels.len());
        let mut out = Tensor::empty(&self.device, &[1]);
        self.device.dkd_loss(
            rows,
            cols,
            self.value(zs).storage(),
            self.value(zt).storage(),
            labels.storage(),
            t,
            alpha,
            beta,
            out.storage_mut(),
        );
        let needs = self.needs_grad(zs);
        self.push(out, Op::DkdLoss { zs, zt, labels: labels.clone(), t, alpha, beta }, needs)
    }

    /// Decoupled KD composed of primitives: the twin of [`Graph::dkd_loss`], for two or more
    /// classes. `labels` as host values. The binary parts come from log-softmaxes with and
    /// without the true class: `log (1 - p_y) = log p_j - log p^_j` for any other class `j`.
    pub fn dkd_loss_composed(&mut self, zs: Var, zt: Var, labels: &[u32], t: f32, alpha: f32, beta: f32) -> Var {
        let (rows, cols) = self.value(zs).rows_cols();
        assert!(cols >= 2, "dkd_loss_composed: needs two classes or more");
        let constant = |g: &mut Graph, shape: &[usize], f: &dyn Fn(usize, usize) -> f32| {
            let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|e| f(e / shape[1], e % shape[1])).collect();
            g.constant(Tensor::from_slice(&g.device.clone(), shape, &values))
        };
        let y = |i: usize| labels[i] as usize;
        let onehot = constant(self, &[rows, cols], &|i, j| (j == y(i)) as u32 as f32);
        let rest = constant(self, &[rows, cols], &|i, j| (j != y(i)) as u32 as f32);
        // One class other than the true one, and a mask that takes the true class out.
        let other = constant(self, &[rows, cols], &|i, j| (j == (y(i) + 1) % cols) as u32 as f32);
        let mask = constant(self, &[rows, cols], &|i, j| if j == y(i) { -1e30 } else { 0.0 });
        let ones = constant(self, &[cols, 1], &|_, _| 1.0);
        // Per row: log p_y, log (1 - p_y), and log p^ over the other classes.
        let parts = |g: &mut Graph, z: Var| {
            let log_p = g.log_softmax(z, t);
            let masked = g.add(z, mask);
            let log_p_hat = g.log_softmax(masked, t);
            let picked = g.mul(onehot, log_p);
            let log_target = g.matmul(picked, ones);
            let neg_hat = g.scale(log_p_hat, -1.0);
            let diff = g.add(log_p, neg_hat);
            let picked = g.mul(other, diff);
            let log_rest = g.matmul(picked, ones);
            (log_target, log_rest, log_p_hat)
        };
        let (s_target, s_rest, s_hat) = parts(self, zs);
        let (t_target, t_rest, t_hat) = parts(self, zt);
        let pt = self.softmax(zt, t);
        let picked = self.mul(onehot, pt);
        let bt = self.matmul(picked, ones);
        let picked = self.mul(rest, pt);
        let rt = self.matmul(picked, ones);
        let kl = |g: &mut Graph, p: Var, log_p: Var, log_q: Var| {
            let neg = g.scale(log_q, -1.0);
            let ratio = g.add(log_p, neg);
            let terms = g.mul(p, ratio);
            g.sum(terms)
        };
        let tckd_target = kl(self, bt, t_target, s_target);
        let tckd_rest = kl(self, rt, t_rest, s_rest);
        let tckd = self.add(tckd_target, tckd_rest);
        let masked = self.add(zt, mask);
        let pt_hat = self.softmax(masked, t);
        let nckd = kl(self, pt_hat, t_hat, s_hat);
        let k = t * t / rows as f32;
        let tckd = self.scale(tckd, k * alpha);
        let nckd = self.scale(nckd, k * beta);
        self.add(tckd, nckd)
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(g: &Graph, zs: Var, zt: Var, labels: &Labels, t: f32, alpha: f32, beta: f32, dloss: &Tensor, grads: &mut Gradients) {
    let (rows, cols) = g.value(zs).rows_cols();
    let (zsv, ztv) = (g.value(zs).storage(), g.value(zt).storage());
    grads.write(g, zs, |dzs| g.device.dkd_loss_backward(rows, cols, zsv, ztv, labels.storage(), t, alpha, beta, dloss.storage(), dzs));
}

#[cfg(test)]
mod tests {
    use crate::autograd::Graph;
    use crate::ops::gradcheck::gradcheck_on;
    use crate::tensor::{Labels, Tensor};
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::{Rng, Tolerance, assert_close, f64s};

    device_test!(gradient_matches_finite_differences, |device| {
        let mut rng = Rng::new(51);
        for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33)] {
            for &(t, alpha, beta) in &[(4.0f32, 1.0f32, 8.0f32), (0.5, 0.5, 1.0), (20.0, 1.0, 0.0), (100.0, 0.0, 2.0)] {
                let (zs, zt, y) = (rng.vec(r * c, -3.0, 3.0), rng.vec(r * c, -3.0, 3.0), rng.labels(r, c));
                let labels = Labels::from_slice(device, &y);
                let zt_tensor = Tensor::from_slice(device, &[r, c], &zt);
                let zt64 = f64s(&zt);
                gradcheck_on(
                    device,
                    &format!("dkd_loss {r}x{c} t={t} alpha={alpha} beta={beta}"),
                    &[(vec![r, c], zs)],
                    |g, v| {
                        let zt = g.constant(zt_tensor.clone());
                        g.dkd_loss(v[0], zt, &labels, t, alpha, beta)
                    },
                    |x| vec![reference::dkd_loss(r, c, &x[0], &zt64, &y, t as f64, alpha as f64, beta as f64)],
                );
            }
        }
    });

    // The fused loss and gradient against autograd through the composition of primitives.
    device_test!(fused_matches_decomposed_twin, |device| {
        let mut rng = Rng::new(52);
        for &(r, c) in &[(1usize, 2usize), (7, 10), (33, 7), (4, 1000)] {
            for &(t, alpha, beta) in &[(4.0f32, 1.0f32, 8.0f32), (0.5, 0.3, 1.0), (20.0, 1.0, 2.0), (100.0, 0.5, 8.0)] {
                for scale in [3.0f32, 30.0] {
                    let (zs, zt, y) = (rng.vec(r * c, -scale, scale), rng.vec(r * c, -scale, scale), rng.labels(r, c));
                    let labels = Labels::from_slice(device, &y);
                    let run = |fused: bool| {
                        let mut g = Graph::new(device, true, 0);
                        let s = g.param(&Tensor::from_slice(device, &[r, c], &zs));
                        let tv = g.constant(Tensor::from_slice(device, &[r, c], &zt));
                        let loss =
                            if fused { g.dkd_loss(s, tv, &labels, t, alpha, beta) } else { g.dkd_loss_composed(s, tv, &y, t, alpha, beta) };
                        let grads = g.backward(loss);
                        (g.value(loss).item(), grads.get(s).unwrap().to_vec())
                    };
                    let ((lf, gf), (lc, gc)) = (run(true), run(false));
                    let op = format!("dkd fused vs composed on {} {r}x{c} t={t} alpha={alpha} beta={beta} scale={scale}", device.kind());
                    assert_close(&format!("{op}: loss"), &[lf], &[lc as f64], Tolerance { abs: 1e-3, rel: 2e-3 });
                    assert_close(&format!("{op}: grad"), &gf, &f64s(&gc), Tolerance { abs: 1e-5, rel: 1e-3 });
                }
            }
        }
    });

    // Logits of +-1e4 and a class holding all the probability: finite loss and gradient.
    device_test!(extreme_logits_stay_finite, |device| {
        let mut rng = Rng::new(53);
        for &t in &[0.5f32, 100.0] {
            let (mut zs, mut zt, y) = (rng.vec(5 * 1000, -1e4, 1e4), rng.vec(5 * 1000, -1e4, 1e4), rng.labels(5, 1000));
            zt[y[0] as usize] = 3e4;
            zs[1000 + y[1] as usize] = 3e4;
            let labels = Labels::from_slice(device, &y);
            let mut g = Graph::new(device, true, 0);
            let s = g.param(&Tensor::from_slice(device, &[5, 1000], &zs));
            let tv = g.constant(Tensor::from_slice(device, &[5, 1000], &zt));
            let loss = g.dkd_loss(s, tv, &labels, t, 1.0, 8.0);
            let grads = g.backward(loss);
            let l = g.value(loss).item();
            assert!(l.is_finite() && l >= 0.0, "t={t}: loss {l} on {}", device.kind());
            assert!(grads.get(s).unwrap().to_vec().iter().all(|v| v.is_finite()), "t={t}: non-finite gradient on {}", device.kind());
        }
    });
}
