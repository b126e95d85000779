"""Cutting the trained network at its 100-d layer and exporting it to ONNX (`train` extra)."""
