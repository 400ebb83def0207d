"""The model parts: encoders, processor, decoders, and the top-level HINR model."""
