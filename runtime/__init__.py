"""The engine and its I/O: the ONNX session, the batching encoder, the embed pipeline, and the
readers and writers every command shares. onnxruntime + tokenizers + numpy only: nothing here
may import torch, training, export or Ray."""
