//! Compact storage for the bundled embedding model's weights.
//!
//! The large matrices (token/position embeddings, every dense layer) are kept
//! as 8-bit integers with one f32 scale per 128 values of a row (symmetric,
//! round to nearest); vectors (biases, LayerNorm) stay f32. The whole file is
//! deflated. At load
//! the weights are expanded back to f32, so inference runs exactly as with
//! the original file, only on slightly rounded weights. The accuracy against
//! sentence-transformers' own vectors is checked in `embed::tests`.
//!
//! build.rs includes this file with `#[path]`, so it only uses std and flate2.
//!
//! Layout (before deflate, little-endian): magic, u32 tensor count, then per
//! tensor: u16 name length, name, u8 kind (0 = f32, 1 = int8 rows), u8 rank,
//! u64 per dimension, then the data: f32 values, or for int8 one f32 scale per
//! group followed by the row-major i8 values.

use std::io::{Read, Write};

const MAGIC: &[u8; 8] = b"owuiq8\x01\n";
const KIND_F32: u8 = 0;
const KIND_I8: u8 = 1;
/// Matrices with at least this many values are stored as int8.
const QUANTIZE_FROM: usize = 1 << 16;
/// Values sharing one scale (along a row), when the row length allows.
const GROUP: usize = 128;
/// Decoding refuses anything claiming more values than this (bounded memory).
const MAX_VALUES: usize = 1 << 28;

/// One named f32 tensor.
pub struct Weights {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn quantized(w: &Weights) -> bool {
    w.shape.len() == 2 && w.data.len() >= QUANTIZE_FROM && w.shape[1] > 0
}

/// How many consecutive values of a row of `cols` share a scale.
fn group_of(cols: usize) -> usize {
    if cols.is_multiple_of(GROUP) {
        GROUP
    } else {
        cols
    }
}

/// The scale and int8 values of one row.
fn quantize_row(row: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 && max.is_finite() {
        max / 127.0
    } else {
        0.0
    };
    out.extend(row.iter().map(|x| {
        if scale == 0.0 {
            0
        } else {
            (x / scale).round().clamp(-127.0, 127.0) as i8
        }
    }));
    scale
}

/// What the weights become after a trip through the packed form (without
/// the byte encoding): used when the model is read from a folder in
/// development builds, so they compute with the same weights as a release.
pub fn round_trip(weights: &mut [Weights]) {
    let mut q = Vec::new();
    for w in weights.iter_mut().filter(|w| quantized(w)) {
        let group = group_of(w.shape[1]);
        for row in w.data.chunks_mut(group) {
            q.clear();
            let scale = quantize_row(row, &mut q);
            for (x, v) in row.iter_mut().zip(&q) {
                *x = *v as f32 * scale;
            }
        }
    }
}

/// The packed, deflated form of `weights`.
pub fn encode(weights: &[Weights]) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    raw.extend_from_slice(MAGIC);
    raw.extend_from_slice(&(weights.len() as u32).to_le_bytes());
    let mut q = Vec::new();
    for w in weights {
        raw.extend_from_slice(&(w.name.len() as u16).to_le_bytes());
        raw.extend_from_slice(w.name.as_bytes());
        let kind = if quantized(w) { KIND_I8 } else { KIND_F32 };
        raw.push(kind);
        raw.push(w.shape.len() as u8);
        for d in &w.shape {
            raw.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        if kind == KIND_F32 {
            for x in &w.data {
                raw.extend_from_slice(&x.to_le_bytes());
            }
            continue;
        }
        q.clear();
        for row in w.data.chunks(group_of(w.shape[1])) {
            let scale = quantize_row(row, &mut q);
            raw.extend_from_slice(&scale.to_le_bytes());
        }
        raw.extend(q.iter().map(|v| *v as u8));
    }
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(raw.len() / 2),
        flate2::Compression::best(),
    );
    enc.write_all(&raw)?;
    enc.finish()
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or("packed weights end early")?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or("tensor too large")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
}

/// The f32 tensors of a packed file.
pub fn decode(packed: &[u8]) -> Result<Vec<Weights>, String> {
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(packed)
        .take((MAX_VALUES * 4) as u64)
        .read_to_end(&mut raw)
        .map_err(|e| format!("inflating packed weights: {e}"))?;
    let mut c = Cursor { data: &raw, at: 0 };
    if c.take(MAGIC.len())? != MAGIC {
        return Err("not a packed weights file".into());
    }
    let count = c.u32()?;
    let mut out = Vec::new();
    let mut total = 0usize;
    for _ in 0..count {
        let len = c.u16()? as usize;
        let name = String::from_utf8(c.take(len)?.to_vec()).map_err(|_| "bad tensor name")?;
        let kind = c.u8()?;
        let rank = c.u8()? as usize;
        let mut shape = Vec::with_capacity(rank);
        let mut n = 1usize;
        for _ in 0..rank {
            let d = usize::try_from(c.u64()?).map_err(|_| "bad dimension")?;
            n = n.checked_mul(d).ok_or("tensor too large")?;
            shape.push(d);
        }
        total = total.saturating_add(n);
        if total > MAX_VALUES {
            return Err("packed weights too large".into());
        }
        let data = match kind {
            KIND_F32 => c.f32s(n)?,
            KIND_I8 if rank == 2 && shape[1] > 0 => {
                let group = group_of(shape[1]);
                let scales = c.f32s(n / group)?;
                let values = c.take(n)?;
                let mut data = Vec::with_capacity(n);
                for (row, scale) in values.chunks(group).zip(&scales) {
                    data.extend(row.iter().map(|v| *v as i8 as f32 * scale));
                }
                data
            }
            _ => return Err(format!("unknown tensor kind {kind} for {name}")),
        };
        out.push(Weights { name, shape, data });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Weights> {
        let big: Vec<f32> = (0..(300 * 256))
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 3000.0)
            .collect();
        vec![
            Weights {
                name: "dense.weight".into(),
                shape: vec![300, 256],
                data: big,
            },
            Weights {
                name: "dense.bias".into(),
                shape: vec![3],
                data: vec![0.5, -1.25, 3.0e-7],
            },
            Weights {
                name: "zero".into(),
                shape: vec![256, 256],
                data: vec![0.0; 256 * 256],
            },
        ]
    }

    #[test]
    fn encode_decode_equals_round_trip() {
        let original = sample();
        let decoded = decode(&encode(&original).unwrap()).unwrap();
        let mut expected = sample();
        round_trip(&mut expected);
        assert_eq!(decoded.len(), 3);
        for (d, e) in decoded.iter().zip(&expected) {
            assert_eq!(d.name, e.name);
            assert_eq!(d.shape, e.shape);
            assert_eq!(d.data, e.data);
        }
        // Vectors are kept exactly; matrices within half a step of the row scale.
        assert_eq!(decoded[1].data, original[1].data);
        let max_err = decoded[0]
            .data
            .iter()
            .zip(&original[0].data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            max_err <= 0.5 * (500.0 / 3000.0) / 127.0 + 1e-7,
            "{max_err}"
        );
        assert!(decoded[0].data != original[0].data);
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert!(decode(b"").is_err());
        assert!(decode(b"not deflate at all").is_err());
        let good = encode(&sample()).unwrap();
        // Truncated before the end.
        let mut raw = Vec::new();
        flate2::read::DeflateDecoder::new(&good[..])
            .read_to_end(&mut raw)
            .unwrap();
        for cut in [4, 12, 40, raw.len() - 1] {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&raw[..cut]).unwrap();
            assert!(decode(&enc.finish().unwrap()).is_err(), "cut at {cut}");
        }
        // A dimension claiming more values than allowed.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&1u16.to_le_bytes());
        huge.push(b'x');
        huge.extend_from_slice(&[KIND_F32, 2]);
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&huge).unwrap();
        assert!(decode(&enc.finish().unwrap()).is_err());
    }
}
