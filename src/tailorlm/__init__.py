"""tailorlm: measure prompt engineering vs fine-tuning on your own task, then serve the winner."""

from tailorlm.errors import TailorError
from tailorlm.hardware import bound_kernel_cache

bound_kernel_cache()

__version__ = "0.1.0"
__all__ = ["TailorError", "__version__"]
