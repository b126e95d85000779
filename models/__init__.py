"""The shipped default model(s), installed as package data."""
