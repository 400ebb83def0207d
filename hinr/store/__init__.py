"""Model files: weights saved and loaded as self-describing safetensors (``checkpoint``), the
weights that ship with hinr and those on the Hugging Face Hub (``shipped``), latents files
(``latents``), and the average of several weights files (``average``)."""
