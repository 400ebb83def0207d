"""Published results on the standard sets (luma PSNR in dB / SSIM, scale pixels shaved, MATLAB
bicubic LR), as each paper reports them, for ``hinr eval --benchmark`` to print beside ours.

Only figures checked against the papers' tables are listed; a missing (set, scale) prints as "—".
All of these models were trained on far more data than hinr's (91 images + BSD200 for SRCNN,
FSRCNN and VDSR; 291 images for LapSRN; DIV2K's 800 2K images for EDSR) and on GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    method: str
    source: str  # the paper the figures come from
    scores: dict[tuple[str, int], tuple[float, float]]  # (set, scale) → (PSNR, SSIM)


PUBLISHED: tuple[Published, ...] = (
    Published("bicubic (MATLAB)", "as tabulated by Kim et al., VDSR, CVPR 2016", {
        ("Set5", 2): (33.66, 0.9299), ("Set5", 3): (30.39, 0.8682), ("Set5", 4): (28.42, 0.8104),
        ("Set14", 2): (30.24, 0.8688), ("Set14", 3): (27.55, 0.7742), ("Set14", 4): (26.00, 0.7027)}),
    Published("SRCNN", "Dong et al., TPAMI 2016 (as tabulated in VDSR)", {
        ("Set5", 2): (36.66, 0.9542), ("Set5", 3): (32.75, 0.9090), ("Set5", 4): (30.48, 0.8628),
        ("Set14", 2): (32.42, 0.9063), ("Set14", 3): (29.28, 0.8209), ("Set14", 4): (27.49, 0.7503)}),
    Published("FSRCNN", "Dong et al., ECCV 2016 (as tabulated in LapSRN)", {
        ("Set5", 2): (37.00, 0.9558), ("Set5", 4): (30.71, 0.8657),
        ("Set14", 2): (32.63, 0.9088), ("Set14", 4): (27.59, 0.7535)}),
    Published("VDSR", "Kim et al., CVPR 2016", {
        ("Set5", 2): (37.53, 0.9587), ("Set5", 3): (33.66, 0.9213), ("Set5", 4): (31.35, 0.8838),
        ("Set14", 2): (33.03, 0.9124), ("Set14", 3): (29.77, 0.8314), ("Set14", 4): (28.01, 0.7674)}),
    Published("LapSRN", "Lai et al., CVPR 2017", {
        ("Set5", 2): (37.52, 0.9591), ("Set5", 4): (31.54, 0.8855),
        ("Set14", 2): (33.08, 0.9130), ("Set14", 4): (28.19, 0.7720)}),
    Published("EDSR-baseline", "Lim et al., CVPRW 2017", {
        ("Set5", 2): (37.99, 0.9604), ("Set5", 3): (34.37, 0.9270), ("Set5", 4): (32.09, 0.8938),
        ("Set14", 2): (33.57, 0.9175), ("Set14", 3): (30.28, 0.8417), ("Set14", 4): (28.58, 0.7813)}),
)
