"""The one error type for bad stack configuration."""

import pulumi


class ConfigError(pulumi.RunError):
    """Configuration problems, reported by Pulumi without a stack trace.

    Raised before any resource is declared, so a bad value never creates or changes anything.
    """

    def __init__(self, *problems: str):
        self.problems = list(problems)
        if len(problems) == 1:
            message = problems[0]
        else:
            listed = "\n".join(f"  - {p}" for p in problems)
            message = f"{len(problems)} problems in the stack configuration:\n{listed}"
        super().__init__(message)
