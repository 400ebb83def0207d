"""Files: checks on what an image file holds beyond its pixels (damage, orientation, metadata)."""
