"""Leaf layers of hinr: small modules with keyword-only constructors (timm-style flat folder)."""

from .mamba import BiMamba, Mamba
from .scan import selective_scan, selective_scan_fast, selective_scan_ref

__all__ = ["BiMamba", "Mamba", "selective_scan", "selective_scan_fast", "selective_scan_ref"]
