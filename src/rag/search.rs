//! Exact vector search and the hybrid fusion.
//!
//! Vectors are unit length, so cosine similarity is a dot product. Each
//! collection's vectors sit in one contiguous matrix; scoring is a single pass
//! (split over two threads for large collections, AVX2/FMA when the CPU has
//! it) followed by a partial selection of the best rows.

use std::collections::HashMap;

use super::bm25::Bm25;
use super::store::Store;
use super::{Hit, SearchOpts};

/// Rows above which scoring is split over two threads.
const PARALLEL_ROWS: usize = 16_384;

/// Reciprocal-rank constant (the usual 60).
pub const RRF_K: f32 = 60.0;

#[inline]
fn dot_plain(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scores_avx2(rows: &[f32], dim: usize, q: &[f32], out: &mut [f32]) {
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_plain(row, q);
    }
}

fn scores_into(rows: &[f32], dim: usize, q: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected on this CPU.
            unsafe { scores_avx2(rows, dim, q, out) };
            return;
        }
    }
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_plain(row, q);
    }
}

/// Dot product of `q` with every row of `data` (row-major, `dim` columns).
pub fn all_scores(data: &[f32], dim: usize, q: &[f32]) -> Vec<f32> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let mut out = vec![0f32; n];
    if n == 0 {
        return out;
    }
    if n >= PARALLEL_ROWS {
        let half = n / 2;
        let (d1, d2) = data.split_at(half * dim);
        let (o1, o2) = out.split_at_mut(half);
        std::thread::scope(|s| {
            s.spawn(|| scores_into(d2, dim, q, o2));
            scores_into(d1, dim, q, o1);
        });
    } else {
        scores_into(data, dim, q, &mut out);
    }
    out
}

/// Indices of the `n` highest scores, best first.
pub fn top_n(scores: &[f32], n: usize) -> Vec<usize> {
    let n = n.min(scores.len());
    if n == 0 {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let cmp = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]);
    if n < idx.len() {
        idx.select_nth_unstable_by(n - 1, cmp);
        idx.truncate(n);
    }
    idx.sort_by(cmp);
    idx
}

/// Weighted reciprocal-rank fusion of two rankings (best first).
///
/// Each item gets `w / (RRF_K + rank_bm25) + (1 - w) / (RRF_K + rank_vector)`
/// with 1-based ranks, an absent item contributing nothing for that list.
/// `w` is clamped to 0..=1; at 0 only the vector list counts, at 1 only BM25
/// (as upstream, where the other retriever is then left out). Returns the
/// items ordered by fused score, ties broken by the vector rank.
pub fn fuse<K: Clone + Eq + std::hash::Hash>(
    vector: &[K],
    bm25: &[K],
    bm25_weight: f32,
) -> Vec<(K, f32)> {
    let w = bm25_weight.clamp(0.0, 1.0);
    let mut acc: HashMap<K, (f32, usize)> = HashMap::new();
    if w < 1.0 {
        for (i, k) in vector.iter().enumerate() {
            let e = acc.entry(k.clone()).or_insert((0.0, usize::MAX));
            e.0 += (1.0 - w) / (RRF_K + (i + 1) as f32);
            e.1 = e.1.min(i);
        }
    }
    if w > 0.0 {
        for (i, k) in bm25.iter().enumerate() {
            let e = acc.entry(k.clone()).or_insert((0.0, usize::MAX));
            e.0 += w / (RRF_K + (i + 1) as f32);
        }
    }
    let mut out: Vec<(K, f32, usize)> = acc.into_iter().map(|(k, (s, r))| (k, s, r)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    out.into_iter().map(|(k, s, _)| (k, s)).collect()
}

/// The whole search on a blocking thread; see [`super::Rag::search`].
pub(crate) fn run(
    store: &Store,
    bm25: &Bm25,
    collections: &[String],
    query: &str,
    qvec: &[f32],
    opts: &SearchOpts,
) -> anyhow::Result<Vec<Hit>> {
    // Bounded here too, whatever the caller passed: candidate lists and
    // tantivy's collector are sized from it.
    let k = opts.k.min(crate::limits::MAX_K);
    let n = if opts.hybrid { (4 * k).max(20) } else { k };

    // Vector candidates across collections: (cosine, collection index, seq).
    let mut matrices = Vec::with_capacity(collections.len());
    let mut vec_cands: Vec<(f32, usize, u64)> = Vec::new();
    for (ci, name) in collections.iter().enumerate() {
        let m = store.matrix(name)?;
        {
            let g = m.read().unwrap_or_else(|p| p.into_inner());
            if !g.is_empty() {
                anyhow::ensure!(
                    g.dim == qvec.len(),
                    "collection {name} holds {}-dimensional vectors but the embedding model gives {}: reindex it after changing the embedding model",
                    g.dim,
                    qvec.len()
                );
                let scores = all_scores(&g.data, g.dim, qvec);
                for i in top_n(&scores, n) {
                    vec_cands.push((scores[i], ci, g.seqs[i]));
                }
            }
        }
        matrices.push(m);
    }
    vec_cands.sort_by(|a, b| b.0.total_cmp(&a.0));
    vec_cands.truncate(n);

    // (collection index, seq) → cosine, final order.
    let ranked: Vec<((usize, u64), f32)> = if !opts.hybrid {
        vec_cands
            .iter()
            .take(k)
            .map(|&(s, ci, seq)| ((ci, seq), (1.0 + s) / 2.0))
            .collect()
    } else {
        let index_of: HashMap<&str, usize> = collections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let bm: Vec<(usize, u64)> = bm25
            .search(collections, query, n)?
            .into_iter()
            .filter_map(|(c, seq, _)| index_of.get(c.as_str()).map(|&i| (i, seq)))
            .collect();
        let vecs: Vec<(usize, u64)> = vec_cands.iter().map(|&(_, ci, seq)| (ci, seq)).collect();
        let cos: HashMap<(usize, u64), f32> = vec_cands
            .iter()
            .map(|&(s, ci, seq)| ((ci, seq), s))
            .collect();
        let mut out = Vec::new();
        for (key, _) in fuse(&vecs, &bm, opts.bm25_weight) {
            let c = match cos.get(&key) {
                Some(c) => *c,
                None => {
                    let g = matrices[key.0].read().unwrap_or_else(|p| p.into_inner());
                    match g.row_of(key.1) {
                        Some(row) => dot_plain(row, qvec),
                        None => continue,
                    }
                }
            };
            if opts.relevance_threshold > 0.0 && c < opts.relevance_threshold {
                continue;
            }
            out.push((key, c));
            if out.len() == k {
                break;
            }
        }
        out
    };

    // Fetch the chunk rows, grouped per collection, then restore the order.
    let mut by_coll: HashMap<usize, Vec<u64>> = HashMap::new();
    for ((ci, seq), _) in &ranked {
        by_coll.entry(*ci).or_default().push(*seq);
    }
    let mut rows: HashMap<(usize, u64), Hit> = HashMap::new();
    for (ci, seqs) in by_coll {
        for (seq, hit) in store.chunks(&collections[ci], &seqs)? {
            rows.insert((ci, seq), hit);
        }
    }
    Ok(ranked
        .into_iter()
        .filter_map(|(key, score)| {
            rows.remove(&key).map(|mut h| {
                h.score = score;
                h
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_naive_and_split() {
        let dim = 384;
        let n = PARALLEL_ROWS + 7;
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let q: Vec<f32> = (0..dim).map(|i| (i as f32 / dim as f32) - 0.3).collect();
        let s = all_scores(&data, dim, &q);
        for i in [0, 1, n / 2, n - 1] {
            let naive: f32 = data[i * dim..(i + 1) * dim]
                .iter()
                .zip(&q)
                .map(|(a, b)| a * b)
                .sum();
            assert!((s[i] - naive).abs() < 1e-3, "{} vs {}", s[i], naive);
        }
        let top = top_n(&s, 5);
        let mut sorted = s.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(
            top.iter().map(|&i| s[i]).collect::<Vec<_>>(),
            sorted[..5].to_vec()
        );
        assert!(top_n(&s, 0).is_empty());
        assert_eq!(top_n(&[1.0, 3.0], 10), vec![1, 0]);
    }

    #[test]
    fn fusion_weights() {
        let v = ["a", "b", "c"];
        let b = ["c", "d"];
        // Equal weights: "c" is in both lists and wins.
        let f = fuse(&v, &b, 0.5);
        assert_eq!(f[0].0, "c");
        assert_eq!(f.len(), 4);
        // BM25 weight 0: the vector order, BM25-only items left out.
        let f: Vec<&str> = fuse(&v, &b, 0.0).into_iter().map(|x| x.0).collect();
        assert_eq!(f, vec!["a", "b", "c"]);
        // BM25 weight 1: the BM25 order only.
        let f: Vec<&str> = fuse(&v, &b, 1.0).into_iter().map(|x| x.0).collect();
        assert_eq!(f, vec!["c", "d"]);
        // Scores follow the formula.
        let f = fuse(&v, &b, 0.25);
        let c = f.iter().find(|x| x.0 == "c").unwrap().1;
        let want = 0.75 / (RRF_K + 3.0) + 0.25 / (RRF_K + 1.0);
        assert!((c - want).abs() < 1e-7);
    }
}
