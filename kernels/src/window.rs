//! The shape of a sliding window over a batch of NHWC images (channels innermost): the geometry
//! convolutions ([`crate::im2col`], [`crate::conv2d`]) and pools ([`crate::pool`]) share.

/// The shape of a convolution (or pooling window) over a batch of NHWC images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Square window side.
    pub kernel: usize,
    pub stride: usize,
    /// Zeros added on each side.
    pub padding: usize,
}

impl Conv2dGeometry {
    /// A convolution's window: `kernel x kernel` at `stride`, `padding` zeros on each side.
    pub const fn new(batch: usize, height: usize, width: usize, channels: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        Conv2dGeometry { batch, height, width, channels, kernel, stride, padding }
    }
    /// A pool's window: `size x size` at stride `size`, no padding.
    pub const fn pool(batch: usize, height: usize, width: usize, channels: usize, size: usize) -> Self {
        Conv2dGeometry { batch, height, width, channels, kernel: size, stride: size, padding: 0 }
    }
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }
    /// Values of one input batch.
    pub fn input_len(&self) -> usize {
        self.batch * self.height * self.width * self.channels
    }
    /// Rows of the column matrix: one per output position.
    pub fn col_rows(&self) -> usize {
        self.batch * self.out_height() * self.out_width()
    }
    /// Columns of the column matrix: one per window value, `(ky, kx, channel)` order.
    pub fn col_width(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }
    /// Rows of an image with its padding, and past its last window where the stride leaves
    /// a remainder: every window lies inside, so none is clipped.
    pub(crate) fn padded_height(&self) -> usize {
        ((self.out_height() - 1) * self.stride + self.kernel).max(self.height + self.padding)
    }
    /// Columns of an image with its padding, as [`Conv2dGeometry::padded_height`].
    pub(crate) fn padded_width(&self) -> usize {
        ((self.out_width() - 1) * self.stride + self.kernel).max(self.width + self.padding)
    }
    /// Whether the window fits the padded image and the stride is positive.
    pub fn is_valid(&self) -> bool {
        self.kernel >= 1
            && self.stride >= 1
            && self.kernel <= self.height + 2 * self.padding
            && self.kernel <= self.width + 2 * self.padding
    }
    /// The input position of window offset `k` at output position `o`, if inside the image.
    #[inline(always)]
    pub(crate) fn source(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k).checked_sub(self.padding).filter(|&i| i < size)
    }
}
