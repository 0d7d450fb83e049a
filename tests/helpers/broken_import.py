"""A user module whose own code raises when it is imported (the pre-flight tests name it as
``"tests.helpers.broken_import:load"``)."""

SETTINGS = {"path": "data.csv"}
DATA_PATH = SETTINGS["dir"]  # a typo: raises KeyError at import


def load() -> None:  # never reached
    return None
