"""Training the utterance CNN in PyTorch (needs the `train` extra)."""
