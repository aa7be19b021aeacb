"""Python reference for bench/embed.sh: sentence-transformers on the same chunks.

Usage: python embed_st.py <model folder> <texts.jsonl> [<queries>]
Prints one JSON line: chunks/s, seconds, query latency (one query of 3-16
tokens at a time, words taken from the chunks) and peak RSS.
"""
import json
import resource
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
model_dir, texts_file = sys.argv[1], sys.argv[2]
with open(texts_file, encoding="utf-8") as f:
    texts = [json.loads(line) for line in f if line.strip()]
model = SentenceTransformer(model_dir, device="cpu")
model.encode(["warm up"])
start = time.perf_counter()
vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
seconds = time.perf_counter() - start
assert len(vectors) == len(texts)

count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
words = " ".join(texts).replace(".", " ").split()
queries, i = [], 0
while len(queries) < count:
    n = 1 + (i * 7919) % 14
    q = " ".join(words[(i * 131) % (len(words) - n):][:n])
    i += 1
    if len(model.tokenizer(q)["input_ids"]) <= 16:
        queries.append(q)
lat = []
for q in queries:
    t = time.perf_counter()
    model.encode([q], normalize_embeddings=True)
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print(json.dumps({
    "chunks": len(texts),
    "seconds": seconds,
    "chunks_per_s": len(texts) / seconds,
    "query_p50_ms": lat[len(lat) // 2],
    "query_p90_ms": lat[len(lat) * 9 // 10],
    "torch": torch.__version__,
    "torch_threads": torch.get_num_threads(),
    "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
