"""Image files: reading and writing them (``images``), what they hold beyond their pixels (colour
profile, EXIF and XMP: ``metadata``, ``xmp``; orientation; damage), how they were coded
(``coding``). Model files are in ``hinr.store``."""
