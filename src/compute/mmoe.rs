//! Multi-gate Mixture-of-Experts (MMoE; Ma et al., "Modeling Task Relationships in Multi-task
//! Learning with Multi-gate Mixture-of-Experts", KDD 2018, §4.2, eqs. 5–6): `E` expert networks
//! share the input, and each of `T` tasks mixes them with its own softmax gate,
//!
//! ```text
//! f_t(x) = Σ_e g_{t,e}(x) · expert_e(x),    g_t(x) = softmax(W_t·x + b_t)  (over the E experts)
//! ```
//!
//! so tasks that conflict can use different experts while related tasks share them. The task
//! towers `h_t(f_t(x))` that follow are ordinary [`Mlp`]s run on each task's slice.
//!
//! Like every kernel here, the block has an f64 scalar reference ([`Mmoe::forward_reference`]),
//! an optimized CPU path ([`Mmoe::forward`]) and a GPU twin (`gpu::GpuMmoe`: experts and gates
//! as device-resident dense layers, the mixing as one more kernel, one readback).
//!
//! Outputs are laid out `batch × tasks × out_dim`, task-major within a row.

use crate::compute::dense::{Activation, DenseLayer, Mlp, MlpScratch};
use crate::error::{Error, Result};

/// An MMoE block: `E` experts with equal input and output widths, and `T` softmax gates over
/// them.
#[derive(Debug, Clone, PartialEq)]
pub struct Mmoe {
    experts: Vec<Mlp>,
    gates: Vec<DenseLayer>,
}

impl Mmoe {
    /// Assembles the block.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no experts, no gates, or a gate whose activation is not
    /// [`Activation::Softmax`] (a gate must be a distribution over the experts);
    /// [`Error::DimensionMismatch`] when an expert's input or output width differs from the
    /// first expert's, a gate's input width is not the experts' input width, or a gate does not
    /// have one output per expert.
    pub fn new(experts: Vec<Mlp>, gates: Vec<DenseLayer>) -> Result<Self> {
        let Some(first) = experts.first() else {
            return Err(Error::InvalidArgument {
                name: "experts",
                reason: "a mixture of experts needs at least one expert".into(),
            });
        };
        if gates.is_empty() {
            return Err(Error::InvalidArgument {
                name: "gates",
                reason: "a mixture of experts needs at least one gate (one per task)".into(),
            });
        }
        let (in_dim, out_dim) = (first.in_dim(), first.out_dim());
        for expert in &experts[1..] {
            if expert.in_dim() != in_dim {
                return Err(Error::DimensionMismatch {
                    expected: in_dim,
                    received: expert.in_dim(),
                });
            }
            if expert.out_dim() != out_dim {
                return Err(Error::DimensionMismatch {
                    expected: out_dim,
                    received: expert.out_dim(),
                });
            }
        }
        for (t, gate) in gates.iter().enumerate() {
            if gate.activation() != Activation::Softmax {
                return Err(Error::InvalidArgument {
                    name: "gates",
                    reason: format!(
                        "gate {t} uses {:?}; MMoE gates must use Softmax",
                        gate.activation()
                    ),
                });
            }
            if gate.in_dim() != in_dim {
                return Err(Error::DimensionMismatch { expected: in_dim, received: gate.in_dim() });
            }
            if gate.out_dim() != experts.len() {
                return Err(Error::DimensionMismatch {
                    expected: experts.len(),
                    received: gate.out_dim(),
                });
            }
        }
        Ok(Self { experts, gates })
    }

    /// The experts.
    pub fn experts(&self) -> &[Mlp] {
        &self.experts
    }
    /// The gates, one per task.
    pub fn gates(&self) -> &[DenseLayer] {
        &self.gates
    }
    /// Number of tasks (gates).
    pub fn tasks(&self) -> usize {
        self.gates.len()
    }
    /// Inputs per row.
    pub fn in_dim(&self) -> usize {
        self.experts[0].in_dim()
    }
    /// Outputs per task and row (the experts' output width).
    pub fn out_dim(&self) -> usize {
        self.experts[0].out_dim()
    }

    /// Checks a batch of inputs; returns the batch size.
    ///
    /// # Errors
    /// As [`Mlp::validate`].
    pub fn validate(&self, inputs: &[f32]) -> Result<usize> {
        self.experts[0].validate(inputs)
    }

    /// The scalar reference: every expert and gate in f64 on the stored weights, mixed in f64,
    /// rounded once. Returns `batch × tasks × out_dim`.
    ///
    /// # Errors
    /// As [`Mmoe::validate`].
    pub fn forward_reference(&self, inputs: &[f32]) -> Result<Vec<f32>> {
        let batch = self.validate(inputs)?;
        let (n_experts, dim, tasks) = (self.experts.len(), self.out_dim(), self.tasks());
        let experts = self
            .experts
            .iter()
            .map(|e| e.forward_reference_f64(inputs))
            .collect::<Result<Vec<_>>>()?;
        let x: Vec<f64> = inputs.iter().map(|v| f64::from(*v)).collect();
        let mut out = vec![0.0f64; batch * tasks * dim];
        for (t, gate) in self.gates.iter().enumerate() {
            let g = gate.forward_reference_f64(&x, batch);
            for b in 0..batch {
                let mixed = &mut out[(b * tasks + t) * dim..(b * tasks + t + 1) * dim];
                for (e, expert) in experts.iter().enumerate() {
                    let weight = g[b * n_experts + e];
                    for (m, y) in mixed.iter_mut().zip(&expert[b * dim..(b + 1) * dim]) {
                        *m += weight * y;
                    }
                }
            }
        }
        Ok(out.into_iter().map(|v| v as f32).collect())
    }

    /// The optimized CPU forward pass; returns `batch × tasks × out_dim`.
    ///
    /// # Errors
    /// As [`Mmoe::validate`].
    pub fn forward(&self, inputs: &[f32], scratch: &mut MmoeScratch) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.forward_into(inputs, scratch, &mut out)?;
        Ok(out)
    }

    /// [`Mmoe::forward`] into a caller-owned `out` (no allocation once `out` and `scratch`
    /// have grown).
    ///
    /// # Errors
    /// As [`Mmoe::validate`].
    pub fn forward_into(
        &self,
        inputs: &[f32],
        scratch: &mut MmoeScratch,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let batch = self.validate(inputs)?;
        let (n_experts, dim, tasks) = (self.experts.len(), self.out_dim(), self.tasks());
        let MmoeScratch { mlp, experts, gate, row } = scratch;
        // Expert e's outputs at [e · batch · dim, (e + 1) · batch · dim).
        experts.clear();
        for expert in &self.experts {
            experts.extend_from_slice(expert.forward_in_scratch(inputs, mlp)?);
        }
        out.clear();
        out.resize(batch * tasks * dim, 0.0);
        for (t, g) in self.gates.iter().enumerate() {
            g.forward_fast(inputs, batch, gate, row);
            for b in 0..batch {
                let mixed = &mut out[(b * tasks + t) * dim..(b * tasks + t + 1) * dim];
                for e in 0..n_experts {
                    let weight = gate[b * n_experts + e];
                    let y = &experts[(e * batch + b) * dim..(e * batch + b + 1) * dim];
                    for (m, v) in mixed.iter_mut().zip(y) {
                        *m += weight * v;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reusable buffers for [`Mmoe::forward`].
#[derive(Debug, Default)]
pub struct MmoeScratch {
    mlp: MlpScratch,
    experts: Vec<f32>,
    gate: Vec<f32>,
    row: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{QuantScheme, QuantizedMatrix};

    fn dense(w: &[f32], inp: usize, bias: Vec<f32>, act: Activation) -> DenseLayer {
        DenseLayer::new(QuantizedMatrix::quantize(w, inp, QuantScheme::F32).unwrap(), bias, act)
            .unwrap()
    }

    /// Two identity experts (x ↦ x and x ↦ 2x on 2-d inputs), two gates.
    fn small() -> Mmoe {
        let experts = vec![
            Mlp::new(vec![dense(&[1.0, 0.0, 0.0, 1.0], 2, vec![0.0; 2], Activation::Identity)])
                .unwrap(),
            Mlp::new(vec![dense(&[2.0, 0.0, 0.0, 2.0], 2, vec![0.0; 2], Activation::Identity)])
                .unwrap(),
        ];
        // Gate 0 ignores x and weights the experts by softmax(0, ln 3) = (1/4, 3/4); gate 1
        // follows x[0] − x[1].
        let gates = vec![
            dense(&[0.0; 4], 2, vec![0.0, 3f32.ln()], Activation::Softmax),
            dense(&[1.0, -1.0, -1.0, 1.0], 2, vec![0.0; 2], Activation::Softmax),
        ];
        Mmoe::new(experts, gates).unwrap()
    }

    #[test]
    fn hand_computed_mixture() {
        let m = small();
        let x = [1.0f32, 1.0, 0.5, 0.0];
        // Row 0 (1, 1): gate 0 → 1/4·(1,1) + 3/4·(2,2) = (1.75, 1.75); gate 1: logits (0, 0)
        // → (1/2, 1/2) → (1.5, 1.5).
        // Row 1 (0.5, 0): gate 0 → (0.875, 0); gate 1: logits (0.5, −0.5), p = σ(1).
        let p = 1.0 / (1.0 + (-1.0f64).exp());
        let g1 = (p + 2.0 * (1.0 - p)) * 0.5;
        let expected = [1.75, 1.75, 1.5, 1.5, 0.875, 0.0, g1, 0.0];
        for got in
            [m.forward_reference(&x).unwrap(), m.forward(&x, &mut Default::default()).unwrap()]
        {
            assert_eq!(got.len(), 8);
            for (g, e) in got.iter().zip(expected) {
                assert!((f64::from(*g) - e).abs() <= 1e-6, "{got:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn fast_matches_reference_and_reuses_scratch() {
        let m = small();
        let mut scratch = MmoeScratch::default();
        for batch in [3, 1, 5] {
            let x: Vec<f32> = (0..2 * batch).map(|i| (i as f32 * 1.3).sin() * 4.0).collect();
            let (r, f) = (m.forward_reference(&x).unwrap(), m.forward(&x, &mut scratch).unwrap());
            assert_eq!(r.len(), batch * 2 * 2);
            for (a, b) in r.iter().zip(&f) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn shapes_are_checked_with_typed_errors() {
        let m = small();
        let expert = |inp: usize, out: usize| {
            Mlp::new(vec![dense(&vec![0.5; inp * out], inp, vec![0.0; out], Activation::Relu)])
                .unwrap()
        };
        let gate = |inp: usize, e: usize, act| dense(&vec![0.1; inp * e], inp, vec![0.0; e], act);
        assert!(matches!(
            Mmoe::new(vec![], m.gates().to_vec()),
            Err(Error::InvalidArgument { name: "experts", .. })
        ));
        assert!(matches!(
            Mmoe::new(m.experts().to_vec(), vec![]),
            Err(Error::InvalidArgument { name: "gates", .. })
        ));
        assert_eq!(
            Mmoe::new(vec![expert(2, 3), expert(4, 3)], vec![gate(2, 2, Activation::Softmax)]),
            Err(Error::DimensionMismatch { expected: 2, received: 4 })
        );
        assert_eq!(
            Mmoe::new(vec![expert(2, 3), expert(2, 5)], vec![gate(2, 2, Activation::Softmax)]),
            Err(Error::DimensionMismatch { expected: 3, received: 5 })
        );
        assert_eq!(
            Mmoe::new(vec![expert(2, 3), expert(2, 3)], vec![gate(7, 2, Activation::Softmax)]),
            Err(Error::DimensionMismatch { expected: 2, received: 7 })
        );
        assert_eq!(
            Mmoe::new(vec![expert(2, 3), expert(2, 3)], vec![gate(2, 3, Activation::Softmax)]),
            Err(Error::DimensionMismatch { expected: 2, received: 3 })
        );
        assert!(matches!(
            Mmoe::new(vec![expert(2, 3), expert(2, 3)], vec![gate(2, 2, Activation::Sigmoid)]),
            Err(Error::InvalidArgument { name: "gates", .. })
        ));
        assert_eq!(
            m.forward(&[1.0; 3], &mut Default::default()),
            Err(Error::DimensionMismatch { expected: 2, received: 3 })
        );
        assert_eq!(
            m.forward_reference(&[1.0, f32::NAN]),
            Err(Error::NonFinite { what: "MLP input", position: 1 })
        );
    }
}
