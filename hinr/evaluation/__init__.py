"""Evaluation: PSNR / SSIM on held-out images (``evaluate``, ``report``, ``metrics``), the grid
score of a render (``grid_score``) and the standard super-resolution tables (``standard_sets``,
``protocol``, ``published``, ``standard_sets_report``)."""
