"""Decontamination against GSM8K, MATH, CMATH and AGIEval math (n-gram overlap)."""
