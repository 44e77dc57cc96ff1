"""HTML to main text with math kept as LaTeX: the main-text engine, math markup, MathML, language ID."""
