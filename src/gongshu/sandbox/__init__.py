"""The usable-but-invisible sandbox (原始数据不出域，数据可用不可见).

Queries run where the data is; only results that are safe to release leave. ``service.run_query``
is the one way in: the grant decides the views (``tables``), the ``guard`` decides the query, a
``worker`` process runs it under limits, suppression or ``dp`` noise decides what leaves, and
every query is recorded (``history``). ``shared_models`` lets a department share by model.
"""
