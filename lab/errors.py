"""The lab's one exception type: wrong input, worded for the person who typed it."""


class LabError(ValueError):
    """Wrong user input. The message is one sentence naming the field, the value and what is accepted."""
