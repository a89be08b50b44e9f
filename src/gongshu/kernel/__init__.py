"""Kernel: errors, ids, clocks and the working-day calendar, money, database and unit of work,
events, audit trail, crypto, pagination. Everything else stands on it; it imports nothing above.
"""
