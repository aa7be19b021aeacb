//! A BERT encoder on candle (CPU) with sentence-transformers pooling: the
//! token vectors of the last layer are averaged over the real tokens (padding
//! excluded by the attention mask), or the `[CLS]` vector is taken when the
//! model's pooling config says so, and the result is L2-normalised.
//!
//! This is the straightforward, padded-batch formulation of the model. The
//! embedder computes with `owui_encoder` (see `local`); this one is kept as
//! the reference it is tested against and for `examples/rag_bench.rs`'s
//! before/after comparison.

pub use super::bert_config::BertConfig;
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln1: LayerNorm,
    inter: Linear,
    out: Linear,
    ln2: LayerNorm,
}

pub struct Bert {
    word: Embedding,
    pos: Embedding,
    token_type0: Tensor,
    ln: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    tanh_gelu: bool,
    pub pooling: Pooling,
    pub config: BertConfig,
}

impl Bert {
    /// Builds the model from `vb`, which may hold the weights with or without
    /// a `bert.` prefix.
    pub fn load(vb: VarBuilder, config: &BertConfig, pooling: Pooling) -> anyhow::Result<Bert> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let c = config;
        anyhow::ensure!(
            c.num_attention_heads > 0 && c.hidden_size.is_multiple_of(c.num_attention_heads),
            "hidden_size {} is not divisible by num_attention_heads {}",
            c.hidden_size,
            c.num_attention_heads
        );
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let word = candle_nn::embedding(c.vocab_size, h, e.pp("word_embeddings"))?;
        let pos = candle_nn::embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?;
        let types = candle_nn::embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?;
        let token_type0 = types.embeddings().get(0)?;
        let ln = candle_nn::layer_norm(h, c.layer_norm_eps, e.pp("LayerNorm"))?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            layers.push(Layer {
                q: candle_nn::linear(h, h, a.pp("self.query"))?,
                k: candle_nn::linear(h, h, a.pp("self.key"))?,
                v: candle_nn::linear(h, h, a.pp("self.value"))?,
                o: candle_nn::linear(h, h, a.pp("output.dense"))?,
                ln1: candle_nn::layer_norm(h, c.layer_norm_eps, a.pp("output.LayerNorm"))?,
                inter: candle_nn::linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                out: candle_nn::linear(c.intermediate_size, h, l.pp("output.dense"))?,
                ln2: candle_nn::layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
            });
        }
        let tanh_gelu = match c.hidden_act.as_str() {
            "gelu" => false,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => true,
            other => anyhow::bail!("unsupported activation {other:?} in the model config"),
        };
        Ok(Bert {
            word,
            pos,
            token_type0,
            ln,
            layers,
            heads: c.num_attention_heads,
            head_dim: h / c.num_attention_heads,
            tanh_gelu,
            pooling,
            config: c.clone(),
        })
    }

    /// Sentence vectors for a padded batch: `ids` and `mask` are `[batch,
    /// len]` (u32 ids; mask 1 for real tokens, 0 for padding). Returns
    /// unit-length `[batch, hidden]` rows.
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> anyhow::Result<Vec<Vec<f32>>> {
        let (b, l) = ids.dims2()?;
        let dev = ids.device();
        let positions = Tensor::arange(0u32, l as u32, dev)?;
        let mut x = self
            .word
            .forward(ids)?
            .broadcast_add(&self.pos.forward(&positions)?)?
            .broadcast_add(&self.token_type0)?;
        x = self.ln.forward(&x)?;
        let maskf = mask.to_dtype(DType::F32)?;
        // 0 for real tokens, -10000 for padding, added to the attention logits.
        let bias = maskf.affine(10_000.0, -10_000.0)?.reshape((b, 1, 1, l))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            let heads = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((b, l, self.heads, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            // Scaling q (b·l·h) is cheaper than scaling the scores (b·h·l·l).
            let q = (heads(layer.q.forward(&x)?)? * scale)?;
            let k = heads(layer.k.forward(&x)?)?;
            let v = heads(layer.v.forward(&x)?)?;
            let att = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(&bias)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let ctx = att.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((
                b,
                l,
                self.heads * self.head_dim,
            ))?;
            let a = layer.ln1.forward(&(layer.o.forward(&ctx)? + &x)?)?;
            let inter = layer.inter.forward(&a)?;
            let inter = if self.tanh_gelu {
                inter.gelu()?
            } else {
                inter.gelu_erf()?
            };
            x = layer.ln2.forward(&(layer.out.forward(&inter)? + &a)?)?;
        }
        let pooled = match self.pooling {
            Pooling::Cls => x.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let summed = x.broadcast_mul(&maskf.unsqueeze(2)?)?.sum(1)?;
                let counts = maskf.sum_keepdim(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        let norm = pooled
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        Ok(pooled.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

/// Pads `batch` to its longest member and runs the encoder.
pub fn embed_padded(bert: &Bert, batch: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let len = batch.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(batch.len() * len);
    let mut mask = Vec::with_capacity(batch.len() * len);
    for s in batch {
        ids.extend_from_slice(s);
        ids.extend(std::iter::repeat_n(0u32, len - s.len()));
        mask.extend(std::iter::repeat_n(1u32, s.len()));
        mask.extend(std::iter::repeat_n(0u32, len - s.len()));
    }
    let ids = Tensor::from_vec(ids, (batch.len(), len), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask, (batch.len(), len), &Device::Cpu)?;
    bert.embed(&ids, &mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use owui_encoder::synthetic::{tensors, Numbers, Shape};
    use std::collections::HashMap;

    fn tiny() -> Bert {
        let config = BertConfig {
            vocab_size: 50,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 32,
            max_position_embeddings: 64,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        };
        let dev = Device::Cpu;
        let mut numbers = Numbers(0);
        let shape = Shape {
            vocab: 50,
            positions: 64,
            hidden: 16,
            intermediate: 32,
            layers: 2,
        };
        let ts: HashMap<String, Tensor> = tensors(shape)
            .into_iter()
            .map(|(name, dims, _)| {
                let v = numbers.values(dims.iter().product(), 1.0, 0.0);
                (name, Tensor::from_vec(v, dims, &dev).unwrap())
            })
            .collect();
        let vb = VarBuilder::from_tensors(ts, DType::F32, &dev);
        Bert::load(vb, &config, Pooling::Mean).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn normalised_and_batch_equals_single() {
        let bert = tiny();
        let a: Vec<u32> = vec![1, 5, 9, 2];
        let b: Vec<u32> = vec![1, 7, 3, 11, 12, 13, 2];
        let c: Vec<u32> = vec![1, 2];
        let batch = embed_padded(&bert, &[&a, &b, &c]).unwrap();
        for v in &batch {
            assert_eq!(v.len(), 16);
            let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-5, "norm {n}");
        }
        for (i, s) in [&a, &b, &c].iter().enumerate() {
            let one = embed_padded(&bert, &[s.as_slice()]).unwrap();
            assert!(close(&one[0], &batch[i]), "row {i} differs");
        }
        assert!(!close(&batch[0], &batch[1]));
    }

    #[test]
    fn padding_does_not_count() {
        let bert = tiny();
        let a: Vec<u32> = vec![1, 5, 9, 2];
        let plain = embed_padded(&bert, &[&a]).unwrap();
        // The same tokens followed by explicit pad ids, masked out.
        let ids = Tensor::from_vec(vec![1u32, 5, 9, 2, 0, 0, 0, 0], (1, 8), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(vec![1u32, 1, 1, 1, 0, 0, 0, 0], (1, 8), &Device::Cpu).unwrap();
        let masked = bert.embed(&ids, &mask).unwrap();
        assert!(close(&plain[0], &masked[0]));
        // Counting the pads (all-ones mask) gives a different vector.
        let ones = Tensor::ones((1, 8), DType::U32, &Device::Cpu).unwrap();
        let unmasked = bert.embed(&ids, &ones).unwrap();
        assert!(!close(&plain[0], &unmasked[0]));
    }
}
