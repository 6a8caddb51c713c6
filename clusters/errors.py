"""Errors that end a command with one clear paragraph and a distinct exit code."""

from __future__ import annotations


class ClustersError(Exception):
    """Base: the message is shown as is, never with a traceback."""

    exit_code = 1


class InputError(ClustersError):
    """Bad input: unknown profile/version, bad flag, unreadable file."""

    exit_code = 2


class RefusedError(ClustersError):
    """A safety rule said no: non-kind context, configuration changed, cluster not ours."""

    exit_code = 3


class NotReadyError(ClustersError):
    """A readiness wait ran out of time; the message lists what is not ready."""

    exit_code = 4


class ToolError(ClustersError):
    """A required tool is missing, too old, or could not be downloaded and verified."""

    exit_code = 5


class CommandFailed(ClustersError):
    """An external command (docker, kind, helm, kubectl, cilium) failed."""

    exit_code = 6


class Interrupted(ClustersError):
    """Ctrl-C: cleanup already ran."""

    exit_code = 130
