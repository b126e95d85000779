"""`python -m cnnfeat` is the `cnnfeat` command."""

from cnnfeat.entry import main

main()
