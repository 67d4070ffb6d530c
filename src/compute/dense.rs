//! Dense layers — the building block of the user tower and the ranker — as a value type with a
//! scalar reference and an optimized CPU forward pass (the GPU twin is `gpu::GpuMlp`).
//!
//! A layer computes `y = act(W·x + b)` for every row `x` of a batch. `W` is stored like any
//! other tensor ([`QuantizedMatrix`], one row per output neuron), so int8 weights get one scale
//! per output neuron — the per-channel scheme that keeps int8 MLPs accurate (Jacob et al.,
//! CVPR 2018).

use crate::bundle::{DType, QuantizedMatrix};
use crate::compute::cpu::fast::{dot, dot_i8, f16_to_f32};
use crate::error::{Error, Result};

/// The nonlinearity applied after `W·x + b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// None (the output layer of a regression or a logit).
    #[default]
    Identity,
    /// `max(0, z)`.
    Relu,
    /// `1 / (1 + e^{−z})`: a probability per output (multi-task heads).
    Sigmoid,
    /// `e^{z_o} / Σ_j e^{z_j}` over the outputs of one input row: a distribution over the
    /// layer's outputs (the gates of a mixture of experts, a multi-class head). Computed in the
    /// numerically stable form `e^{z_o − max_j z_j} / Σ_j e^{z_j − max_j z_j}` (Goodfellow et
    /// al., *Deep Learning*, §4.1), which cannot overflow and is exactly the same function.
    Softmax,
}

impl Activation {
    /// The code the WGSL kernel switches on.
    #[cfg(feature = "gpu")]
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Sigmoid => 2,
            Activation::Softmax => 3,
        }
    }

    /// True for activations computed one output at a time (all but [`Activation::Softmax`]).
    pub fn is_elementwise(self) -> bool {
        self != Activation::Softmax
    }

    /// Applies an element-wise activation in f64 (reference precision). [`Activation::Softmax`]
    /// is not element-wise: this returns `z` unchanged for it, and [`Activation::apply_row_f64`]
    /// normalizes the row.
    pub fn apply_f64(self, z: f64) -> f64 {
        match self {
            Activation::Identity | Activation::Softmax => z,
            Activation::Relu => z.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        }
    }

    /// Applies an element-wise activation in f32 (the fast path); as [`Activation::apply_f64`],
    /// `z` is returned unchanged for [`Activation::Softmax`] (see [`Activation::apply_row`]).
    #[inline(always)]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => z,
            Activation::Relu => z.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        }
    }

    /// Applies the activation to one row of pre-activations `z = W·x + b` (all outputs of one
    /// input row), in f64.
    pub fn apply_row_f64(self, row: &mut [f64]) {
        if self == Activation::Softmax {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for z in row.iter_mut() {
                *z = (*z - max).exp();
                total += *z;
            }
            // total >= 1: the maximum contributes e^0.
            for z in row.iter_mut() {
                *z /= total;
            }
        } else {
            for z in row.iter_mut() {
                *z = self.apply_f64(*z);
            }
        }
    }

    /// [`Activation::apply_row_f64`] in f32 (the fast path).
    #[inline]
    pub fn apply_row(self, row: &mut [f32]) {
        if self == Activation::Softmax {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0f32;
            for z in row.iter_mut() {
                *z = (*z - max).exp();
                total += *z;
            }
            let inv = 1.0 / total;
            for z in row.iter_mut() {
                *z *= inv;
            }
        } else {
            for z in row.iter_mut() {
                *z = self.apply(*z);
            }
        }
    }
}

/// One fully connected layer: `out × in` weights, `out` biases, an activation.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    weights: QuantizedMatrix,
    bias: Vec<f32>,
    activation: Activation,
}

impl DenseLayer {
    /// A layer from stored weights (rows = output neurons) and biases.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when `bias.len()` is not the number of outputs,
    /// [`Error::NonFinite`] for a NaN or infinite bias.
    pub fn new(weights: QuantizedMatrix, bias: Vec<f32>, activation: Activation) -> Result<Self> {
        if bias.len() != weights.rows() {
            return Err(Error::DimensionMismatch {
                expected: weights.rows(),
                received: bias.len(),
            });
        }
        if let Some(position) = bias.iter().position(|b| !b.is_finite()) {
            return Err(Error::NonFinite { what: "bias", position });
        }
        Ok(Self { weights, bias, activation })
    }

    /// Inputs per row.
    pub fn in_dim(&self) -> usize {
        self.weights.dim()
    }
    /// Outputs per row.
    pub fn out_dim(&self) -> usize {
        self.weights.rows()
    }
    /// The stored weights.
    pub fn weights(&self) -> &QuantizedMatrix {
        &self.weights
    }
    /// The biases.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

/// Where [`Mlp::forward_on`] runs.
#[derive(Debug)]
pub enum MlpDevice<'a> {
    /// The CPU fast path, with reusable buffers.
    Cpu(&'a mut MlpScratch),
    /// A GPU holding an upload of the same MLP ([`crate::compute::gpu::GpuMlp::upload`]).
    Gpu(&'a crate::compute::gpu::GpuContext, &'a mut crate::compute::gpu::GpuMlp),
}

/// A stack of dense layers whose shapes chain (`layer[i].out_dim == layer[i+1].in_dim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    layers: Vec<DenseLayer>,
}

impl Mlp {
    /// Chains `layers`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no layers; [`Error::DimensionMismatch`] where one layer's
    /// outputs do not match the next layer's inputs.
    pub fn new(layers: Vec<DenseLayer>) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::InvalidArgument {
                name: "layers",
                reason: "an MLP needs a layer".into(),
            });
        }
        for pair in layers.windows(2) {
            if pair[0].out_dim() != pair[1].in_dim() {
                return Err(Error::DimensionMismatch {
                    expected: pair[1].in_dim(),
                    received: pair[0].out_dim(),
                });
            }
        }
        Ok(Self { layers })
    }

    /// The MLP a bundle stores as `{prefix}.w0`, `{prefix}.b0`, `{prefix}.w1`, … (weights
    /// `[out, in]`, biases `[out]`), `hidden` after every layer but the last, `output` after the
    /// last — the one loader of the user tower, the ranker and the evaluation. `Ok(None)` when
    /// the bundle has no `{prefix}.w0`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a weight without its bias; as [`DenseLayer::new`] and
    /// [`Mlp::new`] for shapes that do not chain.
    pub fn from_bundle(
        bundle: &crate::bundle::Bundle,
        prefix: &str,
        hidden: Activation,
        output: Activation,
    ) -> Result<Option<Self>> {
        let mut weights = Vec::new();
        while let Some(w) = bundle.tensor(&format!("{prefix}.w{}", weights.len())) {
            let name = format!("{prefix}.b{}", weights.len());
            let b = bundle.tensor(&name).ok_or_else(|| Error::InvalidArgument {
                name: "bundle",
                reason: format!("the bundle has no tensor {name:?}"),
            })?;
            weights.push((w.to_quantized_matrix()?, b.dequantize()));
        }
        if weights.is_empty() {
            return Ok(None);
        }
        let last = weights.len() - 1;
        let layers = weights
            .into_iter()
            .enumerate()
            .map(|(i, (w, b))| DenseLayer::new(w, b, if i == last { output } else { hidden }))
            .collect::<Result<Vec<_>>>()?;
        Self::new(layers).map(Some)
    }

    /// The forward pass on `device`: the CPU fast path ([`Mlp::forward`]) or this MLP's upload
    /// to a GPU ([`crate::compute::gpu::GpuMlp::forward`]). Callers write their logic once and
    /// pick the device at run time.
    ///
    /// # Errors
    /// As [`Mlp::validate`]; on the GPU also [`Error::DeviceLost`] and [`Error::Gpu`].
    pub async fn forward_on(&self, device: MlpDevice<'_>, inputs: &[f32]) -> Result<Vec<f32>> {
        match device {
            MlpDevice::Cpu(scratch) => self.forward(inputs, scratch),
            MlpDevice::Gpu(ctx, gpu) => gpu.forward(ctx, inputs).await,
        }
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }
    /// Inputs per row.
    pub fn in_dim(&self) -> usize {
        self.layers[0].in_dim()
    }
    /// Outputs per row.
    pub fn out_dim(&self) -> usize {
        self.layers[self.layers.len() - 1].out_dim()
    }

    /// Checks a batch of inputs; returns the batch size.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when `inputs` is empty or not a whole number of rows;
    /// [`Error::NonFinite`] for NaN or infinity.
    pub fn validate(&self, inputs: &[f32]) -> Result<usize> {
        let dim = self.in_dim();
        if inputs.is_empty() || !inputs.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch { expected: dim, received: inputs.len() });
        }
        if let Some(position) = inputs.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "MLP input", position });
        }
        Ok(inputs.len() / dim)
    }

    /// The scalar reference forward pass: dequantized weights, f64 accumulation.
    ///
    /// # Errors
    /// As [`Mlp::validate`].
    pub fn forward_reference(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        Ok(self.forward_reference_f64(inputs)?.into_iter().map(|v| v as f32).collect())
    }

    /// [`Mlp::forward_reference`] without the final rounding to f32 (for blocks built from
    /// MLPs, whose references keep f64 to the end).
    pub(crate) fn forward_reference_f64(&self, inputs: &[f32]) -> Result<Vec<f64>> {
        let batch = self.validate(inputs)?;
        let mut x: Vec<f64> = inputs.iter().map(|v| f64::from(*v)).collect();
        for layer in &self.layers {
            x = layer.forward_reference_f64(&x, batch);
        }
        Ok(x)
    }

    /// The optimized CPU forward pass (f32 accumulation, SIMD-friendly dot products); reuses
    /// `scratch` between calls.
    ///
    /// # Errors
    /// As [`Mlp::validate`].
    pub fn forward(&self, inputs: &[f32], scratch: &mut MlpScratch) -> Result<Vec<f32>> {
        Ok(self.forward_in_scratch(inputs, scratch)?.to_vec())
    }

    /// [`Mlp::forward`] leaving the `batch × out_dim` outputs in `scratch` (no allocation once
    /// the scratch has grown).
    ///
    /// # Errors
    /// As [`Mlp::validate`].
    pub fn forward_in_scratch<'s>(
        &self,
        inputs: &[f32],
        scratch: &'s mut MlpScratch,
    ) -> Result<&'s [f32]> {
        let batch = self.validate(inputs)?;
        let MlpScratch { a, b, row } = scratch;
        a.clear();
        a.extend_from_slice(inputs);
        for layer in &self.layers {
            layer.forward_fast(a, batch, b, row);
            std::mem::swap(a, b);
        }
        Ok(a)
    }
}

impl DenseLayer {
    /// The reference layer: `x` is `batch × in_dim` in f64; returns `batch × out_dim` in f64
    /// (dequantized weights, f64 accumulation, the activation applied row by row).
    pub(crate) fn forward_reference_f64(&self, x: &[f64], batch: usize) -> Vec<f64> {
        let (n_in, n_out) = (self.in_dim(), self.out_dim());
        let mut w = vec![0.0f32; n_in];
        let mut y = vec![0.0f64; batch * n_out];
        for o in 0..n_out {
            self.weights.dequantize_row(o, &mut w);
            for b in 0..batch {
                let row = &x[b * n_in..(b + 1) * n_in];
                y[b * n_out + o] = row.iter().zip(&w).map(|(a, c)| a * f64::from(*c)).sum::<f64>()
                    + f64::from(self.bias[o]);
            }
        }
        for row in y.chunks_exact_mut(n_out) {
            self.activation.apply_row_f64(row);
        }
        y
    }

    /// The fast layer: `x` is `batch × in_dim`; `out` becomes `batch × out_dim`; `row` is scratch
    /// for one widened weight row.
    pub(crate) fn forward_fast(
        &self,
        x: &[f32],
        batch: usize,
        out: &mut Vec<f32>,
        row: &mut Vec<f32>,
    ) {
        let (n_in, n_out) = (self.in_dim(), self.out_dim());
        out.clear();
        out.resize(batch * n_out, 0.0);
        let weights = &self.weights;
        let per_row = weights.scheme().words_per_row(n_in);
        row.resize(n_in, 0.0);
        for o in 0..n_out {
            let words = &weights.words()[o * per_row..(o + 1) * per_row];
            let scale = weights.row_scale(o);
            // Widen the weight row once, then reuse it for the whole batch.
            let raw = |x: &[f32], row: &[f32]| match weights.scheme().dtype {
                DType::I8 => dot_i8(&bytemuck::cast_slice::<u32, i8>(words)[..n_in], x) * scale,
                _ => dot(row, x),
            };
            match weights.scheme().dtype {
                DType::F32 => row.copy_from_slice(&bytemuck::cast_slice::<u32, f32>(words)[..n_in]),
                DType::F16 => f16_to_f32(&bytemuck::cast_slice::<u32, u16>(words)[..n_in], row),
                DType::I8 => {}
            }
            for bi in 0..batch {
                let xi = &x[bi * n_in..(bi + 1) * n_in];
                out[bi * n_out + o] = self.activation.apply(raw(xi, row) + self.bias[o]);
            }
        }
        if !self.activation.is_elementwise() {
            for y in out.chunks_exact_mut(n_out) {
                self.activation.apply_row(y);
            }
        }
    }
}

/// Reusable buffers for [`Mlp::forward`].
#[derive(Debug, Default)]
pub struct MlpScratch {
    a: Vec<f32>,
    b: Vec<f32>,
    row: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::QuantScheme;

    fn layer(out: usize, inp: usize, act: Activation, scheme: QuantScheme) -> DenseLayer {
        let w: Vec<f32> = (0..out * inp).map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0).collect();
        let bias = (0..out).map(|o| o as f32 * 0.01 - 0.02).collect();
        DenseLayer::new(QuantizedMatrix::quantize(&w, inp, scheme).unwrap(), bias, act).unwrap()
    }

    #[test]
    fn hand_computed_layer() {
        let w = QuantizedMatrix::quantize(&[1.0, 2.0, -1.0, 0.5], 2, QuantScheme::F32).unwrap();
        let l = DenseLayer::new(w, vec![0.5, -10.0], Activation::Relu).unwrap();
        let mlp = Mlp::new(vec![l]).unwrap();
        assert_eq!(mlp.forward_reference(&[1.0, 1.0]).unwrap(), vec![3.5, 0.0]);
        assert_eq!(mlp.forward(&[1.0, 1.0], &mut MlpScratch::default()).unwrap(), vec![3.5, 0.0]);
    }

    #[test]
    fn fast_matches_reference_for_every_dtype() {
        for scheme in [QuantScheme::F32, QuantScheme::F16, QuantScheme::I8_PER_ROW] {
            let mlp = Mlp::new(vec![
                layer(24, 13, Activation::Relu, scheme),
                layer(5, 24, Activation::Sigmoid, scheme),
            ])
            .unwrap();
            let x: Vec<f32> = (0..13 * 7).map(|i| (i as f32 * 0.37).sin()).collect();
            let (r, f) = (
                mlp.forward_reference(&x).unwrap(),
                mlp.forward(&x, &mut Default::default()).unwrap(),
            );
            for (a, b) in r.iter().zip(&f) {
                assert!((a - b).abs() <= 1e-5, "{scheme:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn softmax_is_a_stable_distribution_over_each_row() {
        // Logits far beyond f32's exp range: the naive form overflows to inf/inf = NaN.
        let w = QuantizedMatrix::quantize(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2, QuantScheme::F32)
            .unwrap();
        let l = DenseLayer::new(w, vec![0.0, 0.0, 0.0], Activation::Softmax).unwrap();
        let mlp = Mlp::new(vec![l]).unwrap();
        let x = [1000.0, 999.0, -3.0, 0.0];
        // Row 0: z = (1000, 999, 1999); row 1: z = (−3, 0, −3).
        let e = |d: f64| (-d).exp();
        let expected = [
            e(999.0) / (1.0 + e(999.0) + e(1000.0)),
            e(1000.0) / (1.0 + e(999.0) + e(1000.0)),
            1.0 / (1.0 + e(999.0) + e(1000.0)),
            e(3.0) / (1.0 + 2.0 * e(3.0)),
            1.0 / (1.0 + 2.0 * e(3.0)),
            e(3.0) / (1.0 + 2.0 * e(3.0)),
        ];
        for got in [
            mlp.forward_reference(&x).unwrap(),
            mlp.forward(&x, &mut MlpScratch::default()).unwrap(),
        ] {
            for (g, e) in got.iter().zip(expected) {
                assert!((f64::from(*g) - e).abs() <= 1e-6, "{got:?} vs {expected:?}");
            }
            for row in got.chunks(3) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() <= 1e-6, "{row:?}");
            }
        }
        // A single output is always 1; softmax is not element-wise.
        let one = Mlp::new(vec![layer(1, 3, Activation::Softmax, QuantScheme::F32)]).unwrap();
        assert_eq!(one.forward(&[5.0, -2.0, 7.0], &mut Default::default()).unwrap(), vec![1.0]);
        assert!(!Activation::Softmax.is_elementwise() && Activation::Relu.is_elementwise());
    }

    #[test]
    fn fast_softmax_layers_match_reference_for_every_dtype() {
        for scheme in [QuantScheme::F32, QuantScheme::F16, QuantScheme::I8_PER_ROW] {
            let mlp = Mlp::new(vec![
                layer(40, 9, Activation::Relu, scheme),
                layer(7, 40, Activation::Softmax, scheme),
            ])
            .unwrap();
            let x: Vec<f32> = (0..9 * 5).map(|i| (i as f32 * 0.71).cos() * 3.0).collect();
            let (r, f) = (
                mlp.forward_reference(&x).unwrap(),
                mlp.forward(&x, &mut Default::default()).unwrap(),
            );
            for (a, b) in r.iter().zip(&f) {
                assert!((a - b).abs() <= 1e-5, "{scheme:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn shapes_and_values_are_validated() {
        let l = || layer(4, 3, Activation::Identity, QuantScheme::F32);
        assert!(matches!(Mlp::new(vec![]), Err(Error::InvalidArgument { .. })));
        assert_eq!(
            Mlp::new(vec![l(), l()]),
            Err(Error::DimensionMismatch { expected: 3, received: 4 })
        );
        let w = QuantizedMatrix::quantize(&[1.0; 6], 3, QuantScheme::F32).unwrap();
        assert_eq!(
            DenseLayer::new(w.clone(), vec![0.0], Activation::Relu),
            Err(Error::DimensionMismatch { expected: 2, received: 1 })
        );
        assert_eq!(
            DenseLayer::new(w, vec![0.0, f32::NAN], Activation::Relu),
            Err(Error::NonFinite { what: "bias", position: 1 })
        );
        let mlp = Mlp::new(vec![l()]).unwrap();
        assert_eq!(
            mlp.validate(&[1.0; 4]),
            Err(Error::DimensionMismatch { expected: 3, received: 4 })
        );
        assert_eq!(
            mlp.validate(&[1.0, f32::INFINITY, 0.0]),
            Err(Error::NonFinite { what: "MLP input", position: 1 })
        );
    }
}
