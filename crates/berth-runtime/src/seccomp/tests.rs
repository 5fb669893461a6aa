//! Unit tests: validation messages and the shape of the compiled program (no root needed).
