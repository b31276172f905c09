"""User-facing errors: raised anywhere, printed by the CLI as one line on stderr with exit code 2."""


class UserError(Exception):
    """Bad input (a file, a flag, a config value) that the user can fix; the message is one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
