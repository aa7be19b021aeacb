//! Reads the floating-point tensors of a `model.safetensors` file (a model
//! folder chosen as the embedding model) as f32: 8 bytes of header length
//! (little endian), a JSON header naming each tensor's dtype, shape and byte
//! range, then the data. F32, F16, BF16 and F64 are read; other dtypes (the
//! I64 `position_ids` some exports carry) are not used by the model and are
//! left out. Every length and range is checked: a broken or hostile file is
//! an error, never a panic.

use super::packed::Weights;

/// Header size accepted (real ones are a few tens of KB).
const MAX_HEADER: usize = 16 << 20;

pub fn read(bytes: &[u8]) -> Result<Vec<Weights>, String> {
    let len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or("too short")?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_HEADER)
        .ok_or("header too large")?;
    let header = bytes.get(8..8 + len).ok_or("header cut short")?;
    let body = &bytes[8 + len..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
    let mut out = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let width = match info.get("dtype").and_then(|d| d.as_str()) {
            Some("F32") => 4,
            Some("F16" | "BF16") => 2,
            Some("F64") => 8,
            Some(_) => continue,
            None => return Err(format!("{name}: no dtype")),
        };
        let dtype = info["dtype"].as_str().unwrap_or_default();
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|s| {
                s.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect()
            })
            .ok_or_else(|| format!("{name}: bad shape"))?;
        let count = shape
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .ok_or_else(|| format!("{name}: shape too large"))?;
        let range = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o[0].as_u64()? as usize, o[1].as_u64()? as usize)))
            .ok_or_else(|| format!("{name}: bad data_offsets"))?;
        let raw = body
            .get(range.0..range.1)
            .ok_or_else(|| format!("{name}: data_offsets out of range"))?;
        if Some(raw.len()) != count.checked_mul(width) {
            return Err(format!("{name}: shape and data disagree"));
        }
        let data: Vec<f32> = match dtype {
            "F32" => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            "F64" => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            "BF16" => raw
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            _ => raw
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        };
        out.push(Weights { name, shape, data });
    }
    Ok(out)
}

/// IEEE half precision to single (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        // Subnormal: frac · 2^-24 (exact in f32).
        (0, f) => {
            let v = f as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn reads_f32_f16_bf16_f64_and_skips_integers() {
        let mut body = Vec::new();
        for x in [1.5f32, -2.0, 0.25, 3.0] {
            body.extend_from_slice(&x.to_le_bytes());
        }
        // f16: 1.0, -0.5, 65504 (max), 2^-24 (smallest subnormal)
        for h in [0x3c00u16, 0xb800, 0x7bff, 0x0001] {
            body.extend_from_slice(&h.to_le_bytes());
        }
        // bf16: 1.0, -3.0
        for h in [0x3f80u16, 0xc040] {
            body.extend_from_slice(&h.to_le_bytes());
        }
        body.extend_from_slice(&0.125f64.to_le_bytes());
        body.extend_from_slice(&7i64.to_le_bytes());
        let header = r#"{"__metadata__":{"format":"pt"},
            "a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},
            "h":{"dtype":"F16","shape":[4],"data_offsets":[16,24]},
            "b":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},
            "d":{"dtype":"F64","shape":[],"data_offsets":[28,36]},
            "ids":{"dtype":"I64","shape":[1],"data_offsets":[36,44]}}"#;
        let mut w = read(&file(header, &body)).unwrap();
        w.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = w.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "d", "h"]);
        assert_eq!(w[0].shape, [2, 2]);
        assert_eq!(w[0].data, [1.5, -2.0, 0.25, 3.0]);
        assert_eq!(w[1].data, [1.0, -3.0]);
        assert_eq!(w[2].data, [0.125]);
        assert_eq!(w[3].data, [1.0, -0.5, 65504.0, 2f32.powi(-24)]);
    }

    #[test]
    fn f16_conversion_is_exact_for_every_value() {
        for h in 0..=u16::MAX {
            let got = f16_to_f32(h);
            let sign = if h & 0x8000 != 0 { -1.0f64 } else { 1.0 };
            let (e, f) = (((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f64);
            let want = match e {
                0 => sign * f * 2f64.powi(-24),
                0x1f if f == 0.0 => sign * f64::INFINITY,
                0x1f => f64::NAN,
                e => sign * (1.0 + f / 1024.0) * 2f64.powi(e - 15),
            };
            if want.is_nan() {
                assert!(got.is_nan(), "{h:#06x}");
            } else {
                assert_eq!(got as f64, want, "{h:#06x}");
                assert_eq!(got.is_sign_negative(), sign < 0.0, "{h:#06x}");
            }
        }
    }

    #[test]
    fn hostile_files_are_errors() {
        let f32s = [0u8; 16];
        for (header, body) in [
            (
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#,
                &f32s[..],
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}}"#,
                &f32s[..],
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,4]}}"#,
                &f32s[..],
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0]}}"#,
                &f32s[..],
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}}"#,
                &f32s[..],
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#,
                &f32s[..],
            ),
            (r#"{"a":{"shape":[4],"data_offsets":[0,16]}}"#, &f32s[..]),
            (r#"["not an object"]"#, &f32s[..]),
            (r#"{"a":"#, &f32s[..]),
        ] {
            assert!(read(&file(header, body)).is_err(), "{header}");
        }
        assert!(read(&[1, 2, 3]).is_err());
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(read(&huge).is_err());
        let mut cut = 100u64.to_le_bytes().to_vec();
        cut.extend_from_slice(b"{}");
        assert!(read(&cut).is_err());
    }
}
