"""Bad policy input: every problem names its file, document and field path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one document. `document` counts from 1, like a reader would."""

    file: str
    document: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: document {self.document}" if self.document else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(ValueError):
    """Policies that cannot be loaded (bad YAML, unknown kind, a field the API server rejects)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
