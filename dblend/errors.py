"""Errors that name the thing that is wrong and what was expected, for users, not developers."""


class DblendError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback."""


class ConfigError(DblendError):
    """A configuration key is unknown, missing or of the wrong type or value."""


class DataFileError(DblendError):
    """An input file (volume, sinogram, DICOM series, checkpoint) is missing, corrupt or wrong."""


class DeviceError(DblendError):
    """The requested computation cannot run on this machine (for example CUDA is missing)."""


class OutputError(DblendError):
    """An output cannot be written: no permission, a file in the folder's place, a full disk."""
