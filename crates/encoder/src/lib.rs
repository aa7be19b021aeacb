//! The forward pass of a BERT sentence encoder (all-MiniLM-L6-v2 and its
//! kin) on the CPU, written for throughput and for short inputs:
//!
//! - the inputs of a batch are packed one after another (no padding), so the
//!   dense layers run over exactly the real tokens and attention runs per
//!   input, with no mask;
//! - Q, K and V are one fused projection, the 1/√d of attention folded into
//!   its Q part;
//! - every buffer of a pass is allocated once and reused by all layers;
//! - a batch is split by tokens across the rayon pool's threads, each
//!   running whole passes (no synchronisation inside a pass); a short
//!   input runs on the calling thread;
//! - with weights that were stored as int8 (one scale per 128 values, as the
//!   bundled model is), the products run on AVX-512 from the int8 values
//!   (`q8`); otherwise (and without AVX-512) on `gemm` in f32.
//!
//! The instruction set is chosen at run time ([`Isa::detect`]): AVX-512
//! (int8 products and the intrinsics of `avx`), AVX2 + FMA (the portable
//! code compiled for those) or portable Rust. The portable path computes the
//! same function with f32 weights (the dequantized int8 values), so all
//! three agree to float rounding; `Encoder::load_with_isa` forces a lower
//! one (tests, benchmarks), and so does `OWUI_ENCODER_ISA`.
//!
//! Sentence vectors are mean-pooled (or `[CLS]`) and L2-normalised.

#[cfg(target_arch = "x86_64")]
mod avx;
pub mod ops;
pub mod q8;
pub mod synthetic;

use q8::Packed;

/// The instruction set a pass runs on, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust; the products on `gemm` in f32 (which picks its own
    /// kernels at run time).
    Portable,
    /// The portable code compiled for AVX2 and FMA.
    Avx2,
    /// int8 products (`q8`), attention, GELU and LayerNorm in AVX-512
    /// intrinsics (`avx`). Needs AVX-512 F, BW, DQ and VL.
    Avx512,
}

impl Isa {
    /// The best this CPU supports (and its OS enables).
    pub fn supported() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            if avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// `supported()`, lowered to `OWUI_ENCODER_ISA` (`portable`, `avx2`,
    /// `avx512`) when that is set.
    pub fn detect() -> Isa {
        let cap = match std::env::var("OWUI_ENCODER_ISA").as_deref() {
            Ok("portable") => Isa::Portable,
            Ok("avx2") => Isa::Avx2,
            _ => Isa::Avx512,
        };
        Isa::supported().min(cap)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    GeluErf,
    GeluTanh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub eps: f32,
    pub activation: Activation,
    pub pooling: Pooling,
}

/// Source of the weights by name (torch names without the `bert.` prefix):
/// returns the shape and the f32 values.
pub trait WeightSource {
    fn get(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), String>;
}

/// A token table: f32, or int8 rows with one scale per group.
enum Table {
    F32(Vec<f32>),
    Q8 {
        q: Vec<i8>,
        s: Vec<f32>,
        group: usize,
    },
}

impl Table {
    fn new(data: Vec<f32>, width: usize, quantized: bool) -> Table {
        if !quantized {
            return Table::F32(data);
        }
        let group = q8::group_of(width);
        let mut q = vec![0i8; data.len()];
        let s = data
            .chunks(group)
            .zip(q.chunks_mut(group))
            .map(|(src, dst)| q8::quantize(src, dst))
            .collect();
        Table::Q8 { q, s, group }
    }

    /// `out += row i`.
    fn add_row(&self, i: usize, out: &mut [f32]) {
        let w = out.len();
        match self {
            Table::F32(d) => out
                .iter_mut()
                .zip(&d[i * w..(i + 1) * w])
                .for_each(|(o, x)| *o += x),
            Table::Q8 { q, s, group } => {
                let q = &q[i * w..(i + 1) * w];
                let s = &s[i * w / group..(i + 1) * w / group];
                for ((o, q), s) in out.chunks_mut(*group).zip(q.chunks(*group)).zip(s) {
                    o.iter_mut().zip(q).for_each(|(o, q)| *o += *q as f32 * s);
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Table::F32(d) => d.len() * 4,
            Table::Q8 { q, s, .. } => q.len() + s.len() * 4,
        }
    }
}

enum Weight {
    /// `[n, k]` row-major (torch's layout).
    F32(Vec<f32>),
    Q8(Packed),
}

struct Dense {
    n: usize,
    k: usize,
    w: Weight,
    bias: Vec<f32>,
}

impl Dense {
    /// `rows` are `[n, k]` blocks stacked along n (a fused projection), each
    /// with its bias and a factor applied to weights and bias.
    /// `int8`: keep the weights as int8 for the AVX-512 kernel (the caller
    /// checked that the CPU has it).
    fn new(parts: Vec<(Vec<f32>, Vec<f32>, f32)>, k: usize, int8: bool) -> Dense {
        let mut w = Vec::new();
        let mut bias = Vec::new();
        for (pw, pb, mul) in parts {
            w.extend(pw.iter().map(|x| x * mul));
            bias.extend(pb.iter().map(|x| x * mul));
        }
        let n = bias.len();
        let w = if int8 && Packed::fits(n, k) {
            Weight::Q8(Packed::new(&w, n, k, 1.0))
        } else {
            Weight::F32(w)
        };
        Dense { n, k, w, bias }
    }

    /// `out[m, n] = x[m, k] · Wᵀ` (bias not added).
    #[inline(always)]
    fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let (n, k) = (self.n, self.k);
        let out = &mut out[..m * n];
        match &self.w {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: int8 weights are made only for `Isa::Avx512`, which
            // `Isa::supported` returns only when AVX-512F (BW, DQ, VL) was
            // detected (`Encoder::load_with_isa`).
            Weight::Q8(p) => unsafe { p.matmul_avx512(&x[..m * k], m, out) },
            #[cfg(not(target_arch = "x86_64"))]
            Weight::Q8(p) => p.matmul_portable(&x[..m * k], m, out),
            Weight::F32(w) => {
                // SAFETY: dst is m×n (row stride n), lhs m×k (row stride k),
                // rhs is Wᵀ read from the n×k matrix (element (i, j) at j·k + i).
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        x.as_ptr(),
                        1,
                        k as isize,
                        w.as_ptr(),
                        k as isize,
                        1,
                        0.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        self.bias.len() * 4
            + match &self.w {
                Weight::F32(w) => w.len() * 4,
                Weight::Q8(p) => p.bytes(),
            }
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    qkv: Dense,
    o: Dense,
    ln1: Norm,
    inter: Dense,
    out: Dense,
    ln2: Norm,
}

pub struct Encoder {
    config: Config,
    word: Table,
    pos: Vec<f32>,
    token_type0: Vec<f32>,
    ln: Norm,
    layers: Vec<Layer>,
    isa: Isa,
    /// Element-wise parts and attention on AVX-512 (`avx`): set only when
    /// `isa` is `Avx512` (so AVX-512F was detected) and the widths allow.
    simd: bool,
}

/// Inputs of a batch up to this many tokens run on the calling thread.
const SPLIT_FROM_TOKENS: usize = 128;

impl Encoder {
    /// Builds the encoder from `src` for the best instruction set here
    /// ([`Isa::detect`]). `quantized` says the large matrices were stored as
    /// int8 with one scale per 128 values of a row (then they are kept that
    /// way and computed from on AVX-512).
    pub fn load(
        config: Config,
        layers: usize,
        src: &mut dyn WeightSource,
        quantized: bool,
    ) -> Result<Encoder, String> {
        Self::load_with_isa(config, layers, src, quantized, Isa::detect())
    }

    /// `load` for at most `isa` (lowered to what the CPU supports).
    pub fn load_with_isa(
        config: Config,
        layers: usize,
        src: &mut dyn WeightSource,
        quantized: bool,
        isa: Isa,
    ) -> Result<Encoder, String> {
        let isa = isa.min(Isa::supported());
        let q8_ok = quantized && isa == Isa::Avx512;
        let h = config.hidden;
        let ff = config.intermediate;
        if h == 0 || config.heads == 0 || !h.is_multiple_of(config.heads) {
            return Err(format!(
                "hidden_size {h} is not divisible by num_attention_heads {}",
                config.heads
            ));
        }
        // A 0 in `shape` accepts any size there.
        let mut get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
            let (s, d) = src.get(name)?;
            let ok = s.len() == shape.len() && s.iter().zip(shape).all(|(a, b)| *b == 0 || a == b);
            if !ok || d.len() != s.iter().product::<usize>() {
                return Err(format!("{name}: shape {s:?}, expected {shape:?}"));
            }
            Ok(d)
        };
        let word = get("embeddings.word_embeddings.weight", &[0, h])?;
        let pos = get("embeddings.position_embeddings.weight", &[0, h])?;
        let types = get("embeddings.token_type_embeddings.weight", &[0, h])?;
        if pos.len() / h < config.max_positions || types.is_empty() {
            return Err("fewer position embeddings than max_position_embeddings".into());
        }
        let mut norm = |name: &str| -> Result<Norm, String> {
            Ok(Norm {
                gamma: get(&format!("{name}.weight"), &[h])?,
                beta: get(&format!("{name}.bias"), &[h])?,
            })
        };
        let ln = norm("embeddings.LayerNorm")?;
        let scale = 1.0 / ((h / config.heads) as f32).sqrt();
        let mut out_layers = Vec::with_capacity(layers);
        for i in 0..layers {
            let l = format!("encoder.layer.{i}");
            let mut part = |name: &str, n: usize, k: usize, mul: f32| {
                Ok::<_, String>((
                    get(&format!("{l}.{name}.weight"), &[n, k])?,
                    get(&format!("{l}.{name}.bias"), &[n])?,
                    mul,
                ))
            };
            let qkv = vec![
                part("attention.self.query", h, h, scale)?,
                part("attention.self.key", h, h, 1.0)?,
                part("attention.self.value", h, h, 1.0)?,
            ];
            let o = part("attention.output.dense", h, h, 1.0)?;
            let inter = part("intermediate.dense", ff, h, 1.0)?;
            let out = part("output.dense", h, ff, 1.0)?;
            let mut norm = |name: &str| -> Result<Norm, String> {
                Ok(Norm {
                    gamma: get(&format!("{l}.{name}.weight"), &[h])?,
                    beta: get(&format!("{l}.{name}.bias"), &[h])?,
                })
            };
            let ln1 = norm("attention.output.LayerNorm")?;
            let ln2 = norm("output.LayerNorm")?;
            out_layers.push(Layer {
                qkv: Dense::new(qkv, h, q8_ok),
                o: Dense::new(vec![o], h, q8_ok),
                ln1,
                inter: Dense::new(vec![inter], h, q8_ok),
                out: Dense::new(vec![out], ff, q8_ok),
                ln2,
            });
        }
        let simd = isa == Isa::Avx512
            && h.is_multiple_of(16)
            && ff.is_multiple_of(16)
            && (h / config.heads).is_multiple_of(16);
        Ok(Encoder {
            isa,
            simd,
            word: Table::new(word, h, q8_ok),
            pos: pos[..config.max_positions * h].to_vec(),
            token_type0: types[..h].to_vec(),
            ln,
            layers: out_layers,
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes of weights held.
    pub fn weight_bytes(&self) -> usize {
        let norms = |n: &Norm| (n.gamma.len() + n.beta.len()) * 4;
        self.word.bytes()
            + (self.pos.len() + self.token_type0.len()) * 4
            + norms(&self.ln)
            + self
                .layers
                .iter()
                .map(|l| {
                    l.qkv.bytes()
                        + l.o.bytes()
                        + l.inter.bytes()
                        + l.out.bytes()
                        + norms(&l.ln1)
                        + norms(&l.ln2)
                })
                .sum::<usize>()
    }

    /// The instruction set passes run on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the int8 AVX-512 path is in use.
    pub fn uses_int8(&self) -> bool {
        matches!(self.layers.first().map(|l| &l.qkv.w), Some(Weight::Q8(_)))
    }

    /// Unit-length sentence vectors of `batch` (token ids with `[CLS]` and
    /// `[SEP]`, each at most `max_positions` long; ids must be in the
    /// vocabulary). Large batches are split across the current rayon pool.
    pub fn embed(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, String> {
        let vocab = match &self.word {
            Table::F32(d) => d.len(),
            Table::Q8 { q, .. } => q.len(),
        } / self.config.hidden;
        for s in batch {
            if s.len() > self.config.max_positions {
                return Err(format!(
                    "input of {} tokens, the model takes {}",
                    s.len(),
                    self.config.max_positions
                ));
            }
            if s.iter().any(|&t| t as usize >= vocab) {
                return Err("token id outside the vocabulary".into());
            }
        }
        let total: usize = batch.iter().map(|s| s.len()).sum();
        let threads = rayon::current_num_threads().min(batch.len());
        if threads <= 1 || total <= SPLIT_FROM_TOKENS {
            return Ok(self.run(batch));
        }
        // Greedy split by tokens, longest inputs first.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(batch[i].len()));
        let mut parts: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); threads];
        for i in order {
            let p = parts.iter_mut().min_by_key(|p| p.0).expect("threads > 0");
            p.0 += batch[i].len();
            p.1.push(i);
        }
        use rayon::prelude::*;
        let done: Vec<(Vec<usize>, Vec<Vec<f32>>)> = parts
            .into_par_iter()
            .map(|(_, idx)| {
                let seqs: Vec<&[u32]> = idx.iter().map(|&i| batch[i]).collect();
                (idx, self.run(&seqs))
            })
            .collect();
        let mut out = vec![Vec::new(); batch.len()];
        for (idx, vecs) in done {
            for (i, v) in idx.into_iter().zip(vecs) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn run(&self, batch: &[&[u32]]) -> Vec<Vec<f32>> {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` is at most `Isa::supported()`, which returns
            // `Avx512` only when AVX-512 F, BW, DQ, VL, AVX2 and FMA were
            // detected (`load_with_isa`).
            Isa::Avx512 => unsafe { self.run_avx512(batch) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above: `Avx2` only when AVX2 and FMA were detected.
            Isa::Avx2 => unsafe { self.run_avx2(batch) },
            _ => self.forward(batch),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
    unsafe fn run_avx512(&self, batch: &[&[u32]]) -> Vec<Vec<f32>> {
        self.forward(batch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, batch: &[&[u32]]) -> Vec<Vec<f32>> {
        self.forward(batch)
    }

    #[inline(always)]
    fn add_bias(&self, v: &mut [f32], bias: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.simd && bias.len().is_multiple_of(16) {
            // SAFETY: `simd` is set only for `Isa::Avx512` (AVX-512F detected).
            return unsafe { avx::add_bias(v, bias) };
        }
        ops::add_bias(v, bias)
    }

    #[inline(always)]
    fn bias_activation(&self, v: &mut [f32], bias: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.simd && self.config.activation == Activation::GeluErf {
            // SAFETY: `simd` is set only for `Isa::Avx512` (AVX-512F detected).
            return unsafe { avx::bias_gelu(v, bias) };
        }
        ops::add_bias(v, bias);
        match self.config.activation {
            Activation::GeluErf => ops::gelu_erf(v),
            Activation::GeluTanh => ops::gelu_tanh(v),
        }
    }

    #[inline(always)]
    fn add_layer_norm(&self, out: &mut [f32], bias: &[f32], residual: &[f32], n: &Norm, eps: f32) {
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is set only for `Isa::Avx512` (AVX-512F detected).
            return unsafe { avx::add_layer_norm(out, bias, residual, &n.gamma, &n.beta, eps) };
        }
        ops::add_layer_norm(out, bias, residual, &n.gamma, &n.beta, eps)
    }

    /// One pass over the packed tokens of `batch` on this thread.
    #[inline(always)]
    fn forward(&self, batch: &[&[u32]]) -> Vec<Vec<f32>> {
        let c = &self.config;
        let (h, ff) = (c.hidden, c.intermediate);
        let head_dim = h / c.heads;
        let t: usize = batch.iter().map(|s| s.len()).sum();
        let longest = batch.iter().map(|s| s.len()).max().unwrap_or(0);
        if t == 0 {
            return batch.iter().map(|_| vec![0.0; h]).collect();
        }
        let mut x = vec![0f32; t * h];
        let mut a = vec![0f32; t * h];
        let mut ctx = vec![0f32; t * h];
        let mut wide = vec![0f32; t * (3 * h).max(ff)];
        let keys = longest.div_ceil(ops::KB) * ops::KB;
        let mut kt = vec![0f32; head_dim * keys];
        let mut scores = vec![0f32; ops::QB * keys];

        // Embeddings: word + position + token type 0, then LayerNorm.
        let mut row = 0;
        for s in batch {
            for (p, &id) in s.iter().enumerate() {
                let xr = &mut x[row * h..(row + 1) * h];
                xr.iter_mut()
                    .zip(&self.pos[p * h..(p + 1) * h])
                    .zip(&self.token_type0)
                    .for_each(|((o, p), t)| *o = p + t);
                self.word.add_row(id as usize, xr);
                #[cfg(target_arch = "x86_64")]
                if self.simd {
                    // SAFETY: `simd` is set only for `Isa::Avx512` (AVX-512F detected).
                    unsafe { avx::layer_norm_row(xr, &self.ln.gamma, &self.ln.beta, c.eps) };
                    row += 1;
                    continue;
                }
                ops::layer_norm_row(xr, &self.ln.gamma, &self.ln.beta, c.eps);
                row += 1;
            }
        }

        for l in &self.layers {
            let qkv = &mut wide[..t * 3 * h];
            l.qkv.matmul(&x, t, qkv);
            self.add_bias(qkv, &l.qkv.bias);
            let mut start = 0;
            for s in batch {
                let len = s.len();
                for hd in 0..c.heads {
                    let at = hd * head_dim;
                    #[cfg(target_arch = "x86_64")]
                    if self.simd && len > 0 {
                        // SAFETY: `simd` is set only for `Isa::Avx512` (AVX-512F detected).
                        unsafe {
                            avx::attention_head(
                                &qkv[start * 3 * h..(start + len) * 3 * h],
                                3 * h,
                                len,
                                head_dim,
                                (at, h + at, 2 * h + at),
                                &mut ctx[start * h + at..],
                                h,
                                &mut kt,
                                &mut scores,
                            )
                        };
                        continue;
                    }
                    ops::attention_head(
                        &qkv[start * 3 * h..(start + len) * 3 * h],
                        3 * h,
                        len,
                        head_dim,
                        (at, h + at, 2 * h + at),
                        &mut ctx[start * h + at..],
                        h,
                        &mut kt,
                        &mut scores,
                    );
                }
                start += len;
            }
            l.o.matmul(&ctx, t, &mut a);
            self.add_layer_norm(&mut a, &l.o.bias, &x, &l.ln1, c.eps);
            let inter = &mut wide[..t * ff];
            l.inter.matmul(&a, t, inter);
            self.bias_activation(inter, &l.inter.bias);
            l.out.matmul(inter, t, &mut x);
            self.add_layer_norm(&mut x, &l.out.bias, &a, &l.ln2, c.eps);
        }

        let mut out = Vec::with_capacity(batch.len());
        let mut start = 0;
        for s in batch {
            let len = s.len();
            let mut v = vec![0f32; h];
            if len > 0 {
                match c.pooling {
                    Pooling::Cls => v.copy_from_slice(&x[start * h..(start + 1) * h]),
                    Pooling::Mean => {
                        for r in x[start * h..(start + len) * h].chunks_exact(h) {
                            v.iter_mut().zip(r).for_each(|(o, x)| *o += x);
                        }
                        let inv = 1.0 / len as f32;
                        v.iter_mut().for_each(|o| *o *= inv);
                    }
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|o| *o /= norm);
            out.push(v);
            start += len;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<String, (Vec<usize>, Vec<f32>)>);

    impl WeightSource for Map {
        fn get(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
            self.0.get(name).cloned().ok_or_else(|| name.to_string())
        }
    }

    /// A random 2-layer model (hidden 64, 4 heads of 16, 128 intermediate,
    /// vocabulary 200, 96 positions), matrices rounded to int8 values.
    fn random_model() -> (Config, Map) {
        use crate::synthetic::{tensors, Numbers, Role, Shape};
        let (h, ff) = (64, 128);
        let mut numbers = Numbers(21);
        let mut m = HashMap::new();
        let shape = Shape {
            vocab: 200,
            positions: 96,
            hidden: h,
            intermediate: ff,
            layers: 2,
        };
        for (name, dims, role) in tensors(shape) {
            let (amp, offset) = role.scale();
            let mut v = numbers.values(dims.iter().product(), amp, offset);
            // Matrices hold int8 values, as the bundled model's do.
            if matches!(role, Role::Matrix | Role::WordEmbeddings) {
                let k = dims[1];
                for row in v.chunks_mut(k) {
                    let mut q = vec![0i8; k];
                    let s = q8::quantize(row, &mut q);
                    row.iter_mut().zip(&q).for_each(|(x, q)| *x = *q as f32 * s);
                }
            }
            m.insert(name, (dims, v));
        }
        let config = Config {
            hidden: h,
            heads: 4,
            intermediate: ff,
            max_positions: 96,
            eps: 1e-12,
            activation: Activation::GeluErf,
            pooling: Pooling::Mean,
        };
        (config, Map(m))
    }

    /// Every instruction set this CPU has computes the portable path's
    /// vectors (int8 weights on AVX-512 are the same dequantized values), for
    /// single inputs and for a batch split across threads.
    #[test]
    fn every_instruction_set_computes_the_portable_vectors() {
        let (config, mut src) = random_model();
        let mut seed = 7u64;
        let seqs: Vec<Vec<u32>> = [1usize, 2, 5, 16, 17, 40, 95, 33, 64]
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        ((seed >> 33) % 200) as u32
                    })
                    .collect()
            })
            .collect();
        let batch: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
        let portable =
            Encoder::load_with_isa(config.clone(), 2, &mut src, true, Isa::Portable).unwrap();
        assert_eq!(portable.isa(), Isa::Portable);
        assert!(!portable.uses_int8());
        let want = portable.embed(&batch).unwrap();
        for v in &want {
            let n: f32 = v.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5, "not unit length: {n}");
        }
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            let enc = Encoder::load_with_isa(config.clone(), 2, &mut src, true, isa).unwrap();
            assert!(enc.isa() <= isa && enc.isa() <= Isa::supported());
            assert_eq!(enc.uses_int8(), enc.isa() == Isa::Avx512);
            let got = enc.embed(&batch).unwrap();
            for (i, s) in batch.iter().enumerate() {
                let one = &enc.embed(&[s]).unwrap()[0];
                for (a, b) in got[i].iter().zip(&want[i]).chain(one.iter().zip(&want[i])) {
                    assert!((a - b).abs() < 2e-5, "{:?} row {i}: {a} vs {b}", enc.isa());
                }
            }
        }
    }
}
