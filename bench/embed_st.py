"""Python reference for bench/embed.sh: sentence-transformers on the same chunks.

Usage: python embed_st.py <model folder> <texts.jsonl>
Prints one JSON line: chunks/s, seconds and peak RSS.
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
print(json.dumps({
    "chunks": len(texts),
    "seconds": seconds,
    "chunks_per_s": len(texts) / seconds,
    "torch": torch.__version__,
    "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
