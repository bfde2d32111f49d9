#!/usr/bin/env python3
"""Print the transformers API facts the refgen scripts rely on (names, signatures), so a failed
run on the GPU machine can be fixed in one more try. Informational only."""
import inspect
import transformers

names = ["PreTrainedTokenizerFast", "TokenizersBackend", "AutoTokenizer", "AutoImageProcessor",
         "AutoVideoProcessor", "Qwen2VLImageProcessor", "Qwen2VLImageProcessorFast", "Qwen2VLImageProcessorPil",
         "Qwen2VLVideoProcessor", "Qwen2_5_VLImageProcessor", "Qwen2VLProcessor", "Qwen2Config", "Qwen2ForCausalLM"]
for n in names:
    print(n, "->", getattr(transformers, n, None))
for n, attr in [("PreTrainedTokenizerBase", "apply_chat_template"), ("Qwen2VLImageProcessor", "__init__"),
                ("Qwen2VLVideoProcessor", "__init__")]:
    try:
        print(n + "." + attr, inspect.signature(getattr(getattr(transformers, n), attr)))
    except Exception as e:
        print(n + "." + attr, "ERROR", e)
