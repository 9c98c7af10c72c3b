"""Review: a person checks, corrects and teaches a finished run in a local web page.

``queues`` lists what to look at (flagged and least certain items, worst first) with its
evidence, ``store`` keeps the person's actions in an append-only ``review/corrections.jsonl``
inside the run (outputs are never edited in place), ``rerun`` starts a new run of the same
pipeline with the corrections applied (corrected pose frames become seed frames, relabelled
classify windows become examples and keep the person's label), and ``app`` serves it all on
127.0.0.1 (``ethoagent review RUN``).
"""
