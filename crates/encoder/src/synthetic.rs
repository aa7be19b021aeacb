//! Synthetic BERT checkpoints for tests and benchmarks: the tensors this
//! encoder reads (names as in a sentence-transformers `model.safetensors`),
//! with their shapes and roles, and a small deterministic number source to
//! fill them.

/// What a tensor of the checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The token embedding table (a matrix, stored like the dense weights).
    WordEmbeddings,
    /// Position and token-type embedding tables.
    Embeddings,
    /// A dense layer's weight, `[out, in]`.
    Matrix,
    /// A dense layer's bias.
    Bias,
    /// A layer norm's scale.
    NormWeight,
    /// A layer norm's shift.
    NormBias,
}

impl Role {
    /// Amplitude and offset of plausible random values for this role (scales
    /// around 1, small biases), so a synthetic model's activations stay in
    /// a realistic range.
    pub fn scale(self) -> (f32, f32) {
        match self {
            Role::WordEmbeddings => (2.0, 0.0),
            Role::Embeddings => (1.0, 0.0),
            Role::Matrix => (0.5, 0.0),
            Role::Bias | Role::NormBias => (0.2, 0.0),
            Role::NormWeight => (0.2, 1.0),
        }
    }
}

/// The size of a synthetic model.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub vocab: usize,
    pub positions: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
}

/// Every tensor of a checkpoint of `shape`: name, dimensions, role.
pub fn tensors(shape: Shape) -> Vec<(String, Vec<usize>, Role)> {
    let Shape {
        vocab,
        positions,
        hidden: h,
        intermediate: ff,
        layers,
    } = shape;
    let mut out = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![vocab, h],
            Role::WordEmbeddings,
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![positions, h],
            Role::Embeddings,
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
            Role::Embeddings,
        ),
    ];
    let norm = |out: &mut Vec<_>, name: &str| {
        out.push((format!("{name}.weight"), vec![h], Role::NormWeight));
        out.push((format!("{name}.bias"), vec![h], Role::NormBias));
    };
    norm(&mut out, "embeddings.LayerNorm");
    for i in 0..layers {
        let l = format!("encoder.layer.{i}");
        for (name, o, k) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", ff, h),
            ("output.dense", h, ff),
        ] {
            out.push((format!("{l}.{name}.weight"), vec![o, k], Role::Matrix));
            out.push((format!("{l}.{name}.bias"), vec![o], Role::Bias));
        }
        norm(&mut out, &format!("{l}.attention.output.LayerNorm"));
        norm(&mut out, &format!("{l}.output.LayerNorm"));
    }
    out
}

/// A linear congruential number source: the same values for the same seed.
pub struct Numbers(pub u64);

impl Numbers {
    /// `n` values spread evenly over `offset ± amp / 2`.
    pub fn values(&mut self, n: usize, amp: f32, offset: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (((self.0 >> 33) as f32 / (1u64 << 31) as f32) - 0.5) * amp + offset
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_has_sixteen_tensors_after_the_five_of_the_embeddings() {
        let t = tensors(Shape {
            vocab: 10,
            positions: 8,
            hidden: 4,
            intermediate: 6,
            layers: 2,
        });
        assert_eq!(t.len(), 5 + 2 * 16);
        let (name, dims, role) = &t[5 + 8];
        assert_eq!(name, "encoder.layer.0.intermediate.dense.weight");
        assert_eq!((dims.as_slice(), *role), (&[6, 4][..], Role::Matrix));
        let mut a = Numbers(3);
        assert_eq!(a.values(4, 1.0, 0.0), Numbers(3).values(4, 1.0, 0.0));
        assert!(a
            .values(100, 0.2, 1.0)
            .iter()
            .all(|x| (0.9..=1.1).contains(x)));
    }
}
