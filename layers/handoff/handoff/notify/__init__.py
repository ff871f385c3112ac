"""Notify: tell the owning team what was done or what is waiting.

``message`` builds the Slack Block Kit message and the optional e-mail for one
outcome; it is pure (no I/O), so the notify Lambda only parses the event, calls
it and posts the result.
"""
