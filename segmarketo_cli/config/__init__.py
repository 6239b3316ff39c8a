"""Configuration: scalar settings and typed profile sections, resolved from flags, environment and config.toml."""

from segmarketo_cli.config.defaults import (
    DEFAULT_PROFILE,
    DEFAULT_SEGMENT_ENDPOINT,
    LISTEN_SECRET_ENV,
    SECRET_ENV,
    SEGMENT_REGIONS,
    ScalarValue,
    environment_settings,
)
from segmarketo_cli.config.sections import (
    FieldsSection,
    MappingSection,
    ProfileSections,
    RulesSection,
    WritebackSection,
)
from segmarketo_cli.config.settings import (
    Settings,
    check_private_config,
    load_settings,
    normalize_segment_endpoint,
    read_config_file,
)

__all__ = [
    "DEFAULT_PROFILE", "DEFAULT_SEGMENT_ENDPOINT", "LISTEN_SECRET_ENV", "SECRET_ENV",
    "SEGMENT_REGIONS", "FieldsSection", "ScalarValue",
    "MappingSection", "ProfileSections", "RulesSection", "Settings", "WritebackSection", "check_private_config",
    "environment_settings", "load_settings", "normalize_segment_endpoint", "read_config_file",
]
