"""The contract shared by training, export and runtime: the model spec, the model directory's
layout, the tokenizer's rules, the padding rule, the bounds, the typed errors and how messages
describe what they found. Imports nothing else of cnnfeat, and nothing heavier than
`tokenizers` and numpy."""

# The one declaration of the version: pyproject.toml reads it, `cnnfeat.__version__` re-exports it.
__version__ = "0.1.0"
