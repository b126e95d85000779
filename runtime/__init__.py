"""cnnfeat's runtime: onnxruntime + tokenizers only. Nothing here may import torch."""
