"""sr_lib — the library behind the Super-Resolution Reproducibility Book.

Models (``sr_lib.models``), MATLAB-exact degradations (``sr_lib.degrade``), the Y-channel PSNR/SSIM protocol
(``sr_lib.metrics``), data sets (``sr_lib.data``), official-weight loaders (``sr_lib.hub``), training
(``sr_lib.train``) and the ``sr-lib`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"
