"""Inference on images of any size: upscale_image, tiles, the self-ensemble, memory and output sizes."""
