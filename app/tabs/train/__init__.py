"""The Train tab (being split into form, assistants, start, layout and events)."""

from app.tabs.train.events import *  # noqa: F403 - temporary, until the split
