//! Throughput and latency of the encoder with random weights of
//! all-MiniLM-L6-v2's shape (the numbers do not depend on the values):
//! `cargo run --release -p owui-encoder --example speed [-- <chunks> <tokens>]`.

use std::collections::HashMap;
use std::time::Instant;

use owui_encoder::synthetic::{tensors, Numbers, Shape};
use owui_encoder::{Activation, Config, Encoder, Pooling, WeightSource};

/// Weights of the right shapes drawn on demand (values do not matter here).
struct Random(HashMap<String, Vec<usize>>, Numbers);

impl WeightSource for Random {
    fn get(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
        let shape = self.0.get(name).cloned().ok_or(name.to_string())?;
        let data = self.1.values(shape.iter().product(), 0.1, 0.0);
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
    let shape = Shape {
        vocab: 30522,
        positions: 512,
        hidden: h,
        intermediate: ff,
        layers: 6,
    };
    let shapes: HashMap<String, Vec<usize>> = tensors(shape)
        .into_iter()
        .map(|(name, dims, _)| (name, dims))
        .collect();
    let config = Config {
        hidden: h,
        heads: 12,
        intermediate: ff,
        max_positions: 256,
        eps: 1e-12,
        activation: Activation::GeluErf,
        pooling: Pooling::Mean,
    };
    let enc = Encoder::load(config, 6, &mut Random(shapes, Numbers(1)), int8).unwrap();
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
