//! The local model: tokenizer + encoder (`owui_encoder`), loaded from a
//! model folder's files or from the bundled packed weights.

use std::collections::HashMap;

use anyhow::Context;
use owui_encoder::{Activation, Config, Encoder, Isa, Pooling, WeightSource};

#[cfg(any(test, feature = "candle-reference"))]
use super::bert::Bert;
pub use super::bert_config::BertConfig;
use super::packed::{self, Weights};
#[cfg(any(test, feature = "candle-reference"))]
use candle_core::{DType, Device, Tensor};
#[cfg(any(test, feature = "candle-reference"))]
use candle_nn::VarBuilder;

pub struct LocalModel {
    pub tokenizer: tokenizers::Tokenizer,
    pub encoder: Encoder,
    pub max_len: usize,
}

/// Where the weights come from.
#[derive(Clone, Copy)]
pub enum WeightFile<'a> {
    /// A `model.safetensors` file, used as is.
    SafeTensors(&'a [u8]),
    /// A `model.safetensors` file whose large matrices are rounded the way
    /// the bundled model is stored (see `packed`), so a development build
    /// computes what a release build does.
    SafeTensorsRounded(&'a [u8]),
    /// The bundled model's packed form (build.rs wrote it with `packed`).
    Packed(&'a [u8]),
}

impl WeightFile<'_> {
    /// Whether the large matrices hold int8 values with one scale per 128.
    fn int8(self) -> bool {
        !matches!(self, WeightFile::SafeTensors(_))
    }

    fn weights(self) -> anyhow::Result<Vec<Weights>> {
        let (bytes, round) = match self {
            WeightFile::SafeTensors(b) => (b, false),
            WeightFile::SafeTensorsRounded(b) => (b, true),
            WeightFile::Packed(b) => {
                return packed::decode(b)
                    .map_err(|e| anyhow::anyhow!("reading the bundled model: {e}"));
            }
        };
        let mut weights = super::safetensors::read(bytes)
            .map_err(|e| anyhow::anyhow!("reading model.safetensors: {e}"))?;
        if round {
            packed::round_trip(&mut weights);
        }
        Ok(weights)
    }
}

/// Raw files of a model folder.
pub struct ModelFiles<'a> {
    pub config: &'a [u8],
    pub tokenizer: &'a [u8],
    pub weights: WeightFile<'a>,
    /// `sentence_bert_config.json`, if present.
    pub st_config: Option<&'a [u8]>,
    /// `1_Pooling/config.json`, if present.
    pub pooling: Option<&'a [u8]>,
}

struct Parsed {
    config: BertConfig,
    cls: bool,
    max_len: usize,
}

fn parse(files: &ModelFiles<'_>) -> anyhow::Result<Parsed> {
    let config: BertConfig =
        serde_json::from_slice(files.config).context("reading the model's config.json")?;
    let cls = match files.pooling {
        Some(p) => {
            let v: serde_json::Value =
                serde_json::from_slice(p).context("reading 1_Pooling/config.json")?;
            v.get("pooling_mode_cls_token").and_then(|b| b.as_bool()) == Some(true)
        }
        None => false,
    };
    let max_len = files
        .st_config
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("max_seq_length").and_then(|n| n.as_u64()))
        .map_or(512, |n| n as usize)
        .min(config.max_position_embeddings);
    Ok(Parsed {
        config,
        cls,
        max_len,
    })
}

/// Weights by name, with or without the `bert.` prefix; each taken once.
struct ByName(HashMap<String, Weights>);

impl WeightSource for ByName {
    fn get(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
        let w = self
            .0
            .remove(&format!("bert.{name}"))
            .or_else(|| self.0.remove(name))
            .ok_or_else(|| format!("the model has no tensor {name}"))?;
        Ok((w.shape, w.data))
    }
}

impl LocalModel {
    /// Loads the model for the best instruction set of this CPU.
    pub fn load(files: &ModelFiles<'_>) -> anyhow::Result<LocalModel> {
        Self::load_with_isa(files, Isa::detect())
    }

    /// Loads the model for at most `isa` (tests force the portable path).
    pub fn load_with_isa(files: &ModelFiles<'_>, isa: Isa) -> anyhow::Result<LocalModel> {
        let p = parse(files)?;
        let c = &p.config;
        let activation = match c.hidden_act.as_str() {
            "gelu" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            other => anyhow::bail!("unsupported activation {other:?} in the model config"),
        };
        let config = Config {
            hidden: c.hidden_size,
            heads: c.num_attention_heads,
            intermediate: c.intermediate_size,
            max_positions: p.max_len,
            eps: c.layer_norm_eps as f32,
            activation,
            pooling: if p.cls { Pooling::Cls } else { Pooling::Mean },
        };
        let mut src = ByName(
            files
                .weights
                .weights()?
                .into_iter()
                .map(|w| (w.name.clone(), w))
                .collect(),
        );
        let encoder = Encoder::load_with_isa(
            config,
            c.num_hidden_layers,
            &mut src,
            files.weights.int8(),
            isa,
        )
        .map_err(|e| anyhow::anyhow!("loading the embedding model: {e}"))?;
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(files.tokenizer)
            .map_err(|e| anyhow::anyhow!("reading tokenizer.json: {e}"))?;
        // The shipped tokenizer.json pads every input to 128 and truncates at
        // 128: we batch without padding and truncate at the model's limit.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: p.max_len,
                ..Default::default()
            }))
            .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        Ok(LocalModel {
            tokenizer,
            encoder,
            max_len: p.max_len,
        })
    }

    /// The same model on candle (the padded reference formulation), for
    /// tests and benchmarks.
    #[cfg(any(test, feature = "candle-reference"))]
    pub fn load_reference(files: &ModelFiles<'_>) -> anyhow::Result<Bert> {
        let p = parse(files)?;
        let tensors: HashMap<String, Tensor> = files
            .weights
            .weights()?
            .into_iter()
            .map(|w| Ok((w.name, Tensor::from_vec(w.data, w.shape, &Device::Cpu)?)))
            .collect::<anyhow::Result<_>>()?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let pooling = if p.cls {
            super::bert::Pooling::Cls
        } else {
            super::bert::Pooling::Mean
        };
        Bert::load(vb, &p.config, pooling)
    }

    /// Token ids of each text (with `[CLS]`/`[SEP]`, truncated).
    pub fn tokenize(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(t.as_str(), true)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))
            })
            .collect()
    }

    /// Embeds already tokenized inputs (one pass, split across the current
    /// rayon pool when large).
    pub fn embed_ids(&self, batch: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        self.encoder
            .embed(batch)
            .map_err(|e| anyhow::anyhow!("embedding: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use owui_encoder::synthetic::{tensors, Numbers, Shape};

    /// A random 2-layer BERT (hidden 64, 4 heads, 128 intermediate), its
    /// matrices rounded as the bundled model's are.
    fn random_model(act: &str) -> (BertConfig, Vec<Weights>) {
        let (h, ff, vocab, pos) = (64, 128, 300, 160);
        let config = BertConfig {
            vocab_size: vocab,
            hidden_size: h,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: ff,
            max_position_embeddings: pos,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: act.into(),
        };
        let mut numbers = Numbers(5);
        let shape = Shape {
            vocab,
            positions: pos,
            hidden: h,
            intermediate: ff,
            layers: 2,
        };
        let mut w: Vec<Weights> = tensors(shape)
            .into_iter()
            .map(|(name, shape, role)| {
                let (amp, offset) = role.scale();
                let data = numbers.values(shape.iter().product(), amp, offset);
                Weights { name, shape, data }
            })
            .collect();
        // Mark the matrices large enough to be stored as int8.
        for x in w
            .iter_mut()
            .filter(|x| x.shape.len() == 2 && x.shape[0] > 2)
        {
            let k = x.shape[1];
            for row in x.data.chunks_mut(k) {
                let mut q = vec![0i8; k];
                let s = owui_encoder::q8::quantize(row, &mut q);
                row.iter_mut().zip(&q).for_each(|(v, q)| *v = *q as f32 * s);
            }
        }
        (config, w)
    }

    fn candle(config: &BertConfig, w: &[Weights]) -> Bert {
        let tensors = w
            .iter()
            .map(|w| {
                let t = Tensor::from_vec(w.data.clone(), w.shape.clone(), &Device::Cpu).unwrap();
                (w.name.clone(), t)
            })
            .collect();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        Bert::load(vb, config, super::super::bert::Pooling::Mean).unwrap()
    }

    fn fast(config: &BertConfig, w: &[Weights], int8: bool, act: Activation, isa: Isa) -> Encoder {
        let c = Config {
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            intermediate: config.intermediate_size,
            max_positions: config.max_position_embeddings,
            eps: config.layer_norm_eps as f32,
            activation: act,
            pooling: Pooling::Mean,
        };
        let mut src = ByName(
            w.iter()
                .map(|w| {
                    let copy = Weights {
                        name: w.name.clone(),
                        shape: w.shape.clone(),
                        data: w.data.clone(),
                    };
                    (w.name.clone(), copy)
                })
                .collect(),
        );
        Encoder::load_with_isa(c, config.num_hidden_layers, &mut src, int8, isa).unwrap()
    }

    /// The packed, unpadded encoder (both weight paths, every instruction set
    /// this CPU has, the portable fallback always; batches split across
    /// threads or not) computes what the padded candle model does.
    #[test]
    fn encoder_matches_the_padded_candle_model() {
        for (act, a) in [
            ("gelu", Activation::GeluErf),
            ("gelu_new", Activation::GeluTanh),
        ] {
            let (config, w) = random_model(act);
            let reference = candle(&config, &w);
            let mut numbers = Numbers(9);
            let seqs: Vec<Vec<u32>> = [3usize, 40, 1, 17, 150, 64, 2, 90]
                .iter()
                .map(|&n| {
                    numbers
                        .values(n, 1.0, 0.0)
                        .iter()
                        .map(|x| ((x + 0.5) * 299.0) as u32)
                        .collect()
                })
                .collect();
            let batch: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
            let want = super::super::bert::embed_padded(&reference, &batch).unwrap();
            let paths = [false, true]
                .into_iter()
                .flat_map(|int8| [Isa::Portable, Isa::Avx2, Isa::Avx512].map(|isa| (int8, isa)));
            for (int8, isa) in paths {
                let enc = fast(&config, &w, int8, a, isa);
                let got = enc.embed(&batch).unwrap();
                // One by one (single thread) as in the batch (split).
                for (i, s) in batch.iter().enumerate() {
                    let one = enc.embed(&[s]).unwrap();
                    for (x, y) in one[0].iter().zip(&got[i]) {
                        assert!((x - y).abs() < 1e-6, "row {i} alone vs batched");
                    }
                }
                let worst = got
                    .iter()
                    .flatten()
                    .zip(want.iter().flatten())
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                let isa = enc.isa();
                assert!(
                    worst < 2e-5,
                    "{act} int8={int8} {isa:?}: max difference {worst}"
                );
            }
        }
    }

    #[test]
    fn hostile_token_ids_and_lengths_are_errors() {
        let (config, w) = random_model("gelu");
        let enc = fast(&config, &w, true, Activation::GeluErf, Isa::detect());
        assert!(enc.embed(&[&[1, 300]]).is_err());
        assert!(enc.embed(&[&vec![1u32; 161]]).is_err());
        assert_eq!(enc.embed(&[&[]]).unwrap()[0], vec![0.0; 64]);
        assert!(enc.embed(&[]).unwrap().is_empty());
    }
}
