//! One file per op family: the `Graph` method that records the forward pass, the backward
//! function the tape's `match` calls, and the finite-difference gradient check.

pub mod activation;
pub mod arith;
pub mod bias;
pub mod conv;
pub mod dkd_loss;
pub mod kd_loss;
pub mod linear;
pub mod matmul;
pub mod softmax;

#[cfg(test)]
pub(crate) mod gradcheck;
