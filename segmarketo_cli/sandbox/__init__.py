"""Local Marketo + Segment emulator used by the tests, `segmarketo sandbox serve` and `segmarketo demo`."""

from segmarketo_cli.sandbox.box import Sandbox
from segmarketo_cli.sandbox.config import SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
