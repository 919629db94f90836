//! Convolution and max-pooling on the tape. A convolution layer (convolution, bias, ReLU) is
//! one op, so nothing between its GEMM and its output is kept: on the CPU its GEMMs read the
//! column matrix from the padded images without writing it (see `retort_kernels::conv2d`), on a
//! GPU it is built again in the backward pass; `max_pool2d`'s backward routes each window's
//! gradient to its first maximum.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::backend::Conv2dGeometry;
use crate::tensor::Tensor;

impl Graph {
    /// A convolution of the NHWC batch `x` (any shape of `geom.input_len()` values) with `w`
    /// (`[kernel^2 * channels, out_channels]`) and `bias`, then ReLU if `relu`:
    /// `[batch, out_h * out_w * out_channels]`, NHWC again.
    pub fn conv2d(&mut self, x: Var, w: Var, bias: Var, geom: Conv2dGeometry, relu: bool) -> Var {
        let out_channels = self.shape(w).get(1).copied().unwrap_or(0);
        assert_eq!(
            self.value(x).len(),
            geom.input_len(),
            "conv2d: {geom:?} needs {} values, x has shape {:?}",
            geom.input_len(),
            self.shape(x)
        );
        assert!(
            self.shape(w) == [geom.col_width(), out_channels] && self.shape(bias) == [out_channels],
            "conv2d: {geom:?} needs w [{}, out] and bias [out], got {:?} and {:?}",
            geom.col_width(),
            self.shape(w),
            self.shape(bias)
        );
        let mut out = Tensor::empty(&self.device, &[geom.batch, geom.out_height() * geom.out_width() * out_channels]);
        self.device.conv2d(
            geom,
            out_channels,
            self.value(x).storage(),
            self.value(w).storage(),
            self.value(bias).storage(),
            relu,
            out.storage_mut(),
        );
        let needs = self.needs_grad(x) || self.needs_grad(w) || self.needs_grad(bias);
        self.push(out, Op::Conv2d { x, w, bias, geom, relu }, needs)
    }

    /// Max over `kernel x kernel` windows at `stride` of the NHWC batch `x`:
    /// `[batch, out_h * out_w * channels]`.
    pub fn max_pool2d(&mut self, x: Var, geom: Conv2dGeometry) -> Var {
        assert_eq!(
            self.value(x).len(),
            geom.input_len(),
            "max_pool2d: {geom:?} needs {} values, x has shape {:?}",
            geom.input_len(),
            self.shape(x)
        );
        let mut out = Tensor::empty(&self.device, &[geom.batch, geom.out_height() * geom.out_width() * geom.channels]);
        self.device.max_pool2d(geom, self.value(x).storage(), out.storage_mut());
        let needs = self.needs_grad(x);
        self.push(out, Op::MaxPool2d { x, geom }, needs)
    }
}

/// All three gradients in one pass over the chunks; each parameter is used once per pass, so
/// its slot is empty and the fresh gradient moves in.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_backward(
    g: &Graph, x: Var, w: Var, bias: Var, geom: Conv2dGeometry, relu: bool, y: &Tensor, dy: &Tensor, grads: &mut Gradients,
) {
    let out_channels = g.shape(w)[1];
    let mut dx = g.needs_grad(x).then(|| Tensor::empty(&g.device, g.shape(x)));
    let (mut dw, mut dbias) = (Tensor::empty(&g.device, g.shape(w)), Tensor::empty(&g.device, g.shape(bias)));
    g.device.conv2d_backward(
        geom,
        out_channels,
        g.value(x).storage(),
        g.value(w).storage(),
        y.storage(),
        dy.storage(),
        relu,
        dx.as_mut().map(Tensor::storage_mut),
        dw.storage_mut(),
        dbias.storage_mut(),
    );
    if let Some(dx) = dx {
        grads.accumulate(g, x, dx);
    }
    grads.accumulate(g, w, dw);
    grads.accumulate(g, bias, dbias);
}

pub(crate) fn max_pool2d_backward(g: &Graph, x: Var, geom: Conv2dGeometry, y: &Tensor, dy: &Tensor, grads: &mut Gradients) {
    grads.write(g, x, |dx| g.device.max_pool2d_backward(geom, g.value(x).storage(), y.storage(), dy.storage(), dx));
}

#[cfg(test)]
mod tests {
    use crate::backend::Conv2dGeometry;
    use crate::ops::gradcheck::gradcheck_on;
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::Rng;

    device_test!(conv2d_gradients_match_finite_differences, |device| {
        let mut rng = Rng::new(40);
        let geom = Conv2dGeometry::new;
        for (g, out_c) in [(geom(1, 1, 1, 1, 1, 1, 0), 1usize), (geom(2, 5, 4, 3, 3, 1, 1), 4), (geom(1, 7, 7, 2, 5, 2, 2), 3)] {
            let inputs = [
                (vec![g.batch, g.height * g.width * g.channels], rng.vec(g.input_len(), -1.0, 1.0)),
                (vec![g.col_width(), out_c], rng.vec(g.col_width() * out_c, -1.0, 1.0)),
                (vec![out_c], rng.vec(out_c, -0.5, 0.5)),
            ];
            // Without the ReLU: its kink would make central differences unreliable.
            gradcheck_on(
                device,
                &format!("conv2d {g:?} -> {out_c}"),
                &inputs,
                |gr, v| gr.conv2d(v[0], v[1], v[2], g, false),
                |x| {
                    let y = reference::conv2d(&g, &x[0], &x[1], out_c);
                    y.iter().enumerate().map(|(i, v)| v + x[2][i % out_c]).collect()
                },
            );
        }
    });

    device_test!(max_pool2d_gradient_matches_finite_differences, |device| {
        let mut rng = Rng::new(41);
        for g in [
            Conv2dGeometry { batch: 2, height: 5, width: 4, channels: 3, kernel: 2, stride: 2, padding: 0 },
            Conv2dGeometry { batch: 1, height: 6, width: 6, channels: 2, kernel: 3, stride: 1, padding: 0 },
        ] {
            let inputs = [(vec![g.batch, g.height * g.width * g.channels], rng.vec(g.input_len(), -1.0, 1.0))];
            gradcheck_on(
                device,
                &format!("max_pool2d {g:?}"),
                &inputs,
                |gr, v| gr.max_pool2d(v[0], g),
                |x| reference::max_pool2d(&g, &x[0]),
            );
        }
    });
}
