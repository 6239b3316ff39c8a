"""Local Marketo + Segment emulator used by the tests, `segmarketo sandbox serve` and `segmarketo demo`."""

from .box import Sandbox
from .config import SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
