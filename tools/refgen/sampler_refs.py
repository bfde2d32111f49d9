#!/usr/bin/env python3
"""References for the sampler's logits processors, made with transformers' own classes:
RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
TopPLogitsWarper, MinPLogitsWarper, applied in generate()'s order, then softmax.

    python3 tools/refgen/sampler_refs.py tests/fixtures/sampler/refs.json

Each case: logits (float32 values), context ids (repetition penalty), the settings, and the
resulting distribution (probabilities, 0 for filtered tokens)."""
import json
import sys

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper,
                                                    RepetitionPenaltyLogitsProcessor,
                                                    TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

rng = np.random.default_rng(7)
cases = []
settings = [
    dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.0),
    dict(temperature=0.7, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.0),
    dict(temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, repetition_penalty=1.0),
    dict(temperature=1.0, top_k=0, top_p=0.9, min_p=0.0, repetition_penalty=1.0),
    dict(temperature=1.0, top_k=0, top_p=0.5, min_p=0.0, repetition_penalty=1.0),
    dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.1, repetition_penalty=1.0),
    dict(temperature=0.8, top_k=20, top_p=0.95, min_p=0.05, repetition_penalty=1.0),
    dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.3),
    dict(temperature=0.6, top_k=10, top_p=0.8, min_p=0.0, repetition_penalty=1.1),
    dict(temperature=1.3, top_k=0, top_p=0.7, min_p=0.2, repetition_penalty=0.9),
]
for vocab in (7, 64, 1000):
    for st in settings:
        logits = (rng.normal(0, 3, vocab)).astype(np.float32)
        if vocab >= 64:
            logits[rng.integers(0, vocab, 3)] = logits.max()  # ties at the top
        ctx = sorted(set(int(i) for i in rng.integers(0, vocab, max(1, vocab // 5))))
        procs = LogitsProcessorList()
        if st["repetition_penalty"] != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(st["repetition_penalty"]))
        if st["temperature"] != 1.0:
            procs.append(TemperatureLogitsWarper(st["temperature"]))
        if st["top_k"] > 0:
            procs.append(TopKLogitsWarper(st["top_k"]))
        if st["top_p"] < 1.0:
            procs.append(TopPLogitsWarper(st["top_p"]))
        if st["min_p"] > 0:
            procs.append(MinPLogitsWarper(st["min_p"]))
        ids = torch.tensor([ctx], dtype=torch.long)
        scores = procs(ids, torch.from_numpy(logits.copy()).view(1, -1))
        probs = torch.softmax(scores, -1)[0]
        cases.append({"vocab": vocab, "settings": st, "context": ctx,
                      "logits": [float(x) for x in logits],
                      "probs": [float(x) for x in probs]})
json.dump({"transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "cases": cases}, open(sys.argv[1], "w"))
print(f"{len(cases)} cases", file=sys.stderr)
