//! Element-wise parts of the encoder, written as plain loops over slices so
//! the compiler vectorises them (for AVX-512 when inlined into the
//! `target_feature` entry point in `lib.rs`). `exp` and `erf` are polynomial
//! approximations without library calls for the same reason, and products
//! are added with `a * b + c`, not `mul_add`: on the portable path (no FMA
//! enabled) `mul_add` is a call to the C library's `fmaf`, per element.

/// e^x for x in about [-87, 88] (clamped), relative error ≈ 2e-7.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2) with the 1.5·2^23 trick (no library call).
    let magic = 12_582_912.0f32;
    let n = (x * std::f32::consts::LOG2_E + magic) - magic;
    // r = x - n·ln 2, with ln 2 split in two for precision.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf(x), absolute error below 2e-7 (Abramowitz & Stegun 7.1.26).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// GELU with erf (BERT's "gelu"), in place.
#[inline(always)]
pub fn gelu_erf(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// GELU with tanh ("gelu_new" / "gelu_pytorch_tanh"), in place.
#[inline(always)]
pub fn gelu_tanh(v: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    for x in v.iter_mut() {
        let y = C * (*x + 0.044_715 * *x * *x * *x);
        let tanh = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
        *x = 0.5 * *x * (1.0 + tanh);
    }
}

/// `out[r] = LayerNorm(out[r] + bias + residual[r])` for each row of width
/// `gamma.len()`.
#[inline(always)]
pub fn add_layer_norm(
    out: &mut [f32],
    bias: &[f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let h = gamma.len();
    for (row, res) in out.chunks_exact_mut(h).zip(residual.chunks_exact(h)) {
        for ((x, b), r) in row.iter_mut().zip(bias).zip(res) {
            *x += b + r;
        }
        layer_norm_row(row, gamma, beta, eps);
    }
}

#[inline(always)]
pub fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let h = row.len() as f32;
    let mean = sum(row) / h;
    let mut var = 0f32;
    // Eight partial sums: vectorisable without reassociating a single sum.
    let mut acc = [0f32; 8];
    for c in row.chunks_exact(8) {
        for i in 0..8 {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    for x in row.chunks_exact(8).remainder() {
        var += (x - mean) * (x - mean);
    }
    var += acc.iter().sum::<f32>();
    let inv = 1.0 / (var / h + eps).sqrt();
    for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *x = (*x - mean) * inv * g + b;
    }
}

#[inline(always)]
pub fn sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `out += bias` for each row of width `bias.len()`.
#[inline(always)]
pub fn add_bias(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

/// Keys per block of the transposed K (one AVX-512 register of scores).
pub const KB: usize = 16;
/// Queries computed together.
pub const QB: usize = 4;

/// Self-attention of one sequence and one head. `qkv` holds the sequence's
/// rows of the fused projection (`stride` floats apart; q already scaled),
/// `q_at`/`k_at`/`v_at` the head's column offsets; writes `len` rows of
/// `head_dim` values into `ctx` (`ctx_stride` apart). `kt` and `scores` are
/// scratch of at least `head_dim·len` and `4·len` floats, `len` rounded up
/// to a multiple of 16 keys.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn attention_head(
    qkv: &[f32],
    stride: usize,
    len: usize,
    head_dim: usize,
    (q_at, k_at, v_at): (usize, usize, usize),
    ctx: &mut [f32],
    ctx_stride: usize,
    kt: &mut [f32],
    scores: &mut [f32],
) {
    let blocks = len.div_ceil(KB);
    // K transposed in blocks of 16 keys: kt[(b·head_dim + d)·16 + t] is
    // k_{16b+t}[d] (zero past the end), so 16 scores sit in one register
    // while d runs.
    let kt = &mut kt[..blocks * head_dim * KB];
    for b in 0..blocks {
        for t in 0..KB {
            let j = b * KB + t;
            for d in 0..head_dim {
                kt[(b * head_dim + d) * KB + t] = if j < len {
                    qkv[j * stride + k_at + d]
                } else {
                    0.0
                };
            }
        }
    }
    let width = blocks * KB;
    let scores = &mut scores[..QB * width];
    // Four queries at a time: four independent accumulator chains share
    // every load of K and V.
    for i0 in (0..len).step_by(QB) {
        let rows = QB.min(len - i0);
        // Missing rows repeat the last one (computed, not written).
        let q: [&[f32]; QB] = std::array::from_fn(|r| {
            let i = i0 + r.min(rows - 1);
            &qkv[i * stride + q_at..i * stride + q_at + head_dim]
        });
        for b in 0..blocks {
            let mut acc = [[0f32; KB]; QB];
            let block = &kt[b * head_dim * KB..(b + 1) * head_dim * KB];
            for (d, k) in block.chunks_exact(KB).enumerate() {
                for r in 0..QB {
                    let qd = q[r][d];
                    for t in 0..KB {
                        acc[r][t] += qd * k[t];
                    }
                }
            }
            for r in 0..QB {
                scores[r * width + b * KB..r * width + (b + 1) * KB].copy_from_slice(&acc[r]);
            }
        }
        let mut inv = [0f32; QB];
        for r in 0..QB {
            let real = &mut scores[r * width..r * width + len];
            let m = max(real);
            for s in real.iter_mut() {
                *s = exp(*s - m);
            }
            inv[r] = 1.0 / sum(real);
        }
        if head_dim.is_multiple_of(KB) {
            // 16 output values per query in a register while j runs.
            for c in (0..head_dim).step_by(KB) {
                let mut acc = [[0f32; KB]; QB];
                for j in 0..len {
                    let v = &qkv[j * stride + v_at + c..j * stride + v_at + c + KB];
                    for r in 0..QB {
                        let p = scores[r * width + j];
                        for t in 0..KB {
                            acc[r][t] += p * v[t];
                        }
                    }
                }
                for r in 0..rows {
                    let o = (i0 + r) * ctx_stride + c;
                    for (o, a) in ctx[o..o + KB].iter_mut().zip(&acc[r]) {
                        *o = a * inv[r];
                    }
                }
            }
        } else {
            for r in 0..rows {
                let o = (i0 + r) * ctx_stride;
                let out = &mut ctx[o..o + head_dim];
                out.fill(0.0);
                for j in 0..len {
                    let p = scores[r * width + j] * inv[r];
                    let v = &qkv[j * stride + v_at..j * stride + v_at + head_dim];
                    for (o, x) in out.iter_mut().zip(v) {
                        *o += p * x;
                    }
                }
            }
        }
    }
}

/// The largest value (NaN-blind; −∞ for an empty slice).
#[inline(always)]
pub fn max(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, x| if *x > m { *x } else { m });
    for c in chunks {
        for i in 0..16 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().fold(rest, |m, x| if *x > m { *x } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_are_close_to_libm() {
        let mut worst_exp = 0f64;
        let mut worst_erf = 0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 / 1000.0;
            let e = exp(x) as f64;
            let want = (x as f64).exp();
            worst_exp = worst_exp.max(((e - want) / want).abs());
            let want_erf = libm_erf(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - want_erf).abs());
        }
        assert!(worst_exp < 5e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf absolute error {worst_erf}");
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(-87.0) > 0.0 && exp(88.0).is_finite());
    }

    /// erf by its Taylor series / continued fraction in f64, as a reference.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let mut sum = x;
            let mut term = x;
            let mut n = 0f64;
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc by the continued fraction, enough for |x| >= 3.
            let a = x.abs();
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (a + f);
            }
            let erfc = (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + f));
            (1.0 - erfc).copysign(x)
        }
    }
}
