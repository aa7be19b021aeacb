//! Throughput and latency of the encoder with random weights of
//! all-MiniLM-L6-v2's shape (the numbers do not depend on the values):
//! `cargo run --release -p owui-encoder --example speed [-- <chunks> <tokens>]`.

use std::collections::HashMap;
use std::time::Instant;

use owui_encoder::{Activation, Config, Encoder, Pooling, WeightSource};

struct Random(HashMap<String, Vec<usize>>, u64);

impl WeightSource for Random {
    fn get(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
        let shape = self.0.get(name).cloned().ok_or(name.to_string())?;
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                self.1 = self.1.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((self.1 >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.1
            })
            .collect();
        Ok((shape, data))
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let chunks = args.first().copied().unwrap_or(256);
    let len = args.get(1).copied().unwrap_or(170);
    let int8 = std::env::var("F32").is_err();
    let (h, ff) = (384, 1536);
    let mut shapes = HashMap::new();
    shapes.insert(
        "embeddings.word_embeddings.weight".to_string(),
        vec![30522, h],
    );
    shapes.insert("embeddings.position_embeddings.weight".into(), vec![512, h]);
    shapes.insert("embeddings.token_type_embeddings.weight".into(), vec![2, h]);
    shapes.insert("embeddings.LayerNorm.weight".into(), vec![h]);
    shapes.insert("embeddings.LayerNorm.bias".into(), vec![h]);
    for i in 0..6 {
        let l = format!("encoder.layer.{i}");
        for (name, o, k) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", ff, h),
            ("output.dense", h, ff),
        ] {
            shapes.insert(format!("{l}.{name}.weight"), vec![o, k]);
            shapes.insert(format!("{l}.{name}.bias"), vec![o]);
        }
        for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
            shapes.insert(format!("{l}.{name}.weight"), vec![h]);
            shapes.insert(format!("{l}.{name}.bias"), vec![h]);
        }
    }
    let config = Config {
        hidden: h,
        heads: 12,
        intermediate: ff,
        max_positions: 256,
        eps: 1e-12,
        activation: Activation::GeluErf,
        pooling: Pooling::Mean,
    };
    let enc = Encoder::load(config, 6, &mut Random(shapes, 1), int8).unwrap();
    println!(
        "int8 kernels: {}, weights {:.1} MB",
        enc.uses_int8(),
        enc.weight_bytes() as f64 / 1e6
    );
    let seqs: Vec<Vec<u32>> = (0..chunks)
        .map(|i| {
            (0..len.min(256))
                .map(|j| ((i * 31 + j * 7) % 30000) as u32)
                .collect()
        })
        .collect();
    let batches: Vec<Vec<&[u32]>> = seqs
        .chunks((2048 / len).max(1))
        .map(|c| c.iter().map(|s| s.as_slice()).collect())
        .collect();
    for round in 0..2 {
        let t = Instant::now();
        for b in &batches {
            enc.embed(b).unwrap();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {chunks} x {len} tokens: {s:.2} s, {:.1} chunks/s, {:.0} GFLOP/s",
            chunks as f64 / s,
            (chunks * len) as f64 * 2.0 * 10.6e6 / s / 1e9
        );
    }
    for q in [8usize, 16] {
        let ids: Vec<u32> = (0..q as u32).map(|i| 100 + i * 13).collect();
        let mut d: Vec<f64> = (0..300)
            .map(|_| {
                let t = Instant::now();
                enc.embed(&[&ids]).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        d.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "query {q} tokens: p50 {:.3} ms, p90 {:.3} ms",
            d[150], d[270]
        );
    }
}
