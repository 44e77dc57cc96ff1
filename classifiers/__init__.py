"""fastText math classifier and the iterative recall loop (DeepSeekMath §2.1)."""
