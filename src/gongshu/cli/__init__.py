"""Command-line adapter ``gongshu``: parse, call one service, print. No rules here."""
