"""`python -m cnnfeat` is the `cnnfeat` command."""

from cnnfeat.runtime.entry import main

main()
