"""`python -m cnnfeat` is the `cnnfeat` command."""

from cnnfeat.runtime.cli import main

main()
