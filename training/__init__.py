"""Tokenisation to Megatron indexed datasets, the source mixture, and continued pre-training."""
