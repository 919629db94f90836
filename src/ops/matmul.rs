//! Matrix product with transpose flags. Forward `C = op(A) op(B)`; backward
//! `d op(A) = dC op(B)^T`, `d op(B) = op(A)^T dC`, each one GEMM accumulating with `beta = 1`.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::Tensor;

impl Graph {
    /// `a (m x k) * b (k x n)`.
    pub fn matmul(&mut self, a: Var, b: Var) -> Var {
        self.matmul_t(a, false, b, false)
    }

    /// `op(a) * op(b)`: with `trans_a`, `a` holds `k x m`; with `trans_b`, `b` holds `n x k`.
    pub fn matmul_t(&mut self, a: Var, trans_a: bool, b: Var, trans_b: bool) -> Var {
        let (sa, sb) = (self.shape(a).to_vec(), self.shape(b).to_vec());
        assert!(sa.len() == 2 && sb.len() == 2, "matmul: needs 2-D operands, got {sa:?} and {sb:?}");
        let (m, k) = if trans_a { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
        let (k2, n) = if trans_b { (sb[1], sb[0]) } else { (sb[0], sb[1]) };
        assert_eq!(k, k2, "matmul: inner dimensions differ: {sa:?} (trans {trans_a}) x {sb:?} (trans {trans_b})");
        let mut out = Tensor::empty(&self.device, &[m, n]);
        self.device.matmul(m, k, n, self.value(a).storage(), trans_a, self.value(b).storage(), trans_b, out.storage_mut(), 0.0);
        let needs = self.needs_grad(a) || self.needs_grad(b);
        self.push(out, Op::Matmul { a, b, trans_a, trans_b }, needs)
    }
}

pub(crate) fn backward(g: &Graph, a: Var, b: Var, ta: bool, tb: bool, dc: &Tensor, grads: &mut Gradients) {
    let (m, n) = (dc.shape()[0], dc.shape()[1]);
    let k = if ta { g.shape(a)[0] } else { g.shape(a)[1] };
    let (av, bv, dcs) = (g.value(a).storage(), g.value(b).storage(), dc.storage());
    let dev = &g.device;
    grads.write_accumulating(g, a, |da, beta| {
        if ta {
            dev.matmul(k, n, m, bv, tb, dcs, true, da, beta) // dA (k x m) = op(B) dC^T
        } else {
            dev.matmul(m, n, k, dcs, false, bv, !tb, da, beta) // dA (m x k) = dC op(B)^T
        }
    });
    grads.write_accumulating(g, b, |db, beta| {
        if tb {
            dev.matmul(n, m, k, dcs, true, av, ta, db, beta) // dB (n x k) = dC^T op(A)
        } else {
            dev.matmul(k, m, n, av, !ta, dcs, false, db, beta) // dB (k x n) = op(A)^T dC
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::ops::gradcheck::gradcheck_on;
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::Rng;

    device_test!(gradients_match_finite_differences_all_transposes, |device| {
        let mut rng = Rng::new(20);
        for &(m, k, n) in &[(1usize, 1usize, 1usize), (3, 7, 5), (7, 33, 2), (17, 4, 9)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let sa = if ta { vec![k, m] } else { vec![m, k] };
                let sb = if tb { vec![n, k] } else { vec![k, n] };
                let inputs = [(sa, rng.vec(m * k, -1.0, 1.0)), (sb, rng.vec(k * n, -1.0, 1.0))];
                gradcheck_on(
                    device,
                    &format!("matmul {m}x{k}x{n} ta={ta} tb={tb}"),
                    &inputs,
                    |g, v| g.matmul_t(v[0], ta, v[1], tb),
                    |x| reference::matmul(m, k, n, &x[0], ta, &x[1], tb),
                );
            }
        }
    });
}
