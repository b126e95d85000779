"""`cnnfeat embed-dataset`: the runtime's encoder on Ray Data, for corpora beyond one machine
(the `ray` extra). Builds on runtime/; nothing else imports it."""
