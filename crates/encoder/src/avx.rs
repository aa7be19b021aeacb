//! AVX-512 versions of the element-wise parts and of attention, written with
//! intrinsics and unrolled by hand: the server binary is linked with
//! opt-level "z", and its link-time optimisation neither vectorises nor
//! unrolls loops, so `ops`' plain loops would run scalar there. Same
//! formulas as `ops` (the tests compare the two).
//!
//! Every function requires AVX-512F and slices whose widths are multiples
//! of 16 where stated.

use std::arch::x86_64::*;

use crate::ops::{KB, QB};

const L: usize = 16;

/// e^x on 16 lanes (same approximation as `ops::exp`).
#[inline]
#[target_feature(enable = "avx512f")]
pub fn exp(x: __m512) -> __m512 {
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm512_set1_ps(1.987_569_1e-4);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.398_2e-3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.333_452e-3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166_579_6e-2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666_666_5e-1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5));
    let e = _mm512_add_ps(
        _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r),
        _mm512_set1_ps(1.0),
    );
    _mm512_scalef_ps(e, n)
}

/// GELU with erf on 16 lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn gelu16(x: __m512) -> __m512 {
    let z = _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
    let a = _mm512_abs_ps(z);
    let one = _mm512_set1_ps(1.0);
    let t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.327_591_1), a, one));
    let mut p = _mm512_set1_ps(1.061_405_4);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453_152_1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421_413_7));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284_496_74));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254_829_6));
    p = _mm512_mul_ps(p, t);
    let e = exp(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)));
    let erf_abs = _mm512_fnmadd_ps(p, e, one);
    // erf is odd: give it z's sign.
    let sign = _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32(i32::MIN));
    let erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf_abs), sign));
    _mm512_mul_ps(
        _mm512_mul_ps(_mm512_set1_ps(0.5), x),
        _mm512_add_ps(one, erf),
    )
}

/// `v = gelu(v + bias)` for rows of width `bias.len()` (a multiple of 16).
#[target_feature(enable = "avx512f")]
pub fn bias_gelu(v: &mut [f32], bias: &[f32]) {
    let w = bias.len();
    for row in v.chunks_exact_mut(w) {
        for c in (0..w).step_by(L) {
            // SAFETY: c + 16 <= w = row.len() = bias.len().
            unsafe {
                let p = row.as_mut_ptr().add(c);
                let x = _mm512_add_ps(_mm512_loadu_ps(p), _mm512_loadu_ps(bias.as_ptr().add(c)));
                _mm512_storeu_ps(p, gelu16(x));
            }
        }
    }
}

/// `v += bias` for rows of width `bias.len()` (a multiple of 16).
#[target_feature(enable = "avx512f")]
pub fn add_bias(v: &mut [f32], bias: &[f32]) {
    let w = bias.len();
    for row in v.chunks_exact_mut(w) {
        for c in (0..w).step_by(L) {
            // SAFETY: c + 16 <= w = row.len() = bias.len().
            unsafe {
                let p = row.as_mut_ptr().add(c);
                let x = _mm512_add_ps(_mm512_loadu_ps(p), _mm512_loadu_ps(bias.as_ptr().add(c)));
                _mm512_storeu_ps(p, x);
            }
        }
    }
}

/// `out[r] = LayerNorm(out[r] + bias + residual[r])`, rows of width
/// `gamma.len()` (a multiple of 16).
#[target_feature(enable = "avx512f")]
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
        // SAFETY: every offset c + 16 <= h, the length of all four slices.
        unsafe {
            let p = row.as_mut_ptr();
            let mut s = _mm512_setzero_ps();
            for c in (0..h).step_by(L) {
                let x = _mm512_add_ps(
                    _mm512_loadu_ps(p.add(c)),
                    _mm512_add_ps(
                        _mm512_loadu_ps(bias.as_ptr().add(c)),
                        _mm512_loadu_ps(res.as_ptr().add(c)),
                    ),
                );
                _mm512_storeu_ps(p.add(c), x);
                s = _mm512_add_ps(s, x);
            }
            norm_row(p, h, _mm512_reduce_add_ps(s), gamma, beta, eps);
        }
    }
}

/// LayerNorm of one row of width `gamma.len()` (a multiple of 16).
#[target_feature(enable = "avx512f")]
pub fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let h = gamma.len();
    // SAFETY: offsets stay below h = row.len().
    unsafe {
        let p = row.as_mut_ptr();
        let mut s = _mm512_setzero_ps();
        for c in (0..h).step_by(L) {
            s = _mm512_add_ps(s, _mm512_loadu_ps(p.add(c)));
        }
        norm_row(p, h, _mm512_reduce_add_ps(s), gamma, beta, eps);
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn norm_row(p: *mut f32, h: usize, sum: f32, gamma: &[f32], beta: &[f32], eps: f32) {
    let mean = _mm512_set1_ps(sum / h as f32);
    let mut v = _mm512_setzero_ps();
    // SAFETY (block): the caller's row has h values; gamma and beta too.
    unsafe {
        for c in (0..h).step_by(L) {
            let d = _mm512_sub_ps(_mm512_loadu_ps(p.add(c)), mean);
            v = _mm512_fmadd_ps(d, d, v);
        }
        let inv = _mm512_set1_ps(1.0 / (_mm512_reduce_add_ps(v) / h as f32 + eps).sqrt());
        for c in (0..h).step_by(L) {
            let d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p.add(c)), mean), inv);
            let y = _mm512_fmadd_ps(
                d,
                _mm512_loadu_ps(gamma.as_ptr().add(c)),
                _mm512_loadu_ps(beta.as_ptr().add(c)),
            );
            _mm512_storeu_ps(p.add(c), y);
        }
    }
}

/// `ops::attention_head` for a head dimension that is a multiple of 16.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
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
    assert!(head_dim.is_multiple_of(L) && len > 0);
    assert!(qkv.len() >= (len - 1) * stride + v_at.max(k_at).max(q_at) + head_dim);
    assert!(ctx.len() >= (len - 1) * ctx_stride + head_dim);
    let blocks = len.div_ceil(KB);
    let width = blocks * KB;
    assert!(kt.len() >= width * head_dim && scores.len() >= QB * width);
    // K transposed in blocks of 16 keys (zero past the end).
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
    let qp = qkv.as_ptr();
    let ktp = kt.as_ptr();
    let sp = scores.as_mut_ptr();
    // SAFETY (block): all offsets are within the lengths asserted above.
    unsafe {
        for i0 in (0..len).step_by(QB) {
            let rows = QB.min(len - i0);
            let q = |r: usize| qp.add((i0 + r.min(rows - 1)) * stride + q_at);
            let (q0, q1, q2, q3) = (q(0), q(1), q(2), q(3));
            for b in 0..blocks {
                let mut a0 = _mm512_setzero_ps();
                let mut a1 = _mm512_setzero_ps();
                let mut a2 = _mm512_setzero_ps();
                let mut a3 = _mm512_setzero_ps();
                let block = ktp.add(b * head_dim * KB);
                for d in 0..head_dim {
                    let k = _mm512_loadu_ps(block.add(d * KB));
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(*q0.add(d)), k, a0);
                    a1 = _mm512_fmadd_ps(_mm512_set1_ps(*q1.add(d)), k, a1);
                    a2 = _mm512_fmadd_ps(_mm512_set1_ps(*q2.add(d)), k, a2);
                    a3 = _mm512_fmadd_ps(_mm512_set1_ps(*q3.add(d)), k, a3);
                }
                _mm512_storeu_ps(sp.add(b * KB), a0);
                _mm512_storeu_ps(sp.add(width + b * KB), a1);
                _mm512_storeu_ps(sp.add(2 * width + b * KB), a2);
                _mm512_storeu_ps(sp.add(3 * width + b * KB), a3);
            }
            // Softmax of each row over the `len` real keys.
            let tail = len - (blocks - 1) * KB;
            let tail_mask: __mmask16 = if tail == KB {
                0xffff
            } else {
                (1u16 << tail) - 1
            };
            let mut inv = [0f32; QB];
            for (r, inv) in inv.iter_mut().enumerate() {
                let row = sp.add(r * width);
                let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
                for b in 0..blocks {
                    let mask = if b + 1 == blocks { tail_mask } else { 0xffff };
                    m = _mm512_mask_max_ps(m, mask, m, _mm512_loadu_ps(row.add(b * KB)));
                }
                let m = _mm512_set1_ps(_mm512_reduce_max_ps(m));
                let mut s = _mm512_setzero_ps();
                for b in 0..blocks {
                    let mask = if b + 1 == blocks { tail_mask } else { 0xffff };
                    let e = exp(_mm512_sub_ps(_mm512_loadu_ps(row.add(b * KB)), m));
                    // Keys past the end get 0.
                    let e = _mm512_maskz_mov_ps(mask, e);
                    _mm512_storeu_ps(row.add(b * KB), e);
                    s = _mm512_add_ps(s, e);
                }
                *inv = 1.0 / _mm512_reduce_add_ps(s);
            }
            // Context: 16 values of each of the four rows in registers.
            for c in (0..head_dim).step_by(L) {
                let mut a0 = _mm512_setzero_ps();
                let mut a1 = _mm512_setzero_ps();
                let mut a2 = _mm512_setzero_ps();
                let mut a3 = _mm512_setzero_ps();
                for j in 0..len {
                    let v = _mm512_loadu_ps(qp.add(j * stride + v_at + c));
                    a0 = _mm512_fmadd_ps(_mm512_set1_ps(*sp.add(j)), v, a0);
                    a1 = _mm512_fmadd_ps(_mm512_set1_ps(*sp.add(width + j)), v, a1);
                    a2 = _mm512_fmadd_ps(_mm512_set1_ps(*sp.add(2 * width + j)), v, a2);
                    a3 = _mm512_fmadd_ps(_mm512_set1_ps(*sp.add(3 * width + j)), v, a3);
                }
                let acc = [a0, a1, a2, a3];
                for r in 0..rows {
                    let o = ctx.as_mut_ptr().add((i0 + r) * ctx_stride + c);
                    _mm512_storeu_ps(o, _mm512_mul_ps(acc[r], _mm512_set1_ps(inv[r])));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "[{i}] {x} vs {y}");
        }
    }

    #[test]
    fn avx512_parts_match_the_portable_ones() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipped: no AVX-512");
            return;
        }
        let mut seed = 17;
        let h = 64;
        let bias = rand(h, &mut seed);
        let gamma = rand(h, &mut seed);
        let beta = rand(h, &mut seed);
        let res = rand(3 * h, &mut seed);
        let x: Vec<f32> = rand(3 * h, &mut seed).iter().map(|v| v * 12.0).collect();
        // SAFETY (all calls below): AVX-512F was detected.
        let (mut a, mut b) = (x.clone(), x.clone());
        unsafe { bias_gelu(&mut a, &bias) };
        crate::ops::add_bias(&mut b, &bias);
        crate::ops::gelu_erf(&mut b);
        close(&a, &b, 1e-6);
        let (mut a, mut b) = (x.clone(), x.clone());
        unsafe { add_layer_norm(&mut a, &bias, &res, &gamma, &beta, 1e-12) };
        crate::ops::add_layer_norm(&mut b, &bias, &res, &gamma, &beta, 1e-12);
        close(&a, &b, 1e-5);
        // Attention: 2 heads of 32 over sequences of several lengths.
        for len in [1usize, 5, 16, 17, 40] {
            let stride = 3 * h;
            let qkv: Vec<f32> = rand(len * stride, &mut seed)
                .iter()
                .map(|v| v * 4.0)
                .collect();
            let keys = len.div_ceil(KB) * KB;
            let (mut kt, mut sc) = (vec![0f32; 32 * keys], vec![0f32; QB * keys]);
            let mut want = vec![0f32; len * h];
            let mut got = vec![0f32; len * h];
            for hd in 0..2 {
                let at = (hd * 32, h + hd * 32, 2 * h + hd * 32);
                crate::ops::attention_head(
                    &qkv,
                    stride,
                    len,
                    32,
                    at,
                    &mut want[hd * 32..],
                    h,
                    &mut kt,
                    &mut sc,
                );
                unsafe {
                    attention_head(
                        &qkv,
                        stride,
                        len,
                        32,
                        at,
                        &mut got[hd * 32..],
                        h,
                        &mut kt,
                        &mut sc,
                    )
                };
            }
            close(&got, &want, 1e-5);
        }
    }
}
